package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// tapChunk is what an observer saw of one Chunk, copied out of it.
type tapChunk struct {
	data    string
	done    bool
	content string // chat delta content or completion text of choice 0
	usage   *wire.Usage
	err     error
}

// tapLog records what the tap told an observer.
type tapLog struct {
	statuses []int
	chunks   []tapChunk
	ends     []Response
	ops      *[]string // when set, OnChunk appends "chunk"
}

func (l *tapLog) observer() Observer {
	return Observer{
		OnHeader: func(status int, _ http.Header) { l.statuses = append(l.statuses, status) },
		OnChunk: func(ch *Chunk) {
			tc := tapChunk{data: string(ch.Data), done: ch.Done, err: ch.Err}
			switch {
			case ch.Chat != nil:
				tc.usage = ch.Chat.Usage
				if len(ch.Chat.Choices) > 0 {
					tc.content = ch.Chat.Choices[0].Delta.Content
				}
			case ch.Completion != nil:
				tc.usage = ch.Completion.Usage
				if len(ch.Completion.Choices) > 0 {
					tc.content = ch.Completion.Choices[0].Text
				}
			}
			l.chunks = append(l.chunks, tc)
			if l.ops != nil {
				*l.ops = append(*l.ops, "chunk")
			}
		},
		OnEnd: func(res *Response) { l.ends = append(l.ends, *res) },
	}
}

// tapped returns a handler serving next through the tap, with log
// observing a call of endpoint ep.
func tapped(ep Endpoint, log *tapLog, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &Call{Endpoint: ep}
		if log != nil {
			c.Observe(log.observer())
		}
		serveTapped(next, w, r.WithContext(WithCall(r.Context(), c)), c)
	})
}

func chatChunkJSON(id, content string) string {
	return fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":%q},"finish_reason":null}]}`, id, content)
}

const usageChunkJSON = `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":1000,"total_tokens":1012,"completion_tokens_details":{"reasoning_tokens":3}}}`

// tapStream is an SSE stream with the offsets where its data events end
// and what a client reads from each.
type tapStream struct {
	bytes []byte
	ends  []int
	datas []string
}

func (s *tapStream) add(raw, data string) {
	s.bytes = append(s.bytes, raw...)
	s.ends = append(s.ends, len(s.bytes))
	s.datas = append(s.datas, data)
}

// newTapStream builds n content chunks in several framings (CRLF, JSON
// split over two data lines, comments, explicit "usage":null), a usage
// chunk and [DONE].
func newTapStream(n int) *tapStream {
	s := &tapStream{}
	for i := range n {
		js := chatChunkJSON("c", fmt.Sprintf("tok%d ", i))
		switch {
		case i%17 == 5:
			js = strings.Replace(js, `"choices"`, `"usage":null,"choices"`, 1)
			s.add("data: "+js+"\n\n", js)
		case i%13 == 3:
			s.bytes = append(s.bytes, ": keep-alive\n\n"...)
			s.add("data: "+js+"\n\n", js)
		case i%11 == 2:
			head, tail, _ := strings.Cut(js, `"choices"`)
			s.add("data: "+head+"\ndata: \"choices\""+tail+"\n\n", head+"\n\"choices\""+tail)
		case i%7 == 1:
			s.add("data: "+js+"\r\n\r\n", js)
		default:
			s.add("data: "+js+"\n\n", js)
		}
	}
	s.add("data: "+usageChunkJSON+"\n\n", usageChunkJSON)
	s.add("data: [DONE]\n\n", "[DONE]")
	return s
}

// cuts returns ascending random split offsets in (0, n).
func randomCuts(rng *rand.Rand, n, maxPiece int) []int {
	var cuts []int
	for c := 1 + rng.IntN(maxPiece); c < n; c += 1 + rng.IntN(maxPiece) {
		cuts = append(cuts, c)
	}
	return cuts
}

// tapOpsWriter is a ResponseWriter that logs writes and flushes, and fails
// writes once failAfter bytes were written (when failAfter >= 0).
type tapOpsWriter struct {
	header    http.Header
	status    int
	body      bytes.Buffer
	ops       []string
	failAfter int
	deadline  time.Time
}

var errTapGone = errors.New("client gone")

func newTapOpsWriter() *tapOpsWriter { return &tapOpsWriter{header: http.Header{}, failAfter: -1} }

func (w *tapOpsWriter) Header() http.Header { return w.header }
func (w *tapOpsWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ops = append(w.ops, fmt.Sprint("header ", code))
}

