package middleware_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/wire"
)

func ExampleNewModerate() {
	m, err := middleware.NewModerate(middleware.ModerateConfig{Redact: []string{"pii/*"}})
	if err != nil {
		panic(err)
	}
	// The upstream echoes the last message it received.
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req wire.ChatCompletionRequest
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(wire.ChatCompletion{Object: wire.ObjectChatCompletion, Choices: []wire.ChatChoice{{
			Message: req.Messages[len(req.Messages)-1], FinishReason: wire.FinishStop}}})
	})
	h := middleware.Chain(middleware.Decode(middleware.DecodeConfig{}), middleware.Count(middleware.CountConfig{}), m.Wrap)(upstream)

	for _, msg := range []string{"Write to bob@example.com, please.", "I'm going to kill you."} {
		body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + msg + `"}]}`
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body)))
		if e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes()); ok {
			fmt.Println(rec.Code, e.Code+":", e.Message)
			continue
		}
		var resp wire.ChatCompletion
		_ = json.Unmarshal(rec.Body.Bytes(), &resp)
		fmt.Println(rec.Code, resp.Choices[0].Message.Content.String())
	}
	// Output:
	// 200 Write to [REDACTED:pii/email], please.
	// 400 content_policy_violation: Your request was rejected by the content filter. Flagged categories: harassment, harassment/threatening, violence (in messages[0]).
}
