package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmgate/llmgate/middleware"
)

// Decode validates the request once and hands the handler both the parsed
// request (in the Call) and the body exactly as sent, unknown members
// included. A bad parameter is refused with an OpenAI error envelope that
// names it.
func ExampleDecode() {
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := middleware.CallFrom(r.Context())
		fmt.Printf("%s model=%s messages=%d stream=%v raw=%s\n",
			c.Endpoint, c.Model, len(c.Chat.Messages), c.Stream, c.Raw)
	})
	h := middleware.Decode(middleware.DecodeConfig{})(upstream)

	send := func(body string) {
		req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			fmt.Print(rec.Code, " ", rec.Body)
		}
	}
	send(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"top_k":40}`)
	send(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"temperature":"hot"}`)
	send(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"},{"role":"robot","content":"beep"}]}`)
	// Output:
	// /v1/chat/completions model=gpt-4o-mini messages=1 stream=false raw={"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"top_k":40}
	// 400 {"error":{"message":"Invalid type for 'temperature': expected a decimal, but got a string instead.","type":"invalid_request_error","param":"temperature","code":"invalid_type"}}
	// 400 {"error":{"message":"Invalid value for 'messages[1].role': 'robot'. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool' and 'function'.","type":"invalid_request_error","param":"messages[1].role","code":"invalid_value"}}
}
