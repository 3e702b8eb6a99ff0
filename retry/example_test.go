package retry_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/llmgate/llmgate/retry"
)

func Example() {
	// An upstream that is rate limited once, then answers.
	var calls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("retry-after-ms", "10")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, "hello")
	}))
	defer upstream.Close()

	client := &http.Client{Transport: retry.New(retry.Config{
		Base:           upstream.Client().Transport,
		MaxAttempts:    3,
		AttemptTimeout: 5 * time.Second,
	})}
	resp, err := client.Post(upstream.URL, "application/json", nil)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body), calls.Load(), "calls")
	// Output: 200 hello 2 calls
}
