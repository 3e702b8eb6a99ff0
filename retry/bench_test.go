package retry

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// noopTransport answers every request at once with the same 200 response,
// without reading the request: the floor under which no RoundTripper that
// wraps it can go.
type noopTransport struct{ resp http.Response }

func (t *noopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp := t.resp // a copy: the transport may wrap the body
	return &resp, nil
}

// nopBody is a response or request body that reads nothing and closes
// without cost, so that the benchmark measures the transport, not bodies.
type nopBody struct{ bytes.Reader }

func (*nopBody) Close() error { return nil }

// BenchmarkRoundTrip prices one successful first attempt through a
// Transport over a no-op RoundTripper, next to the no-op RoundTripper
// alone ("noop", the baseline of the same run):
//
//	go test -run '^$' -bench RoundTrip -benchmem -count 5 ./retry
//
// The request is a server-side POST as examples/proxy forwards it: a
// cancellable context, eight headers and a 1 KiB body, with GetBody
// ("getbody", as after middleware.Decode) or without ("nogetbody", which
// the transport must buffer to replay). "attempts1" is retries off,
// "timeout" an AttemptTimeout of a minute as examples/proxy sets one. (No
// "/" in the names: -bench patterns split on it.)
func BenchmarkRoundTrip(b *testing.B) {
	payload := []byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 1000) + `"}]}`)
	base := &noopTransport{resp: http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: &nopBody{}, ContentLength: 0,
	}}
	for _, tc := range []struct {
		name     string
		rt       http.RoundTripper
		noGetBdy bool
	}{
		{"noop", base, false},
		{"attempts1", New(Config{Base: base, MaxAttempts: 1}), false},
		{"attempts1-timeout", New(Config{Base: base, MaxAttempts: 1, AttemptTimeout: time.Minute}), false},
		{"attempts3-timeout-getbody", New(Config{Base: base, MaxAttempts: 3, AttemptTimeout: time.Minute}), false},
		{"attempts3-timeout-nogetbody", New(Config{Base: base, MaxAttempts: 3, AttemptTimeout: time.Minute}), true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			body := &nopBody{}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://upstream.invalid/v1/chat/completions", body)
			if err != nil {
				b.Fatal(err)
			}
			req.ContentLength = int64(len(payload))
			for _, h := range []string{"Content-Type", "Accept", "User-Agent", "X-Request-Id", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Authorization"} {
				req.Header.Set(h, "value")
			}
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
			if tc.noGetBdy {
				req.GetBody = nil
			}
			b.ReportAllocs()
			for range b.N {
				body.Reset(payload)
				resp, err := tc.rt.RoundTrip(req)
				if err != nil || resp.StatusCode != 200 {
					b.Fatal(resp, err)
				}
				_ = resp.Body.Close()
			}
		})
	}
}
