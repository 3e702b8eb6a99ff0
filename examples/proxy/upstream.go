package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/llmtest"
	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/retry"
	"github.com/llmgate/llmgate/wire"
)

// newUpstream returns the handler that serves a request after the chain:
// the built-in llmtest model, or a reverse proxy to the configured URL
// with retries.
func newUpstream(cfg Upstream) (http.Handler, error) {
	if cfg.URL == "builtin" {
		return llmtest.Handler(llmtest.Config{}), nil
	}
	base, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	apiKey := ""
	if cfg.APIKeyEnv != "" {
		apiKey = os.Getenv(cfg.APIKeyEnv)
	}
	transport := &http.Transport{
		Proxy:                 nil, // loopback and private upstreams: never through an environment proxy
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	basePath, bearer := strings.TrimSuffix(base.Path, "/"), "Bearer "+apiKey
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// The client's path is /v1/...; the upstream URL already ends in
			// its own API root (…/v1), so the client's /v1 is replaced by it
			// (a path kept as it is when that root is /v1 too).
			pr.Out.URL.Scheme = base.Scheme
			pr.Out.URL.Host = base.Host
			if in := pr.In.URL.Path; basePath != "/v1" || !strings.HasPrefix(in, "/v1") {
				pr.Out.URL.Path = basePath + strings.TrimPrefix(in, "/v1")
			}
			pr.Out.URL.RawPath = ""
			pr.Out.Host = base.Host
			pr.SetXForwarded()
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Api-Key")
			if apiKey != "" {
				pr.Out.Header.Set("Authorization", bearer)
			}
		},
		Transport: retry.New(retry.Config{
			Base:           transport,
			MaxAttempts:    *cfg.Retries + 1,
			AttemptTimeout: time.Duration(cfg.Timeout),
		}),
		ModifyResponse: func(resp *http.Response) error {
			if err := envelopeErrors(resp); err != nil {
				return err
			}
			return delimitJSON(resp)
		},
		BufferPool: copyBuffers{},
		// FlushInterval 0: ReverseProxy itself flushes every write of a
		// text/event-stream or unknown-length answer, and copies a JSON body
		// of known length without a flush per write (50–68k instructions
		// less per non-streamed request than -1, BenchmarkGateway).
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status, msg := http.StatusBadGateway, "The upstream model server could not be reached."
			switch {
			case errors.Is(err, retry.ErrAttemptTimeout) || errors.Is(err, context.DeadlineExceeded):
				status, msg = http.StatusGatewayTimeout, "The upstream model server did not answer in time."
			case errors.Is(err, errAnswerCut):
				msg = "The upstream model server broke off its answer."
			case errors.Is(err, errNotJSON):
				msg = "The upstream model server answered 200 with a body that is not JSON."
			}
			if r.Context().Err() != nil {
				return // the client went away; nobody reads an answer
			}
			wire.WriteError(w, wire.Errorf(status, wire.TypeServer, wire.CodeUpstreamError, "", "%s", msg))
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Without full duplex, net/http closes the unread request body once
		// the response starts, racing the transport that is still sending
		// it upstream; a few percent of fast streams then end truncated.
		_ = http.NewResponseController(w).EnableFullDuplex()
		rp.ServeHTTP(w, r)
	}), nil
}

// envelopeErrors makes every upstream error an OpenAI envelope: an error
// response whose body is not one (an HTML page from a load balancer, a
// plain-text "Internal Server Error") is replaced by an envelope with the
// same status, so clients never see a bare body.
func envelopeErrors(resp *http.Response) error {
	if resp.StatusCode < 400 {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return err
	}
	if _, ok := wire.DecodeError(resp.StatusCode, body); !ok {
		typ, code := wire.TypeInvalidRequest, ""
		if resp.StatusCode >= 500 {
			typ, code = wire.TypeServer, wire.CodeUpstreamError
		}
		body = wire.MarshalEnvelope(wire.Errorf(resp.StatusCode, typ, code, "",
			"The upstream model server answered %d %s.", resp.StatusCode, http.StatusText(resp.StatusCode)))
		resp.Header.Set("Content-Type", "application/json")
		resp.Header.Del("Content-Encoding")
	}
	setBody(resp, body)
	return nil
}

