package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"

	"github.com/llmgate/llmgate/wire"
)

// RecoverConfig configures Recover. The zero value is ready to use.
type RecoverConfig struct {
	// Logger receives one error record per panic with the request id, the
	// panic value and the stack. Default: slog.Default().
	Logger *slog.Logger
}

// Recover turns a panic in a later layer or the handler into a 500
// server_error envelope, logged with the request id. The envelope says
// nothing about the cause. When the response had already started (a stream
// was flowing), the connection is aborted instead, as net/http does for
// http.ErrAbortHandler, so the client sees a broken response rather than a
// silently truncated one. A panic with http.ErrAbortHandler is passed on
// untouched.
//
// Place it inside RequestID so that its log line and envelope carry the id.
func Recover(cfg RecoverConfig) Middleware {
	log := cfg.Logger
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rw := &startedWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				id := RequestIDFrom(r.Context())
				l := log
				if l == nil {
					l = slog.Default()
				}
				l.ErrorContext(r.Context(), "middleware: handler panic",
					slog.String("request_id", id),
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.String("panic", fmt.Sprint(v)),
					slog.String("stack", string(debug.Stack())))
				if rw.started {
					panic(http.ErrAbortHandler)
				}
				wire.WriteError(w, wire.ServerError(id))
			}()
			next.ServeHTTP(rw, r)
		})
	}
}

// startedWriter records whether the response has started.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.started = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *startedWriter) Write(p []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(p)
}

// Flush flushes the underlying writer when it supports flushing.
func (w *startedWriter) Flush() {
	w.started = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.NewResponseController reach the underlying writer.
func (w *startedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