func (w *tapOpsWriter) Write(b []byte) (int, error) {
	w.ops = append(w.ops, "write")
	if w.failAfter >= 0 && w.body.Len()+len(b) > w.failAfter {
		n := w.failAfter - w.body.Len()
		w.body.Write(b[:n])
		return n, errTapGone
	}
	return w.body.Write(b)
}

func (w *tapOpsWriter) FlushError() error {
	w.ops = append(w.ops, "flush")
	if w.failAfter >= 0 && w.body.Len() >= w.failAfter {
		return errTapGone
	}
	return nil
}

func (w *tapOpsWriter) SetWriteDeadline(t time.Time) error { w.deadline = t; return nil }

// serveOps serves next through the tap into a tapOpsWriter.
func serveOps(w *tapOpsWriter, method string, ep Endpoint, log *tapLog, next http.HandlerFunc) {
	if log != nil {
		log.ops = &w.ops
	}
	tapped(ep, log, next).ServeHTTP(w, httptest.NewRequest(method, "/", nil))
}

// writePieces writes b in pieces ending at cuts and then at len(b).
func writePieces(w http.ResponseWriter, b []byte, cuts []int) {
	prev := 0
	for _, c := range append(cuts, len(b)) {
		_, _ = w.Write(b[prev:c])
		prev = c
	}
}

// TestTapFlushesEachEvent checks that a handler that never flushes still
// gets every event flushed to the client, and that observers hear of an
// event only after it was flushed.
func TestTapFlushesEachEvent(t *testing.T) {
	stream := newTapStream(30)
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			cuts := randomCuts(rand.New(rand.NewPCG(seed, 5)), len(stream.bytes), 300)
			w := newTapOpsWriter()
			var log tapLog
			serveOps(w, http.MethodPost, EndpointChatCompletions, &log, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				writePieces(w, stream.bytes, cuts)
			})
			if !bytes.Equal(w.body.Bytes(), stream.bytes) {
				t.Fatal("the client did not receive the stream byte for byte")
			}
			// Replay the log: each write that completes events is followed
			// by a flush before the first chunk is published.
			written, k, flushed := 0, 0, true
			pieces := append(cuts, len(stream.bytes))
			for _, op := range w.ops {
				switch op {
				case "write":
					written = pieces[0]
					pieces = pieces[1:]
					flushed = false
				case "flush":
					flushed = true
				case "chunk":
					if !flushed {
						t.Fatalf("chunk %d published before it was flushed", k)
					}
					if stream.ends[k] > written {
						t.Fatalf("chunk %d published before it was written", k)
					}
					k++
				}
			}
			if k != len(stream.ends) || len(pieces) != 0 {
				t.Fatalf("%d chunks published, %d pieces unwritten", k, len(pieces))
			}
			if n := strings.Count(strings.Join(w.ops, ","), "flush"); n > len(cuts)+1 {
				t.Errorf("%d flushes for %d writes", n, len(cuts)+1)
			}
		})
	}
}

func TestTapLargeEvents(t *testing.T) {
	big := strings.Repeat("large ", 300<<10/6) // 300 KiB of content
	js := chatChunkJSON("c", big)
	in := []byte("data: " + js + "\n\ndata: " + usageChunkJSON + "\n\ndata: [DONE]\n\n")
	for _, piece := range []int{1 << 20, 64 << 10, 4093, 100} {
		t.Run(fmt.Sprint("writes of ", piece), func(t *testing.T) {
			var cuts []int
			for c := piece; c < len(in); c += piece {
				cuts = append(cuts, c)
			}
			w := newTapOpsWriter()
			var log tapLog
			serveOps(w, http.MethodPost, EndpointChatCompletions, &log, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				writePieces(w, in, cuts)
			})
			if len(log.chunks) != 3 || log.chunks[0].content != big || log.chunks[0].data != js {
				t.Fatalf("got %d chunks; first has %d content bytes", len(log.chunks), len(log.chunks[0].content))
			}
			if res := log.ends[0]; res.Usage == nil || res.Events != 2 || !res.Done || res.Written != int64(len(in)) {
				t.Fatalf("Response = %+v", res)
			}
			if !bytes.Equal(w.body.Bytes(), in) {
				t.Fatal("client bytes differ")
			}
		})
	}
}

