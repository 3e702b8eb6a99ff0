package middleware_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/llmgate/llmgate/middleware"
)

// A layer of your own settles its bookkeeping when the response ends. Its
// OnEnd reads what it needs from the Call and the Response, then hands the
// slow part (a round trip to a remote ledger, say) to Call.Go: the client
// already has its answer, the work runs beside the other layers' settles,
// and the handler returns once all of it is done.
func ExampleCall_Go() {
	ledger := make(chan string, 1) // stands for a remote ledger
	audit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := middleware.CallFrom(r.Context())
			c.Observe(middleware.Observer{OnEnd: func(res *middleware.Response) {
				line := fmt.Sprintf("%s %s %d", c.RequestID, c.Model, res.Status)
				c.Go(func() { ledger <- line })
			}})
			next.ServeHTTP(w, r)
		})
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","choices":[]}`)
	})
	h := middleware.Chain(middleware.RequestID, middleware.Decode(middleware.DecodeConfig{}), audit)(upstream)

	req := httptest.NewRequest("POST", "/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}]}`))
	req.Header.Set("X-Request-Id", "req-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	fmt.Println(<-ledger) // done by the time ServeHTTP returned
	// Output: req-1 gpt-4o-mini 200
}
