package main

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/moderation"
)

// metrics are the proxy's Prometheus series, on a registry of their own.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	cost        *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	aborted     *prometheus.CounterVec
	cache       *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	ttft        *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmgate_requests_total", Help: "Requests by endpoint, status, model and key id.",
		}, []string{"endpoint", "status", "model", "key"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmgate_tokens_total", Help: "Tokens by direction (prompt, completion), model and key id.",
		}, []string{"direction", "model", "key"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmgate_cost_usd_total", Help: "Settled cost in US dollars by model and key id.",
		}, []string{"model", "key"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmgate_rate_limited_total", Help: "Requests refused with 429: rate_limit or insufficient_quota.",
		}, []string{"kind"}),
		aborted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmgate_requests_aborted_total", Help: "Requests whose response did not reach the client whole: the client went away or the upstream broke off.",
		}, []string{"endpoint"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "llmgate_cache_total", Help: "Cache outcomes (HIT, MISS, BYPASS).",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "llmgate_request_duration_seconds", Help: "Time from request to the end of the response.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"endpoint"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "llmgate_time_to_first_token_seconds", Help: "Time from request to the first byte of a streamed response.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"model"}),
	}
	m.registry.MustRegister(m.requests, m.tokens, m.cost, m.rateLimited, m.aborted, m.cache, m.latency, m.ttft,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is the outermost layer after RequestID: it creates the request's
// Call, so that it can read what every later layer put there, and writes
// one log line and the metrics when the response has ended — also when it
// was aborted: a handler that panicked (httputil.ReverseProxy panics with
// http.ErrAbortHandler when the client goes away mid-answer or the
// upstream breaks off), a write to the client that failed, or a client
// that went away before anything was sent. Such a line says
// outcome=aborted; the panic then goes on to net/http.
func observe(log *slog.Logger, m *metrics, logPrompts bool) middleware.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			c := &middleware.Call{RequestID: middleware.RequestIDFrom(r.Context())}
			rw := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
			defer func() {
				v := recover()
				record(log, m, logPrompts, r, c, rw, start, v != nil)
				if v != nil {
					panic(v)
				}
			}()
			next.ServeHTTP(rw, r.WithContext(middleware.WithCall(r.Context(), c)))
		})
	}
}

// Outcomes of a request, as its log line's outcome says.
const (
	outcomeOK      = "ok"
	outcomeAborted = "aborted" // the response did not reach the client whole
)

// statusClientGone is the status logged for a request whose client went
// away before any response was sent (nginx's 499, "client closed request").
const statusClientGone = 499

// record writes the log line and the metrics of a request that has ended;
// panicked says the handler panicked.
func record(log *slog.Logger, m *metrics, logPrompts bool, r *http.Request, c *middleware.Call, rw *recordingWriter,
	start time.Time, panicked bool) {
	// The latency is the client's: to when the whole response was
	// sent, which may be before the end-of-request work was done.
	elapsed := rw.sent(time.Now()).Sub(start)

	status, outcome := rw.status, outcomeOK
	switch {
	case panicked || rw.failed:
		outcome = outcomeAborted
		if !rw.wroteHeader {
			status = http.StatusBadGateway // net/http closes the connection: no answer
			if r.Context().Err() != nil {
				status = statusClientGone
			}
		}
	case !rw.wroteHeader && r.Context().Err() != nil:
		// Nothing was sent and nobody waits for it (ReverseProxy's
		// ErrorHandler writes nothing when the client has gone).
		status, outcome = statusClientGone, outcomeAborted
	}

	keyID := ""
	if c.Principal != nil {
		keyID = c.Principal.KeyID
	}
	endpoint := c.Endpoint.String()
	m.requests.WithLabelValues(endpoint, strconv.Itoa(status), c.Model, keyID).Inc()
	m.latency.WithLabelValues(endpoint).Observe(elapsed.Seconds())
	if outcome == outcomeAborted {
		m.aborted.WithLabelValues(endpoint).Inc()
	}
	if status == http.StatusTooManyRequests {
		kind := "rate_limit"
		if rw.Header().Get("X-Should-Retry") == "false" {
			kind = "insufficient_quota" // budgets: the contract's 429 that must not be retried
		}
		m.rateLimited.WithLabelValues(kind).Inc()
	}
	if c.CacheStatus != "" {
		m.cache.WithLabelValues(c.CacheStatus).Inc()
	}
	attrs := []slog.Attr{
		slog.String("request_id", c.RequestID),
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.String("outcome", outcome),
		slog.String("key_id", keyID),
		slog.String("model", c.Model),
		slog.Bool("stream", c.Stream),
		slog.Duration("latency", elapsed),
		slog.Int64("bytes", rw.bytes),
	}
	if !rw.first.IsZero() && c.Stream {
		ttft := rw.first.Sub(start)
		m.ttft.WithLabelValues(c.Model).Observe(ttft.Seconds())
		attrs = append(attrs, slog.Duration("ttft", ttft))
	}
	if u := c.Usage; u != nil {
		m.tokens.WithLabelValues("prompt", c.Model, keyID).Add(float64(u.PromptTokens))
		m.tokens.WithLabelValues("completion", c.Model, keyID).Add(float64(u.CompletionTokens))
		attrs = append(attrs, slog.Int("prompt_tokens", u.PromptTokens),
			slog.Int("completion_tokens", u.CompletionTokens), slog.Bool("tokens_counted", c.UsageCounted))
	}
	if c.Cost > 0 {
		m.cost.WithLabelValues(c.Model, keyID).Add(c.Cost.USD())
	}
	attrs = append(attrs, slog.String("cost_usd", c.Cost.String()))
	if c.CacheStatus != "" {
		attrs = append(attrs, slog.String("cache", c.CacheStatus))
	}
	if d := c.Decision; d != nil {
		attrs = append(attrs, slog.Bool("allow", d.Allow), slog.Any("reasons", d.Reasons))
	}
	if logPrompts && c.Chat != nil {
		var text string
		for _, msg := range c.Chat.Messages {
			text += msg.Role + ": " + msg.Content.String() + "\n"
		}
		redacted, _ := moderation.Redact(text)
		attrs = append(attrs, slog.String("prompt", redacted))
	}
	log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}

// recordingWriter notes the status, the body size, when the first body
// byte was written and when the last write and the last flush were, and
// whether a write or a flush to the client failed.
type recordingWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	failed      bool
	bytes       int64
	first       time.Time
	lastWrite   time.Time
	lastFlush   time.Time
}

// sent returns when the whole response was sent, given that the handler
// returned at returned: at the last flush when nothing was written after
// it (the middleware flushes a complete answer before settling), else
// when the handler returned and net/http sent the rest.
func (w *recordingWriter) sent(returned time.Time) time.Time {
	if !w.lastFlush.IsZero() && !w.lastWrite.After(w.lastFlush) {
		return w.lastFlush
	}
	return returned
}

func (w *recordingWriter) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.wroteHeader = true
	now := time.Now()
	if w.first.IsZero() {
		w.first = now
	}
	w.lastWrite = now
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	if err != nil {
		w.failed = true
	}
	return n, err
}

func (w *recordingWriter) Flush() {
	if http.NewResponseController(w.ResponseWriter).Flush() != nil {
		w.failed = true
	}
	w.lastFlush = time.Now()
}

func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
