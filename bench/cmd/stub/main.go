// Command stub is the upstream of the benchmark: a minimal
// OpenAI-compatible server answering every POST with the same chat
// completion, or the same SSE stream (see load.Stub).
//
//	stub -listen 127.0.0.1:8391 -chunks 16
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/llmgate/llmgate/bench/load"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8391", "address to listen on (loopback)")
	var cfg load.StubConfig
	flag.IntVar(&cfg.Chunks, "chunks", 16, "content chunks per streamed answer")
	flag.DurationVar(&cfg.Interval, "interval", 0, "pause between streamed chunks (0: none)")
	flag.BoolVar(&cfg.Chunked, "chunked", false, "send the JSON answer chunked, without a Content-Length")
	flag.Parse()
	srv := &http.Server{Addr: *listen, Handler: load.Stub(cfg), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "stub:", err)
		os.Exit(1)
	}
}
