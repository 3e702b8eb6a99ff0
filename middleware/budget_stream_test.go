package middleware

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/wire"
	"github.com/redis/go-redis/v9"
)

// budgetTestChunk is chunk i of a chat stream.
func budgetTestChunk(i int) *wire.ChatCompletionChunk {
	return &wire.ChatCompletionChunk{ID: "chatcmpl-s", Object: "chat.completion.chunk", Created: 1, Model: "metered",
		Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{Content: " word" + string(rune('a'+i%26))}}}}
}

// TestBudgetBillsDisconnectedStream: a client that goes away after a few
// chunks is billed for the prompt plus every token the handler generated,
// also those generated after it left.
func TestBudgetBillsDisconnectedStream(t *testing.T) {
	const received, afterGone = 3, 5
	cat := budgetTestCatalog(t)
	b, err := NewBudgets(BudgetConfig{Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	clientGone, served := make(chan struct{}), make(chan struct{})
	var generated []*wire.ChatCompletionChunk
	var call *Call
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		call = CallFrom(r.Context())
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		sw := wire.NewWriter(w)
		for i := 0; i < 10_000; i++ {
			if i == received {
				<-clientGone
			}
			if i >= received+afterGone && r.Context().Err() != nil {
				return // the handler noticed
			}
			ch := budgetTestChunk(i)
			generated = append(generated, ch)
			_ = sw.WriteJSON(ch) // fails once the connection is gone; generation goes on until noticed
		}
	})
	chain := budgetTestChain(cat, &Principal{KeyID: "k1", Tier: "free"}, b, handler)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		chain.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/v1/chat/completions",
		strings.NewReader(budgetTestBody("metered", 0, true)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := wire.NewReader(resp.Body)
	for range received {
		if _, err := rd.Next(); err != nil {
			t.Fatalf("reading chunk: %v", err)
		}
	}
	cancel()
	_ = resp.Body.Close()
	close(clientGone)
	<-served

	if len(generated) <= received+afterGone-1 {
		t.Fatalf("handler generated %d chunks", len(generated))
	}
	counter := call.Encoding.NewChatStreamCounter()
	for _, ch := range generated {
		counter.Add(ch)
	}
	want := billing.Cost(call.ModelInfo.Prices, wire.Usage{PromptTokens: call.PromptTokens, CompletionTokens: counter.CompletionTokens()})
	bal := budgetTestSpent(t, b.Ledger(), "key:k1")
	if bal.Spent != want || bal.Reserved != 0 || call.Cost != want {
		t.Errorf("spent %v (Call.Cost %v), reserved %v; want %v for %d prompt + %d generated tokens (%d chunks, client read %d)",
			bal.Spent, call.Cost, bal.Reserved, want, call.PromptTokens, counter.CompletionTokens(), len(generated), received)
	}
	promptOnly := billing.Cost(call.ModelInfo.Prices, wire.Usage{PromptTokens: call.PromptTokens})
	if bal.Spent <= promptOnly {
		t.Errorf("spent %v: no more than the prompt (%v)", bal.Spent, promptOnly)
	}
}

// TestBudgetEndsStreamMidway: an upstream that ignores max_tokens outgrows
// the reservation; when the budget runs out the stream ends with an
// insufficient_quota event and [DONE], and the handler is told to stop.
// So it does when the stream is the reasoning text of a reasoning model
// (reasoning_content or reasoning deltas, which Count counts too).
func TestBudgetEndsStreamMidway(t *testing.T) {
	for _, member := range []string{"content", "reasoning_content", "reasoning"} {
		t.Run(member, func(t *testing.T) { testBudgetEndsStreamMidway(t, member) })
	}
}

func testBudgetEndsStreamMidway(t *testing.T, member string) {
	cat := budgetTestCatalog(t)
	m, _ := cat.Resolve("metered")
	// "metered" caps output at 100 tokens: the reservation is the prompt
	// plus 100 tokens. The budget leaves room for about 60 more.
	worst := billing.WorstCase(m.Prices, 10, 100)
	budget := worst + billing.WorstCase(m.Prices, 0, 60)
	b, err := NewBudgets(BudgetConfig{Keys: map[string]BudgetLimit{"k1": {USDPerMonth: budget.USD()}}, StepTokens: 16})
	if err != nil {
		t.Fatal(err)
	}
	var writeErr error
	chunks := 0
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 1000 {
			ch := budgetTestChunk(i)
			b, _ := json.Marshal(ch)
			b = bytes.Replace(b, []byte(`"content":`), []byte(`"`+member+`":`), 1)
			// each event split across two writes
			data := "data: " + string(b) + "\n\n"
			if _, writeErr = w.Write([]byte(data[:len(data)/2])); writeErr != nil {
				return
			}
			if _, writeErr = w.Write([]byte(data[len(data)/2:])); writeErr != nil {
				return
			}
			chunks++
		}
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	})
	h := budgetTestChain(cat, &Principal{KeyID: "k1"}, b, handler)
	rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 0, true))
	if !errors.Is(writeErr, ErrBudgetExhausted) {
		t.Fatalf("handler's write error = %v after %d chunks, want ErrBudgetExhausted", writeErr, chunks)
	}
	rd := wire.NewReader(strings.NewReader(rec.Body.String()))
	var events []wire.Event
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		ev.Data = append([]byte(nil), ev.Data...) // valid only until Next
		events = append(events, ev)
	}
	if len(events) < 3 || !events[len(events)-1].IsDone() {
		t.Fatalf("stream of %d events does not end with [DONE]:\n%s", len(events), rec.Body)
	}
	e, ok := wire.DecodeError(429, events[len(events)-2].Data)
	if !ok || e.Type != wire.TypeInsufficientQuota || e.Code != wire.CodeInsufficientQuota {
		t.Fatalf("last event before [DONE] = %s, want an insufficient_quota envelope", events[len(events)-2].Data)
	}
	for _, ev := range events[:len(events)-2] {
		var ch wire.ChatCompletionChunk
		if err := json.Unmarshal(ev.Data, &ch); err != nil || len(ch.Choices) != 1 {
			t.Fatalf("malformed event before the end: %q", ev.Data)
		}
	}
	bal := budgetTestSpent(t, b.Ledger(), "key:k1")
	oneChunk := billing.WorstCase(m.Prices, 0, 3)
	if bal.Reserved != 0 || bal.Spent > budget+oneChunk || bal.Spent < budget-billing.WorstCase(m.Prices, 0, 16) {
		t.Errorf("spent %v reserved %v; budget %v", bal.Spent, bal.Reserved, budget)
	}
}

