package load_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/url"

	"github.com/llmgate/llmgate/bench/load"
)

// Run measures a server: here the bare reverse proxy in front of the stub,
// both in-process. Latencies vary from run to run, so the example prints
// only what does not.
func ExampleRun() {
	stub := httptest.NewServer(load.Stub(load.StubConfig{}))
	defer stub.Close()
	u, _ := url.Parse(stub.URL)
	bare := httptest.NewServer(load.Bare(u))
	defer bare.Close()

	res, err := load.Run(context.Background(), load.Config{
		URL:         bare.URL + "/v1/chat/completions",
		Concurrency: 2,
		Requests:    50,
		Stream:      true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("answered:", res.Requests, "errors:", res.Errors)
	fmt.Println("latencies:", res.Latency.Count(), "first bytes:", res.FirstByte.Count())
	fmt.Println("p50 > 0:", res.Latency.Quantile(0.5) > 0)
	// Output:
	// answered: 50 errors: 0
	// latencies: 50 first bytes: 50
	// p50 > 0: true
}
