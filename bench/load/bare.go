package load

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// Bare returns the physical floor of a Go reverse proxy: an
// httputil.ReverseProxy to upstream (scheme and host; the request's path is
// kept) with nothing else in front, flushing streams at once, over a
// Transport tuned as examples/proxy tunes its own (256 idle connections to
// the upstream). It is what the issue calls "a bare reverse proxy".
//
// Like examples/proxy it enables full duplex on each request: without it
// net/http closes the request body once the response starts, which races
// the Transport still finishing the request upstream, and about one fast
// stream in a hundred ends cut short.
func Bare(upstream *url.URL) http.Handler {
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.SetXForwarded()
		},
		Transport: transport,
		// FlushInterval 0, the default: streams are flushed per write by
		// ReverseProxy itself, as in examples/proxy.
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	})
}