// TestBudgetRaceRedis is the budget race with two middleware instances
// sharing one Redis ledger.
func TestBudgetRaceRedis(t *testing.T) {
	opt, err := redis.ParseURL(testRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "{llmgate:test:" + hex.EncodeToString(rnd[:]) + "}:"
	var bs []*Budgets
	var ledger billing.Ledger
	for range 2 {
		client := redis.NewClient(opt)
		t.Cleanup(func() { _ = client.Close() })
		l, err := billing.NewRedis(billing.RedisConfig{Client: client, Prefix: prefix, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewBudgets(BudgetConfig{Ledger: l, Tiers: map[string]BudgetLimit{"free": {USDPerMonth: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		bs, ledger = append(bs, b), l
	}
	t.Cleanup(func() {
		client := redis.NewClient(opt)
		defer client.Close()
		ctx := context.Background()
		keys, _ := client.Keys(ctx, strings.NewReplacer("{", `\{`, "}", `\}`).Replace(prefix)+"*").Result()
		if len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	budgetTestRace(t, bs, ledger)
}

// budgetScanStream is a short stream with every line end SSE allows: LF,
// CRLF and lone CR events, a comment, a multi-line data field, event and
// id fields, and [DONE]. budgetScanEvents is it cut after each empty line.
var budgetScanEvents = []string{
	": keep-alive\n\n",
	"data: {\"a\":1}\n\n",
	"event: delta\r\nid: 7\r\ndata: line1\r\ndata: line2\r\n\r", // the '\n' of the second CRLF starts the next piece
	"\n: crlf comment\r\n\r",
	"\ndata: cr\r\r",
	"data: x\ndata:\n\n",
	"\n", // an empty line at the start of a line: an (empty) event of its own
	"data: [DONE]\n\n",
}

var budgetScanStream = strings.Join(budgetScanEvents, "")

// budgetRecorder is the ResponseWriter under a budgetWriter: it keeps each
// write and, like the tap's budget check, marks the call cut once cutAt
// bytes have passed (0: never).
type budgetRecorder struct {
	h      http.Header
	writes []string
	total  int
	cutAt  int
	s      *budgetCall
}

func (r *budgetRecorder) Header() http.Header { return r.h }
func (r *budgetRecorder) WriteHeader(int)     {}
func (r *budgetRecorder) Write(b []byte) (int, error) {
	r.writes = append(r.writes, string(b))
	r.total += len(b)
	if r.cutAt > 0 && r.total >= r.cutAt {
		r.s.cut = true
	}
	return len(b), nil
}

func newBudgetTestWriter(cutAt int) (*budgetWriter, *budgetRecorder) {
	s := &budgetCall{c: &Call{RequestID: "req-1"}}
	rec := &budgetRecorder{h: http.Header{"Content-Type": {"text/event-stream"}}, cutAt: cutAt, s: s}
	return &budgetWriter{w: rec, s: s}, rec
}

// TestBudgetWriterEventEnds writes budgetScanStream split at every pair of
// points (at every point for the cut cases) and checks that each event end is found (with no budget cut the
// writes it passes on end at every event end) and that a cut budget ends
// the stream after the event during which it ran out.
func TestBudgetWriterEventEnds(t *testing.T) {
	s := budgetScanStream
	var ends []int // offsets just past each event
	for i, n := 0, 0; i < len(budgetScanEvents); i++ {
		n += len(budgetScanEvents[i])
		ends = append(ends, n)
	}
	quota := func() string {
		bw, rec := newBudgetTestWriter(0)
		bw.end()
		return strings.Join(rec.writes, "")
	}()
	tests := []struct {
		name  string
		cutAt int
	}{{"no cut", 0}}
	for _, c := range []int{1, ends[0], ends[0] + 1, ends[2] - 1, ends[2], ends[3] + 3, ends[5] + 1} {
		tests = append(tests, struct {
			name  string
			cutAt int
		}{fmt.Sprintf("cut at byte %d", c), c})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, wantEnded := s, false
			if tc.cutAt > 0 {
				for _, e := range ends {
					if e >= tc.cutAt {
						want, wantEnded = s[:e]+quota, true
						break
					}
				}
			}
			for i := 0; i <= len(s); i++ {
				for j := i; j <= len(s); j++ {
					if tc.cutAt > 0 && j != i { // cuts: one split point; every pair without
						continue
					}
					bw, rec := newBudgetTestWriter(tc.cutAt)
					var errs []error
					for _, part := range []string{s[:i], s[i:j], s[j:]} {
						if _, err := bw.Write([]byte(part)); err != nil {
							errs = append(errs, err)
						}
					}
					got := strings.Join(rec.writes, "")
					if got != want || bw.ended != wantEnded || (len(errs) > 0) != wantEnded {
						t.Fatalf("split %d,%d: wrote %q (ended %v, errors %v), want %q", i, j, got, bw.ended, errs, want)
					}
					for _, err := range errs {
						if !errors.Is(err, ErrBudgetExhausted) {
							t.Fatalf("split %d,%d: error %v", i, j, err)
						}
					}
					if wantEnded {
						continue
					}
					// Every event end is the end of a write passed on.
					at, n := map[int]bool{}, 0
					for _, w := range rec.writes {
						n += len(w)
						at[n] = true
					}
					for _, e := range ends {
						if !at[e] {
							t.Fatalf("split %d,%d: no write ends at the event end %d: %q", i, j, e, rec.writes)
						}
					}
				}
			}
		})
	}
}

// TestBudgetWriterSameWrites checks the writes budgetWriter passes on, and
// where it checks the budget, against budgetRefWriter (the byte-at-a-time
// scan it replaced): every string of up to 6 bytes over {a, \r, \n} at
// every split point, then longer random streams in random pieces.
func TestBudgetWriterSameWrites(t *testing.T) {
	check := func(t *testing.T, parts []string, cutAt int) {
		t.Helper()
		bw, rec := newBudgetTestWriter(cutAt)
		ref, refRec := newBudgetTestWriter(cutAt)
		rw := &budgetRefWriter{budgetWriter: ref}
		for _, p := range parts {
			n, err := bw.Write([]byte(p))
			rn, rerr := rw.Write([]byte(p))
			if n != rn || !errors.Is(err, rerr) {
				t.Fatalf("%q: Write(%q) = %d, %v; reference %d, %v", parts, p, n, err, rn, rerr)
			}
		}
		if !slices.Equal(rec.writes, refRec.writes) || bw.cr != ref.cr || bw.midLine != ref.midLine {
			t.Fatalf("%q (cut at %d): writes %q (cr %v midLine %v), reference %q (cr %v midLine %v)",
				parts, cutAt, rec.writes, bw.cr, bw.midLine, refRec.writes, ref.cr, ref.midLine)
		}
	}
	t.Run("exhaustive", func(t *testing.T) {
		alphabet := "a\r\n"
		for n := 0; n <= 6; n++ {
			buf := make([]byte, n)
			total := 1
			for range n {
				total *= len(alphabet)
			}
			for k := range total {
				for i, x := 0, k; i < n; i, x = i+1, x/len(alphabet) {
					buf[i] = alphabet[x%len(alphabet)]
				}
				s := string(buf)
				for split := 0; split <= n; split++ {
					check(t, []string{s[:split], s[split:]}, 0)
					check(t, []string{s[:split], s[split:]}, split+1)
				}
			}
		}
	})
	t.Run("random", func(t *testing.T) {
		rng := mrand.New(mrand.NewPCG(1, 2))
		alphabet := "data: {}\r\n\n\n"
		for range 2000 {
			b := make([]byte, rng.IntN(300))
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			var parts []string
			for rest := string(b); len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(64))
				parts, rest = append(parts, rest[:n]), rest[n:]
			}
			check(t, parts, rng.IntN(len(b)+2))
		}
	})
}

// budgetRefWriter is budgetWriter with the byte-at-a-time scan it had
// before it looked for line ends with bytes.IndexByte: the reference the
// tests and the benchmark compare with.
type budgetRefWriter struct{ *budgetWriter }

func (bw *budgetRefWriter) Write(b []byte) (int, error) {
	if bw.ended {
		return 0, ErrBudgetExhausted
	}
	if !isEventStream(bw.w.Header().Get("Content-Type")) {
		return bw.w.Write(b)
	}
	written, start := 0, 0
	var err error
	for i, ch := range b {
		switch {
		case ch != '\r' && ch != '\n':
			bw.cr, bw.midLine = false, true
			continue
		case ch == '\n' && bw.cr:
			bw.cr = false
			continue
		}
		bw.cr = ch == '\r'
		if bw.midLine {
			bw.midLine = false
			continue
		}
		n, e := bw.w.Write(b[start : i+1])
		written += n
		if e != nil {
			err = e
		}
		start = i + 1
		if bw.s.cut {
			bw.end()
			return written, ErrBudgetExhausted
		}
	}
	if start < len(b) {
		n, e := bw.w.Write(b[start:])
		written += n
		if e != nil {
			err = e
		}
	}
	return written, err
}

// BenchmarkBudgetWriterStream writes a stream of 400 chat chunks of about
// 150 bytes, one event per write as wire.Writer sends them, through
// budgetWriter (scan=indexbyte) and the byte-at-a-time scan it replaced
// (scan=bytewise) to a writer that discards; baseline=discard writes the
// same events straight to it. ns/op is per stream.
func BenchmarkBudgetWriterStream(b *testing.B) {
	var events [][]byte
	for i := range 400 {
		data, _ := json.Marshal(budgetTestChunk(i))
		events = append(events, append(append([]byte("data: "), data...), "\n\n"...))
	}
	size := 0
	for _, ev := range events {
		size += len(ev)
	}
	dw := &discardWriter{h: http.Header{"Content-Type": {"text/event-stream"}}}
	s := &budgetCall{c: &Call{RequestID: "r"}}
	run := func(b *testing.B, w http.ResponseWriter) {
		b.SetBytes(int64(size))
		b.ReportAllocs()
		for b.Loop() {
			for _, ev := range events {
				if _, err := w.Write(ev); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(size)/float64(len(events)), "bytes/event")
	}
	b.Run("baseline=discard", func(b *testing.B) { run(b, dw) })
	b.Run("scan=bytewise", func(b *testing.B) { run(b, &budgetRefWriter{&budgetWriter{w: dw, s: s}}) })
	b.Run("scan=indexbyte", func(b *testing.B) { run(b, &budgetWriter{w: dw, s: s}) })
}

// cutLink is a go-redis hook that fails every command while down is set,
// as a Redis that went away would, and counts those commands.
type cutLink struct {
	down  atomic.Bool
	tried atomic.Int32
}

func (h *cutLink) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cutLink) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.down.Load() {
			h.tried.Add(1)
			err := errors.New("dial tcp: connection refused")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *cutLink) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestBudgetStreamLedgerDown: a stream outgrows its reservation on a Redis
// ledger after Redis went away. Failing closed, the stream ends there with
// a 503 error event ("nothing is spent unaccounted"); failing open, it
// runs to its end, and Redis is not asked again for every chunk.
func TestBudgetStreamLedgerDown(t *testing.T) {
	opt, err := redis.ParseURL(testRedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []billing.FailMode{billing.FailClosed, billing.FailOpen} {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		client := redis.NewClient(opt)
		t.Cleanup(func() { _ = client.Close() })
		link := &cutLink{}
		client.AddHook(link)
		led, err := billing.NewRedis(billing.RedisConfig{Client: client, Prefix: "{llmgate:test:" + hex.EncodeToString(rnd[:]) + "}:",
			Timeout: 5 * time.Second, Fail: mode})
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewBudgets(BudgetConfig{Ledger: led, Keys: map[string]BudgetLimit{"k1": {USDPerMonth: 1}},
			StepTokens: 16, Logger: budgetTestLogger()})
		if err != nil {
			t.Fatal(err)
		}
		var writeErr error
		chunks := 0
		h := budgetTestChain(budgetTestCatalog(t), &Principal{KeyID: "k1"}, b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			link.down.Store(true) // the call was admitted; now Redis goes away
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 500 { // far past the 100-token reservation
				data, _ := json.Marshal(budgetTestChunk(i))
				if _, writeErr = w.Write([]byte("data: " + string(data) + "\n\n")); writeErr != nil {
					return
				}
				chunks++
			}
			_, _ = w.Write([]byte("data: [DONE]\n\n"))
		}))
		rec := postJSON(h, "/v1/chat/completions", budgetTestBody("metered", 0, true))
		switch mode {
		case billing.FailClosed:
			if !errors.Is(writeErr, ErrBudgetExhausted) || chunks >= 500 {
				t.Fatalf("fail closed: %d chunks, write error %v; want the stream cut", chunks, writeErr)
			}
			body := rec.Body.String()
			if !strings.Contains(body, `"type":"server_error"`) || !strings.HasSuffix(body, "data: [DONE]\n\n") {
				t.Errorf("fail closed: the stream does not end with a server_error event and [DONE]: …%s", body[max(0, len(body)-300):])
			}
		case billing.FailOpen:
			if writeErr != nil || chunks != 500 {
				t.Fatalf("fail open: %d chunks, write error %v; want the whole stream", chunks, writeErr)
			}
		}
		// One Continue (its try with the step and the bare overage are
		// skipped together once Redis has failed) and the final Settle.
		if n := link.tried.Load(); n > 3 {
			t.Errorf("%v: Redis was asked %d times while down", mode, n)
		}
	}
}
