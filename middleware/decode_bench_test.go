package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// benchChat returns a realistic chat request of about size bytes: a system
// prompt, then user / assistant turns (with a newline and a quote, so some
// strings need unescaping), temperature and max_tokens.
func benchChat(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"gpt-4o-mini","temperature":0.7,"max_tokens":512,"messages":[`)
	b.WriteString(`{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."}`)
	for turn := 0; b.Len() < size-120; turn++ {
		if turn%2 == 0 {
			fmt.Fprintf(&b, `,{"role":"user","content":"Question %d: what is the capital of France, and why is it there?"}`, turn)
		} else {
			fmt.Fprintf(&b, `,{"role":"assistant","content":"Paris.\nIt grew on the Seine, a \"natural\" trade route (turn %d)."}`, turn)
		}
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures Decode and not the recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// cpuClock measures the CPU time the process spends (all threads, GC
// included), which on a shared machine says more than wall time: a
// descheduled benchmark does not burn CPU.
type cpuClock struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{processCPU()} }

// report adds the metric cpu-ns/op.
func (c cpuClock) report(b *testing.B) {
	if b.N > 0 {
		b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
	}
}

func benchDecode(b *testing.B, size int) {
	body := benchChat(size)
	b.Run("llmgate", func(b *testing.B) {
		var got *Call
		h := Decode(DecodeConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = CallFrom(r.Context())
		}))
		b.SetBytes(int64(len(body)))
		benchServe(b, h, body)
		if got == nil || got.Chat == nil || len(got.Chat.Messages) < 2 {
			b.Fatal("handler did not see the decoded request")
		}
	})
	b.Run("baseline=json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			var r wire.ChatCompletionRequest
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
}

// BenchmarkDecodeChat1KiB: the whole Decode middleware (read, decode,
// validate, Call, body put back) on a 1 KiB chat request, against
// json.Unmarshal of the same bytes into wire.ChatCompletionRequest alone.
func BenchmarkDecodeChat1KiB(b *testing.B) { benchDecode(b, 1<<10) }

// BenchmarkDecodeChat100KiB is BenchmarkDecodeChat1KiB at 100 KiB.
func BenchmarkDecodeChat100KiB(b *testing.B) { benchDecode(b, 100<<10) }

// BenchmarkDecodeChatTools: a request with two tools whose schemas the
// cache has seen, to show repeated tool definitions cost no compile.
func BenchmarkDecodeChatTools(b *testing.B) {
	body := []byte(chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string","pattern":"^\\w+$"}}}}}],"tool_choice":"auto"`))
	h := Decode(DecodeConfig{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	b.SetBytes(int64(len(body)))
	benchServe(b, h, body)
}

// benchServe posts body to /v1/chat/completions through h b.N times,
// reusing one request, and reports allocations and process CPU time per
// request.
func benchServe(b *testing.B, h http.Handler, body []byte) {
	rd := bytes.NewReader(body)
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", rd)
	req.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		h.ServeHTTP(w, req)
	}
	cpu.report(b)
}

func TestBenchBodies(t *testing.T) {
	for _, size := range []int{1 << 10, 100 << 10} {
		body := benchChat(size)
		if len(body) < size*9/10 || len(body) > size*11/10 {
			t.Errorf("benchChat(%d) is %d bytes", size, len(body))
		}
		res := serveDecode(t, DecodeConfig{}, post(chatPath, string(body)))
		if !res.reached || !strings.Contains(res.call.Chat.Messages[2].Content.Text, "\"natural\"") {
			t.Fatalf("status %d: %s", res.rec.Code, res.rec.Body)
		}
	}
}

// BenchmarkDecodeToolCalls decodes a conversation of one assistant message
// issuing n tool calls and n tool messages answering them in reverse
// order, at two sizes: the time per byte must not grow with n (checking
// each answer against the calls issued was quadratic until the ids went
// into a set).
func BenchmarkDecodeToolCalls(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		body := toolCallsBody(n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			h := Decode(DecodeConfig{MaxBodyBytes: 64 << 20})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			b.SetBytes(int64(len(body)))
			benchServe(b, h, body)
		})
	}
}

// toolCallsBody is BenchmarkDecodeToolCalls' request with n calls.
func toolCallsBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"look these up"},{"role":"assistant","content":null,"tool_calls":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"call_%06d","type":"function","function":{"name":"lookup","arguments":"{\"q\":%d}"}}`, i, i)
	}
	b.WriteString(`]}`)
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, `,{"role":"tool","tool_call_id":"call_%06d","content":"%d"}`, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
