package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/middleware"
)

func ExampleNewCache() {
	c, err := middleware.NewCache(middleware.CacheConfig{Scope: cache.ScopeGlobal}) // no Auth here: share globally
	if err != nil {
		panic(err)
	}
	defer c.Close()
	calls := 0
	upstream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini",`+
			`"choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}`)
	})
	h := middleware.Chain(middleware.Decode(middleware.DecodeConfig{}), c.Handler)(upstream)
	for range 2 {
		req := httptest.NewRequest("POST", "/v1/chat/completions",
			strings.NewReader(`{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"Hello"}]}`))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("x-cache"), "age:"+rec.Header().Get("age"))
	}
	fmt.Println("upstream calls:", calls)
	// Output:
	// 200 MISS age:
	// 200 HIT age:0
	// upstream calls: 1
}
