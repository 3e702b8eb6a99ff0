package middleware

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

func TestRecover(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	h := Chain(RequestID, Recover(RecoverConfig{Logger: logger}))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal detail")
	}))
	req := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	req.Header.Set("X-Request-Id", "req-abc")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
	if !ok || e.Type != wire.TypeServer || strings.Contains(e.Message, "secret") || !strings.Contains(e.Message, "req-abc") {
		t.Errorf("envelope %s", rec.Body)
	}
	if rec.Header().Get("X-Request-Id") != "req-abc" {
		t.Error("x-request-id missing on 500")
	}
	if !strings.Contains(logs.String(), "request_id=req-abc") || !strings.Contains(logs.String(), "secret internal detail") {
		t.Errorf("log lacks id or panic: %s", logs.String())
	}
}

// A panic after the response started aborts the connection: the client
// sees an error, not a truncated body that looks complete.
func TestRecoverAfterStart(t *testing.T) {
	h := Recover(RecoverConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {}\n\n")
		_ = http.NewResponseController(w).Flush()
		panic("mid-stream")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Error("client read the aborted stream without error")
	}
}

func TestRecoverPassesAbortHandler(t *testing.T) {
	h := Recover(RecoverConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v", v)
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}

func TestRequestID(t *testing.T) {
	var fromCtx string
	h := RequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fromCtx = RequestIDFrom(r.Context())
	}))
	for _, tc := range []struct {
		sent string
		keep bool
	}{
		{"abc-123_x.y:z", true},
		{"", false},
		{"has space", false},
		{strings.Repeat("a", 129), false},
		{"<script>", false},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-Id", tc.sent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		got := rec.Header().Get("X-Request-Id")
		if got != fromCtx {
			t.Errorf("header %q != context %q", got, fromCtx)
		}
		if tc.keep && got != tc.sent {
			t.Errorf("sent %q, got %q", tc.sent, got)
		}
		if !tc.keep && (got == tc.sent || !strings.HasPrefix(got, "req_") || len(got) != 28) {
			t.Errorf("sent %q, got %q", tc.sent, got)
		}
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := Chain(mw("a"), nil, mw("b"), mw("c"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		order = append(order, "h")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if strings.Join(order, ",") != "a,b,c,h" {
		t.Errorf("order %v", order)
	}
}
