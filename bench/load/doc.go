// Package load is llmgate's loopback load generator and the two fixed
// points it is measured against: an upstream stub that answers every chat
// completion the same way, as cheaply as possible, and a bare
// httputil.ReverseProxy, the physical floor of any Go proxy.
//
//	stub := httptest.NewServer(load.Stub(load.StubConfig{}))
//	res, err := load.Run(ctx, load.Config{URL: stub.URL + "/v1/chat/completions",
//		Concurrency: 32, Requests: 10000})
//	fmt.Println(res.Latency.Quantile(0.5), res.RPS())
//
// Run sends OpenAI chat completion requests (non-streamed or streamed)
// over keep-alive connections at a fixed concurrency, bounded by a request
// count and a duration, and records each request's latency (and time to the
// first streamed byte) in a Histogram with sub-microsecond resolution.
// The commands under bench/cmd wrap these for bench/run.sh.
package load