// setBody makes body, read whole, resp's body, of known length.
func setBody(resp *http.Response, body []byte) {
	resp.Body = newWholeBody(body)
	resp.ContentLength = int64(len(body))
	resp.TransferEncoding = nil
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// errAnswerCut is delimitJSON's error when the upstream's answer breaks
// off before its end.
var errAnswerCut = errors.New("the upstream's answer broke off")

// errNotJSON is delimitJSON's error when the upstream answers 200 to a
// JSON endpoint with a body that is not JSON (and not a stream).
var errNotJSON = errors.New("the upstream's answer is not JSON")

// maxDelimitedBody bounds the answer that delimitJSON reads whole.
const maxDelimitedBody = 8 << 20

// delimitJSON reads a JSON answer of up to maxDelimitedBody whole before
// anything of it is sent, so that an answer that breaks off (short of its
// Content-Length, or a chunked one cut before its end) is a 502 envelope
// (errAnswerCut) rather than a response cut off midway — or an empty reply,
// when a layer buffers the body. An answer sent without a length (chunked,
// as Ollama does once an answer passes 2 KiB) gets one: ReverseProxy then
// copies it without a flush per write, and the client can tell the answer
// is complete as soon as it has it: the chain sends it before its
// end-of-request work (the limiter's and the ledger's settles, the cache's
// store: a Redis round trip each), where a chunked answer would end only
// when all of that is done. A client gains nothing from the first bytes of
// a JSON body before its last.
//
// A 200 to a JSON endpoint (chat/completions, completions, embeddings,
// moderations) that is not a stream is read so whatever its Content-Type,
// and must be valid JSON (validJSON; errNotJSON otherwise): an HTML page from a load
// balancer is a 502 envelope, never a 200. A compressed answer is not
// checked.
//
// Streams (text/event-stream, NDJSON) and answers of more than
// maxDelimitedBody pass as they come, unchecked.
func delimitJSON(resp *http.Response) error {
	if resp.StatusCode >= 400 || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified ||
		resp.Request != nil && resp.Request.Method == http.MethodHead {
		return nil // envelopeErrors has read an error's body already
	}
	mt := mediaType(resp.Header.Get("Content-Type"))
	if strings.EqualFold(mt, "text/event-stream") || strings.EqualFold(mt, "application/x-ndjson") {
		return nil
	}
	check := resp.StatusCode == http.StatusOK && jsonEndpoint(resp.Request) && identityEncoded(resp.Header) &&
		!streamRequested(resp.Request) // a stream labelled text/html (Flask's default) still streams
	if !check && !strings.EqualFold(mt, "application/json") || resp.ContentLength > maxDelimitedBody {
		return nil
	}
	var body []byte
	if resp.ContentLength >= 0 {
		body = make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			_ = resp.Body.Close()
			return fmt.Errorf("%w: %w", errAnswerCut, err)
		}
	} else {
		var err error
		if body, err = io.ReadAll(io.LimitReader(resp.Body, maxDelimitedBody+1)); err != nil {
			_ = resp.Body.Close()
			return fmt.Errorf("%w: %w", errAnswerCut, err)
		}
		if len(body) > maxDelimitedBody {
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			return nil
		}
	}
	_ = resp.Body.Close()
	if check && !validJSON(body) {
		return errNotJSON
	}
	if resp.ContentLength >= 0 {
		resp.Body = newWholeBody(body) // its length is in the header already
		return nil
	}
	setBody(resp, body)
	return nil
}

// wholeBody is a body read whole (one allocation where io.NopCloser of a
// bytes.Reader takes two): closing it is a no-op.
type wholeBody struct{ bytes.Reader }

func newWholeBody(b []byte) *wholeBody {
	w := new(wholeBody)
	w.Reset(b)
	return w
}

func (*wholeBody) Close() error { return nil }

// validJSON is json.Valid(b) without its scanner's step function per
// byte: jsonscan.Skip accepts what json.Valid accepts, at a fraction of
// the instructions (BenchmarkGateway).
func validJSON(b []byte) bool {
	end, err := jsonscan.Skip(b, 0)
	return err == nil && jsonscan.SkipWS(b, end) == len(b)
}

// jsonEndpoint reports whether req (the request upstream) is to an
// endpoint whose non-streamed answer is JSON.
func jsonEndpoint(req *http.Request) bool {
	if req == nil {
		return false
	}
	p := req.URL.Path
	return strings.HasSuffix(p, "/completions") || strings.HasSuffix(p, "/embeddings") || strings.HasSuffix(p, "/moderations")
}

// streamRequested reports whether the client asked for a stream: its
// answer passes as it comes whatever its Content-Type says.
func streamRequested(req *http.Request) bool {
	if req == nil {
		return false
	}
	c := middleware.CallFrom(req.Context())
	return c != nil && c.Stream
}

// mediaType is a Content-Type's media type ("text/html" of "text/html;
// charset=utf-8"), without mime.ParseMediaType's allocations; compare it
// with strings.EqualFold.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.TrimSpace(ct)
}

// identityEncoded reports whether the body is sent as it is (no
// Content-Encoding, or identity): only then can delimitJSON check it.
func identityEncoded(h http.Header) bool {
	ce := h.Get("Content-Encoding")
	return ce == "" || strings.EqualFold(ce, "identity")
}

// copyBuffers lends ReverseProxy its 32 KiB copy buffers from a pool
// instead of allocating (and zeroing) one per request.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (copyBuffers) Get() []byte  { return copyBufferPool.Get().(*[32 << 10]byte)[:] }
func (copyBuffers) Put(b []byte) { copyBufferPool.Put((*[32 << 10]byte)(b)) }