// TestTapWriteFails fails the client's writes at every position of a
// stream: the handler sees the error, the tap records it, keeps observing
// and never panics.
func TestTapWriteFails(t *testing.T) {
	stream := newTapStream(5)
	for failAfter := 0; failAfter < len(stream.bytes); failAfter += 37 {
		t.Run(fmt.Sprint("after ", failAfter), func(t *testing.T) {
			w := newTapOpsWriter()
			w.failAfter = failAfter
			var log tapLog
			var handlerErr error
			serveOps(w, http.MethodPost, EndpointChatCompletions, &log, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := 0; i < len(stream.bytes); i += 50 {
					if _, err := w.Write(stream.bytes[i:min(i+50, len(stream.bytes))]); err != nil && handlerErr == nil {
						handlerErr = err
					}
				}
			})
			res := log.ends[0]
			if !errors.Is(res.Err, errTapGone) || !errors.Is(handlerErr, errTapGone) {
				t.Fatalf("Response.Err = %v, handler saw %v; want both client gone", res.Err, handlerErr)
			}
			if res.Written > int64(failAfter) || len(log.chunks) != len(stream.ends) || res.Usage == nil || !res.Done {
				t.Fatalf("Response = %+v, %d chunks", res, len(log.chunks))
			}
		})
	}
}

const chatCompletionJSON = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",` +
	`"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop","logprobs":null}],` +
	`"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":1}}}`

