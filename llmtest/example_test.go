package llmtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmgate/llmgate/llmtest"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// A test talks to llmtest with the official client, as it would to
// OpenAI. Temperature 0 (or a seed) makes the answer reproducible.
func ExampleNewServer() {
	srv := llmtest.NewServer(llmtest.Config{})
	defer srv.Close()
	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("test"),
		option.WithUnsafeAllowHTTP(), option.WithHTTPClient(srv.Client()))

	resp, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:               "gpt-4o-mini", // any name is served and echoed back
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello!")},
		Temperature:         openai.Float(0),
		MaxCompletionTokens: openai.Int(8),
	})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q\n", resp.Choices[0].Message.Content)
	fmt.Println(resp.Choices[0].FinishReason, resp.Usage.PromptTokens, resp.Usage.CompletionTokens)
	// Output:
	// " I am doing well, and the sky"
	// length 9 8
}

// Faults are injected per request with a header (or for every request
// with Config.Fault): here the first two requests fail with 503, as a
// retry test needs.
func ExampleParseFault() {
	h := llmtest.Handler(llmtest.Config{})
	body := `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"max_tokens":3}`
	for range 3 {
		r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		r.Header.Set(llmtest.FaultHeader, "status=503,retry_after=1,times=2")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Printf("%d retry-after=%q\n", w.Code, w.Header().Get("Retry-After"))
	}
	f, _ := llmtest.ParseFault("latency=50ms,ttft=20ms,per_token=1ms,cut_after=5")
	fmt.Println(f.Latency, f.TTFT, f.PerToken, f.CutAfter)
	// Output:
	// 503 retry-after="1"
	// 503 retry-after="1"
	// 200 retry-after=""
	// 50ms 20ms 1ms 5
}

// With tools and tool_choice "required" (or a user message that names the
// tool), the model calls it with arguments generated from its schema.
func ExampleHandler_tools() {
	h := llmtest.Handler(llmtest.Config{})
	body := `{"model":"llmtest-1","seed":1,
	  "messages":[{"role":"user","content":"What is the weather in Oslo? Use get_weather."}],
	  "tools":[{"type":"function","function":{"name":"get_weather","parameters":{
	    "type":"object","required":["city","unit"],
	    "properties":{"city":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}}}}}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `"finish_reason":"tool_calls"`),
		strings.Contains(w.Body.String(), `"name":"get_weather"`))
	// Output:
	// 200 true true
}
