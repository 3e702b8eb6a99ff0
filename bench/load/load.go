package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one load run. Zero values mean the documented defaults; at
// least one of Requests and Duration bounds the run.
type Config struct {
	// URL is the chat completions endpoint, for example
	// http://127.0.0.1:8080/v1/chat/completions. Loopback only is the
	// intent; Run does not check.
	URL string
	// Keys are the API keys sent as Authorization: Bearer; request i uses
	// Keys[i%len(Keys)]. Default: no Authorization header.
	Keys []string
	// Concurrency is the number of requests in flight at all times, each on
	// its own keep-alive connection. Default: 1.
	Concurrency int
	// Requests bounds the number of measured requests. Default: no bound
	// (Duration must be set).
	Requests int
	// Duration bounds the measured run. Default: no bound (Requests must be
	// set).
	Duration time.Duration
	// RampUp spreads the connections' first measured requests evenly over
	// this duration instead of starting them together, so that many
	// long streams open at the rate a server admits them. Default: 0.
	RampUp time.Duration
	// Think is each connection's pause after an answer before its next
	// request, as a client with something else to do between requests
	// has. With none, a connection's next request waits on the server
	// for whatever the previous one still does after its answer was sent
	// (net/http serves one request at a time per connection). Default: 0.
	Think time.Duration
	// Warmup is the number of requests each connection sends before the
	// measured run starts; they are not recorded. Default: 0.
	Warmup int
	// Stream asks for a streamed answer ("stream":true).
	Stream bool
	// BodySize is the request body's size in bytes: a system message and a
	// user message of English prose padded to this size. Default: 1024.
	BodySize int
	// Unique puts the request's sequence number at the start of the user
	// message, so that no two requests are the same (every request is a
	// cache miss). The body's size does not change.
	Unique bool
	// FirstSeq is the sequence number of the run's first request, warm-up
	// included (at most 12 digits in all). Runs against one server must
	// not repeat numbers, or their requests hit the cache: command load
	// starts each run at a random one. Default: 0.
	FirstSeq int64
	// Model is the requested model. Default: gpt-4o-mini.
	Model string
	// MaxTokens is the request's max_tokens. Default: 64.
	MaxTokens int
	// Timeout bounds each request. Default: 30s.
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	// Requests is the number of measured requests that completed with 200
	// and a fully read body.
	Requests uint64
	// Errors counts measured requests that failed: a transport error, a
	// status other than 200 or a body cut short.
	Errors uint64
	// Status counts the answers by HTTP status (0: no answer).
	Status map[int]uint64
	// FirstError describes the first failure, for the report.
	FirstError string
	// Elapsed is the measured run's wall time.
	Elapsed time.Duration
	// Latency is each successful request's time from sending it to the
	// last byte of the answer.
	Latency Histogram
	// FirstByte is each successful streamed request's time from sending it
	// to the first byte of the answer's body. Empty when not streaming.
	FirstByte Histogram
	// BytesIn is the total size of the answers' bodies.
	BytesIn int64
}