func TestTapBody(t *testing.T) {
	envelope := `{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	cases := []struct {
		name       string
		method     string
		handler    http.HandlerFunc
		status     int
		body       string // as the observer sees it; the client gets what was written
		usage      int    // total tokens; 0 for none
		onHeader   []int
		headerSent bool // the handler sent the status itself
	}{
		{name: "json with usage", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			writePieces(w, []byte(chatCompletionJSON), []int{1, 40, 41, 200})
		}, status: 200, body: chatCompletionJSON, usage: 7, onHeader: []int{200}},
		{name: "json without usage", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
		}, status: 200, body: `{"object":"list","data":[]}`, onHeader: []int{200}},
		{name: "error envelope", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, envelope)
		}, status: 429, body: envelope, onHeader: []int{429}, headerSent: true},
		{name: "upstream 502 text", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = io.WriteString(w, "bad gateway")
		}, status: 502, body: "bad gateway", onHeader: []int{502}, headerSent: true},
		{name: "early hints then json", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusAccepted) // superfluous: passed on, not observed
			_, _ = io.WriteString(w, chatCompletionJSON)
		}, status: 201, body: chatCompletionJSON, usage: 7, onHeader: []int{201}, headerSent: true},
		{name: "head", method: http.MethodHead, handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, chatCompletionJSON)
		}, status: 200, onHeader: []int{200}},
		{name: "no content", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNoContent)
		}, status: 204, onHeader: []int{204}, headerSent: true},
		{name: "nothing written", handler: func(http.ResponseWriter, *http.Request) {}, status: 200, onHeader: []int{200}},
		{name: "io.Copy without ReadFrom", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.Copy(w, strings.NewReader(chatCompletionJSON))
		}, status: 200, body: chatCompletionJSON, usage: 7, onHeader: []int{200}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			w := newTapOpsWriter()
			var log tapLog
			serveOps(w, method, EndpointChatCompletions, &log, tc.handler)
			if fmt.Sprint(log.statuses) != fmt.Sprint(tc.onHeader) || len(log.ends) != 1 || len(log.chunks) != 0 {
				t.Fatalf("OnHeader %v, %d OnEnd, %d chunks", log.statuses, len(log.ends), len(log.chunks))
			}
			res := log.ends[0]
			if res.Status != tc.status || res.Stream || string(res.Body) != tc.body || res.Err != nil {
				t.Errorf("Response status %d stream %v body %q err %v", res.Status, res.Stream, res.Body, res.Err)
			}
			if tc.body != "" && res.Written != int64(len(tc.body)) {
				t.Errorf("Written = %d, want %d", res.Written, len(tc.body))
			}
			switch {
			case tc.usage == 0 && res.Usage != nil:
				t.Errorf("Usage = %+v, want none", res.Usage)
			case tc.usage != 0 && (res.Usage == nil || res.Usage.TotalTokens != tc.usage):
				t.Errorf("Usage = %+v, want total %d", res.Usage, tc.usage)
			}
			if tc.headerSent && w.status != tc.status {
				t.Errorf("client got status %d, want %d", w.status, tc.status)
			}
		})
	}
}

func TestTapObserverSetsHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	c := &Call{Endpoint: EndpointChatCompletions}
	c.Observe(Observer{OnHeader: func(status int, h http.Header) { h.Set("X-Ratelimit-Remaining-Requests", "9") }})
	serveTapped(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "{}")
	}), rec, httptest.NewRequest(http.MethodPost, "/", nil), c)
	if got := rec.Header().Get("X-Ratelimit-Remaining-Requests"); got != "9" {
		t.Fatalf("header set in OnHeader = %q, want 9", got)
	}
}

func TestTapResponseController(t *testing.T) {
	w := newTapOpsWriter()
	deadline := time.Unix(1e9, 0)
	serveOps(w, http.MethodPost, EndpointChatCompletions, nil, func(tw http.ResponseWriter, _ *http.Request) {
		if _, ok := tw.(http.Flusher); !ok {
			t.Error("the tap is not an http.Flusher")
		}
		rc := http.NewResponseController(tw)
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		if err := rc.SetWriteDeadline(deadline); err != nil {
			t.Errorf("SetWriteDeadline through Unwrap: %v", err)
		}
		if err := rc.EnableFullDuplex(); !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("EnableFullDuplex = %v, want ErrNotSupported from the underlying writer", err)
		}
	})
	if !w.deadline.Equal(deadline) || fmt.Sprint(w.ops) != "[flush]" {
		t.Fatalf("underlying writer: deadline %v, ops %v", w.deadline, w.ops)
	}

	rec := httptest.NewRecorder() // a writer that can flush through http.Flusher only
	serveTapped(http.HandlerFunc(func(tw http.ResponseWriter, _ *http.Request) {
		tw.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(tw, "data: {}\n\n")
	}), rec, httptest.NewRequest(http.MethodPost, "/", nil), &Call{})
	if !rec.Flushed {
		t.Fatal("the recorder was not flushed after an event")
	}
}

func TestTapPanic(t *testing.T) {
	cases := []struct {
		name   string
		before func(w http.ResponseWriter)
		status int
		events int
	}{
		{"mid-stream", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: "+chatChunkJSON("c", "a")+"\n\ndata: "+chatChunkJSON("c", "b")+"\n\ndata: {")
		}, 200, 2},
		{"before the header", func(http.ResponseWriter) {}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var log tapLog
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				serveOps(newTapOpsWriter(), http.MethodPost, EndpointChatCompletions, &log, func(w http.ResponseWriter, _ *http.Request) {
					tc.before(w)
					panic(http.ErrAbortHandler)
				})
			}()
			if recovered != http.ErrAbortHandler {
				t.Fatalf("recovered %v, want the handler's panic to continue", recovered)
			}
			if len(log.ends) != 1 {
				t.Fatalf("OnEnd called %d times", len(log.ends))
			}
			res := log.ends[0]
			if !errors.Is(res.Err, ErrHandlerPanicked) || res.Status != tc.status || res.Events != tc.events || res.Done {
				t.Fatalf("Response = %+v", res)
			}
		})
	}
}

func TestTapChunks(t *testing.T) {
	toolChunk := `{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{"}}]},"finish_reason":"tool_calls"}]}`
	cases := []struct {
		name   string
		ep     Endpoint
		events []string
		check  func(t *testing.T, chunks []*Chunk)
	}{
		{"reused structs do not leak between chunks", EndpointChatCompletions, []string{toolChunk, chatChunkJSON("c", "x")}, func(t *testing.T, chunks []*Chunk) {
			if len(chunks[0].Chat.Choices[0].Delta.ToolCalls) != 1 || chunks[0].Chat.Choices[0].FinishReason != wire.FinishToolCalls {
				t.Errorf("first chunk = %+v", chunks[0].Chat)
			}
			c := chunks[1].Chat.Choices[0]
			if c.Delta.ToolCalls != nil || c.FinishReason != "" || c.Delta.Content != "x" {
				t.Errorf("second chunk kept values of the first: %+v", c)
			}
		}},
		{"completions", EndpointCompletions, []string{`{"id":"cmpl","object":"text_completion","choices":[{"index":0,"text":"hey","finish_reason":null}]}`}, func(t *testing.T, chunks []*Chunk) {
			if chunks[0].Completion == nil || chunks[0].Completion.Choices[0].Text != "hey" || chunks[0].Chat != nil {
				t.Errorf("chunk = %+v", chunks[0])
			}
		}},
		{"invalid json", EndpointChatCompletions, []string{`{"id":`}, func(t *testing.T, chunks []*Chunk) {
			if chunks[0].Err == nil || chunks[0].Chat != nil || string(chunks[0].Data) != `{"id":` {
				t.Errorf("chunk = %+v", chunks[0])
			}
		}},
		{"error object mid-stream", EndpointChatCompletions, []string{`{"error":{"message":"overloaded"}}`}, func(t *testing.T, chunks []*Chunk) {
			if !errors.Is(chunks[0].Err, errNotChunk) || chunks[0].Chat != nil {
				t.Errorf("chunk = %+v", chunks[0])
			}
		}},
		{"endpoint without chunks", EndpointModels, []string{`{}`}, func(t *testing.T, chunks []*Chunk) {
			if !errors.Is(chunks[0].Err, errNoChunkType) {
				t.Errorf("chunk = %+v", chunks[0])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var chunks []*Chunk
			c := &Call{Endpoint: tc.ep}
			c.Observe(Observer{OnChunk: func(ch *Chunk) {
				cp := *ch // valid only during the call: keep deep copies
				cp.Data = bytes.Clone(ch.Data)
				if ch.Chat != nil {
					chat := *ch.Chat
					chat.Choices = append([]wire.ChunkChoice(nil), ch.Chat.Choices...)
					cp.Chat = &chat
				}
				if ch.Completion != nil {
					comp := *ch.Completion
					comp.Choices = append([]wire.CompletionChoice(nil), ch.Completion.Choices...)
					cp.Completion = &comp
				}
				chunks = append(chunks, &cp)
			}})
			serveTapped(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "Text/Event-Stream")
				sw := wire.NewWriter(w)
				for _, e := range tc.events {
					_ = sw.WriteData([]byte(e))
				}
			}), httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), c)
			if len(chunks) != len(tc.events) {
				t.Fatalf("%d chunks, want %d", len(chunks), len(tc.events))
			}
			tc.check(t, chunks)
		})
	}
}

