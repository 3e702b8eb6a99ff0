// Command bare is the floor the gateway is compared with: an
// httputil.ReverseProxy with nothing in front of it (see load.Bare).
//
//	bare -listen 127.0.0.1:8392 -upstream http://127.0.0.1:8391
package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/llmgate/llmgate/bench/load"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8392", "address to listen on (loopback)")
	upstream := flag.String("upstream", "http://127.0.0.1:8391", "upstream scheme and host")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil || u.Host == "" {
		fmt.Fprintln(os.Stderr, "bare: bad -upstream", *upstream)
		os.Exit(2)
	}
	srv := &http.Server{Addr: *listen, Handler: load.Bare(u), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "bare:", err)
		os.Exit(1)
	}
}