// RPS is the successful requests per second of wall time.
func (r *Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// KeyName is the i-th benchmark API key, sk-bench-00000000 onwards;
// command gencfg writes the digests of the same names.
func KeyName(i int) string { return fmt.Sprintf("sk-bench-%08d", i) }

// seqDigits is the width of the sequence number Unique writes.
const seqDigits = 12

// Body returns the request body cfg describes and the offset of the
// sequence number's seqDigits digits in it (-1 unless cfg.Unique).
func Body(cfg Config) ([]byte, int) {
	cfg = cfg.withDefaults()
	head := fmt.Sprintf(`{"model":%q,"messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},{"role":"user","content":"`, cfg.Model)
	tail := fmt.Sprintf(`"}],"max_tokens":%d,"temperature":0`, cfg.MaxTokens)
	if cfg.Stream {
		tail += `,"stream":true`
	}
	tail += "}"
	var b bytes.Buffer
	b.WriteString(head)
	seq := -1
	if cfg.Unique {
		b.WriteString("Request ")
		seq = b.Len()
		b.WriteString(fmt.Sprintf("%0*d. ", seqDigits, 0))
	}
	for i := 0; b.Len()+len(tail) < cfg.BodySize; i++ {
		s := prose[i%len(prose)]
		if room := cfg.BodySize - len(tail) - b.Len(); len(s) > room {
			s = s[:room]
		}
		b.WriteString(s)
	}
	b.WriteString(tail)
	return b.Bytes(), seq
}

// prose fills the user message: ordinary English, so that token counting
// and moderation do the work they do on real prompts. Every sentence ends
// with a space and holds no character JSON escapes.
var prose = []string{
	"Please summarise the following notes from our weekly planning meeting. ",
	"The team reviewed the roadmap for the next quarter and agreed on three priorities. ",
	"First, the billing service moves to the new database before the end of the month. ",
	"Second, the mobile application gets offline support for reading saved articles. ",
	"Third, we hire two engineers for the platform group and one designer. ",
	"Several customers asked for better export options, so the reports page will offer spreadsheets. ",
	"The support queue grew by twelve percent, mostly questions about invoices and refunds. ",
	"Marketing plans a small conference in the spring and needs speakers from engineering. ",
	"We discussed the incident from last Tuesday, when a configuration change slowed the search index. ",
	"The fix is in place and a checklist for configuration changes is being written. ",
}

func (cfg Config) withDefaults() Config {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.BodySize <= 0 {
		cfg.BodySize = 1024
	}
	if cfg.Model == "" {
		cfg.Model = "gpt-4o-mini"
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return cfg
}

// NewTransport returns the client Transport Run uses: no proxy, no
// compression, HTTP/1.1, and one idle keep-alive connection per worker.
func NewTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// Run sends requests as cfg says and returns what it measured. It returns
// an error only when cfg is unusable or ctx ended before the run started;
// failed requests are counted in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if cfg.URL == "" {
		return nil, errors.New("load: no URL")
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("load: neither Requests nor Duration bounds the run")
	}
	tr := NewTransport(cfg.Concurrency)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	body, seqAt := Body(cfg)
	auth := make([]string, len(cfg.Keys))
	for i, k := range cfg.Keys {
		auth[i] = "Bearer " + k
	}

	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		workers[i] = &worker{cfg: &cfg, client: client, body: bytes.Clone(body), seqAt: seqAt, auth: auth,
			res: Result{Status: map[int]uint64{}}}
	}
	// Warm up: every worker opens its connection and sends Warmup
	// requests; then all start the measured run together.
	var seq atomic.Int64
	seq.Store(cfg.FirstSeq)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			for range cfg.Warmup {
				w.do(ctx, seq.Add(1)-1, false)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var issued atomic.Int64
	start := time.Now()
	var deadline time.Time
	if cfg.Duration > 0 {
		deadline = start.Add(cfg.Duration)
	}
	for i, w := range workers {
		wg.Go(func() {
			if cfg.RampUp > 0 {
				select {
				case <-time.After(cfg.RampUp * time.Duration(i) / time.Duration(len(workers))):
				case <-ctx.Done():
					return
				}
			}
			for ctx.Err() == nil {
				if cfg.Requests > 0 && issued.Add(1) > int64(cfg.Requests) {
					return
				}
				if !deadline.IsZero() && !time.Now().Before(deadline) {
					return
				}
				w.do(ctx, seq.Add(1)-1, true)
				if cfg.Think > 0 {
					select {
					case <-time.After(cfg.Think):
					case <-ctx.Done():
						return
					}
				}
			}
		})
	}
	wg.Wait()
	res := &Result{Status: map[int]uint64{}, Elapsed: time.Since(start)}
	for _, w := range workers {
		res.Requests += w.res.Requests
		res.Errors += w.res.Errors
		for s, n := range w.res.Status {
			res.Status[s] += n
		}
		if res.FirstError == "" {
			res.FirstError = w.res.FirstError
		}
		res.Latency.Merge(&w.res.Latency)
		res.FirstByte.Merge(&w.res.FirstByte)
		res.BytesIn += w.res.BytesIn
	}
	return res, nil
}

// worker sends one request at a time and keeps its own Result.
type worker struct {
	cfg    *Config
	client *http.Client
	body   []byte // this worker's copy, sequence number rewritten in place
	seqAt  int
	auth   []string
	buf    [32 << 10]byte
	res    Result
}

// do sends request number n; record says whether it is measured.
func (w *worker) do(ctx context.Context, n int64, record bool) {
	if w.seqAt >= 0 {
		d := strconv.AppendInt(nil, n, 10)
		at := w.seqAt + seqDigits - len(d)
		for i := w.seqAt; i < at; i++ {
			w.body[i] = '0'
		}
		copy(w.body[at:], d)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(w.body))
	if err != nil {
		w.fail(record, 0, err)
		return
	}
	req.Header["Content-Type"] = []string{"application/json"}
	if len(w.auth) > 0 {
		req.Header["Authorization"] = []string{w.auth[n%int64(len(w.auth))]}
	}
	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		w.fail(record, 0, err)
		return
	}
	var first time.Time
	var size int64
	for {
		m, rerr := resp.Body.Read(w.buf[:])
		if m > 0 && first.IsZero() {
			first = time.Now()
		}
		size += int64(m)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	end := time.Now()
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		w.fail(record, resp.StatusCode, fmt.Errorf("status %d: %.200s", resp.StatusCode, w.buf[:min(size, int64(len(w.buf)))]))
		return
	}
	if err != nil {
		w.fail(record, resp.StatusCode, err)
		return
	}
	if !record {
		return
	}
	w.res.Status[resp.StatusCode]++
	w.res.Requests++
	w.res.BytesIn += size
	w.res.Latency.Record(end.Sub(start))
	if w.cfg.Stream && !first.IsZero() {
		w.res.FirstByte.Record(first.Sub(start))
	}
}

func (w *worker) fail(record bool, status int, err error) {
	if !record {
		return
	}
	w.res.Status[status]++
	w.res.Errors++
	if w.res.FirstError == "" {
		w.res.FirstError = err.Error()
	}
}