func TestTopLevelValue(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"id":"x","usage":{"total_tokens":3}}`, `{"total_tokens":3}`},
		{` { "usage" : null , "id":1}`, `null`},
		{`{"choices":[{"usage":{"a":1},"t":"]}\"usage\":2"}],"usage":{"b":[1,{"c":"}"}]}}`, `{"b":[1,{"c":"}"}]}`},
		{`{"content":"\\","usage":7}`, `7`},
		{`{"content":"usage: \"usage\":{}","n":-1.5e3,"ok":true}`, ``},
		{`{"choices":[{"usage":{"a":1}}]}`, ``},
		{`["usage",{"usage":1}]`, ``},
		{`{"usage":`, ``},
		{`{"a":"unterminated,"usage":1}`, ``},
		{`{"a" 1,"usage":1}`, ``},
		{``, ``},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			if got := topLevelValue([]byte(tc.in), "usage"); string(got) != tc.want {
				t.Fatalf("topLevelValue = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIsEventStream(t *testing.T) {
	for ct, want := range map[string]bool{
		"text/event-stream": true, "text/event-stream; charset=utf-8": true, " TEXT/EVENT-STREAM": true,
		"text/event-streams": false, "application/json": false, "": false, "text/event": false,
	} {
		if got := isEventStream(ct); got != want {
			t.Errorf("isEventStream(%q) = %v", ct, got)
		}
	}
}

// A layer subscribes to the response on the Call before it calls the next
// handler; the tap that Decode installs tells it about each chunk of the
// stream and, at the end, the usage.
func Example_responseTap() {
	meter := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			CallFrom(r.Context()).Observe(Observer{
				OnChunk: func(ch *Chunk) {
					if ch.Chat != nil && len(ch.Chat.Choices) > 0 {
						fmt.Printf("delta %q\n", ch.Chat.Choices[0].Delta.Content)
					}
				},
				OnEnd: func(res *Response) {
					fmt.Println("events:", res.Events, "done:", res.Done, "total tokens:", res.Usage.TotalTokens)
				},
			})
			next.ServeHTTP(w, r)
		})
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sw := wire.NewWriter(w)
		for _, s := range []string{"Hel", "lo"} {
			_ = sw.WriteJSON(wire.ChatCompletionChunk{ID: "c1", Object: wire.ObjectChatCompletionChunk,
				Choices: []wire.ChunkChoice{{Delta: wire.Delta{Content: s}}}})
		}
		_ = sw.WriteJSON(wire.ChatCompletionChunk{ID: "c1", Object: wire.ObjectChatCompletionChunk,
			Choices: []wire.ChunkChoice{}, Usage: &wire.Usage{PromptTokens: 8, CompletionTokens: 2, TotalTokens: 10}})
		_ = sw.WriteDone()
	})
	h := Decode(DecodeConfig{})(meter(upstream))

	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// delta "Hel"
	// delta "lo"
	// events: 3 done: true total tokens: 10
}

// TestCallObserveAllocs checks that the chain's usual subscribers fit in
// the Call: subscribing five observers allocates nothing beyond the Call.
func TestCallObserveAllocs(t *testing.T) {
	o := Observer{OnEnd: func(*Response) {}}
	allocs := testing.AllocsPerRun(100, func() {
		c := new(Call)
		for range 5 {
			c.Observe(o)
		}
	})
	if allocs > 1 {
		t.Errorf("a Call with five observers costs %v allocations, want 1 (the Call)", allocs)
	}
}
