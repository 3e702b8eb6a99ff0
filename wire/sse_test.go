package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// sseEv is an Event with its data as a string, comparable with ==.
type sseEv struct{ Type, ID, Data string }

func (e sseEv) String() string { return fmt.Sprintf("{%q %q %q}", e.Type, e.ID, e.Data) }

// sseReadAll reads every event with r and returns them with the error that
// ended the stream.
func sseReadAll(r *wire.Reader) ([]sseEv, error) {
	var out []sseEv
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, sseEv{e.Type, e.ID, string(e.Data)})
	}
}

// ssePushAll feeds in to a Parser in the pieces given by cuts (ascending
// offsets) and returns the events, the number of ErrEventTooLarge errors
// and End's error.
func ssePushAll(t testing.TB, p *wire.Parser, in []byte, cuts []int) (out []sseEv, tooLarge int, end error) {
	p.Reset()
	prev := 0
	for _, c := range append(cuts, len(in)) {
		piece := append([]byte(nil), in[prev:c]...) // a fresh slice, then clobbered
		prev = c
		p.Feed(piece)
		for {
			e, ok, err := p.Next()
			if errors.Is(err, wire.ErrEventTooLarge) {
				tooLarge++
				continue
			}
			if err != nil {
				t.Fatalf("Parser.Next: unexpected error %v", err)
			}
			if !ok {
				break
			}
			out = append(out, sseEv{e.Type, e.ID, string(e.Data)})
		}
		for i := range piece {
			piece[i] = 'X' // the parser must not keep borrowed input
		}
	}
	return out, tooLarge, p.End()
}

var sseCases = []struct {
	name  string
	in    string
	want  []sseEv
	cut   bool // the stream ends inside an event
	retry time.Duration
}{
	{name: "lf", in: "data: a\n\ndata: b\n\n", want: []sseEv{{"", "", "a"}, {"", "", "b"}}},
	{name: "crlf", in: "data: a\r\n\r\ndata: b\r\n\r\n", want: []sseEv{{"", "", "a"}, {"", "", "b"}}},
	{name: "cr", in: "data: a\r\rdata: b\r\r", want: []sseEv{{"", "", "a"}, {"", "", "b"}}},
	{name: "mixed endings", in: "data: a\r\ndata: b\rdata: c\n\r\n", want: []sseEv{{"", "", "a\nb\nc"}}},
	{name: "multi-line data", in: "data: {\ndata:  \"x\": 1\ndata: }\n\n", want: []sseEv{{"", "", "{\n \"x\": 1\n}"}}},
	{name: "no space after colon", in: "data:x\n\n", want: []sseEv{{"", "", "x"}}},
	{name: "only one space removed", in: "data:  x \n\n", want: []sseEv{{"", "", " x "}}},
	{name: "empty data line", in: "data:\n\n", want: []sseEv{{"", "", ""}}},
	{name: "field without colon", in: "data\ndata\n\n", want: []sseEv{{"", "", "\n"}}},
	{name: "comments skipped", in: ": ping\n\n:\ndata: a\n: mid\n\n", want: []sseEv{{"", "", "a"}}},
	{name: "no data no event", in: "event: x\nid: 1\n\ndata: a\n\n", want: []sseEv{{"", "1", "a"}}},
	{name: "event type resets", in: "event: delta\ndata: a\n\ndata: b\n\n", want: []sseEv{{"delta", "", "a"}, {"", "", "b"}}},
	{name: "id persists", in: "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", want: []sseEv{{"", "7", "a"}, {"", "7", "b"}, {"", "", "c"}}},
	{name: "id with nul ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []sseEv{{"", "1", "a"}, {"", "1", "b"}}},
	{name: "retry", in: "retry: 1500\ndata: a\n\nretry: 15x\n\n", want: []sseEv{{"", "", "a"}}, retry: 1500 * time.Millisecond},
	{name: "unknown field", in: "foo: bar\ndata: a\n\n", want: []sseEv{{"", "", "a"}}},
	{name: "bom stripped", in: "\xEF\xBB\xBFdata: a\n\n", want: []sseEv{{"", "", "a"}}},
	{name: "second bom kept", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\ndata: b\n\n", want: []sseEv{{"", "", "b"}}},
	{name: "partial bom", in: "\xEF\xBBdata: a\n\ndata: b\n\n", want: []sseEv{{"", "", "b"}}},
	{name: "done", in: "data: {}\n\ndata: [DONE]\n\n", want: []sseEv{{"", "", "{}"}, {"", "", "[DONE]"}}},
	{name: "unfinished event discarded", in: "data: a\n\ndata: b\n", want: []sseEv{{"", "", "a"}}, cut: true},
	{name: "unfinished line discarded", in: "data: a\n\ndata: b", want: []sseEv{{"", "", "a"}}, cut: true},
	{name: "empty", in: ""},
	{name: "blank lines only", in: "\n\r\n\r\n"},
}

func TestSSEReader(t *testing.T) {
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"data err": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for _, tc := range sseCases {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				r := wire.NewReader(mk(tc.in))
				got, err := sseReadAll(r)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("events = %v, want %v", got, tc.want)
				}
				switch {
				case tc.cut && !errors.Is(err, io.ErrUnexpectedEOF):
					t.Errorf("end = %v, want io.ErrUnexpectedEOF", err)
				case !tc.cut && err != io.EOF:
					t.Errorf("end = %v, want io.EOF", err)
				}
				if retry, _ := r.Retry(); retry != tc.retry {
					t.Errorf("Retry = %v, want %v", retry, tc.retry)
				}
				if _, err := r.Next(); err == nil {
					t.Error("Next after the end returned no error")
				}
			})
		}
	}
}

func TestSSEParserEverySplit(t *testing.T) {
	for _, tc := range sseCases {
		t.Run(tc.name, func(t *testing.T) {
			var p wire.Parser
			for i := 0; i <= len(tc.in); i++ {
				for j := i; j <= len(tc.in); j++ {
					got, _, end := ssePushAll(t, &p, []byte(tc.in), []int{i, j})
					if fmt.Sprint(got) != fmt.Sprint(tc.want) {
						t.Fatalf("split %d,%d: events = %v, want %v", i, j, got, tc.want)
					}
					if cut := errors.Is(end, io.ErrUnexpectedEOF); cut != tc.cut || (!cut && end != nil) {
						t.Fatalf("split %d,%d: End = %v, want cut %v", i, j, end, tc.cut)
					}
				}
			}
		})
	}
}

func TestSSELargeEvents(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 100<<10/16) // 100 KiB, past bufio.Scanner's 64 KiB
	in := "data: " + big + "\ndata: " + big + "\n\ndata: small\n\n"
	for _, size := range []int{1, 7, 4096, 1 << 20} {
		t.Run(fmt.Sprint("reads of ", size), func(t *testing.T) {
			r := wire.NewReader(bufio.NewReaderSize(iotest.HalfReader(strings.NewReader(in)), max(size, 16)))
			got, err := sseReadAll(r)
			if err != io.EOF {
				t.Fatalf("end = %v", err)
			}
			want := []sseEv{{"", "", big + "\n" + big}, {"", "", "small"}}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("got %d events, want the two big ones and small", len(got))
			}
		})
	}
}

func TestSSEMaxEventSize(t *testing.T) {
	long := strings.Repeat("x", 100)
	cases := []struct {
		name string
		in   string
	}{
		{"one long line", "data: " + long + "\n\ndata: ok\n\n"},
		{"many lines", strings.Repeat("data: "+long[:30]+"\n", 4) + "\ndata: ok\n\n"},
		{"long comment", ":" + long + "\n\ndata: ok\n\n"},
		{"long line then more lines", "data: " + long + "\ndata: more\n\n\ndata: ok\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name+"/reader", func(t *testing.T) {
			for _, rd := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				r := wire.NewReader(rd)
				r.MaxEventSize = 64
				_, err := r.Next()
				if !errors.Is(err, wire.ErrEventTooLarge) {
					t.Fatalf("first Next = %v, want ErrEventTooLarge", err)
				}
				e, err := r.Next()
				if err != nil || string(e.Data) != "ok" {
					t.Fatalf("after the big event: %q, %v; want ok", e.Data, err)
				}
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("end = %v", err)
				}
			}
		})
		t.Run(tc.name+"/parser", func(t *testing.T) {
			p := wire.Parser{MaxEventSize: 64}
			for cut := 0; cut <= len(tc.in); cut++ {
				got, n, end := ssePushAll(t, &p, []byte(tc.in), []int{cut})
				if n != 1 || len(got) != 1 || got[0].Data != "ok" || end != nil {
					t.Fatalf("cut %d: events %v, %d too large, end %v", cut, got, n, end)
				}
			}
		})
	}
}

func TestSSEReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := wire.NewReader(io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(boom)))
	got, err := sseReadAll(r)
	if len(got) != 1 || !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "wire: ") {
		t.Fatalf("events %v, err %v; want one event then wrapped boom", got, err)
	}
	if _, err := r.Next(); !errors.Is(err, boom) {
		t.Fatalf("second Next = %v, want boom again", err)
	}
	r = wire.NewReader(sseEmptyReader{})
	if _, err := r.Next(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("reader making no progress: %v", err)
	}
}

type sseEmptyReader struct{}

func (sseEmptyReader) Read([]byte) (int, error) { return 0, nil }

func TestSSEIsDone(t *testing.T) {
	for in, want := range map[string]bool{"[DONE]": true, " [DONE]\n": true, "[DONE]x": false, "": false, "{}": false} {
		e := wire.Event{Data: []byte(in)}
		if got := e.IsDone(); got != want {
			t.Errorf("IsDone(%q) = %v", in, got)
		}
	}
}

// sseFlushRecorder is a ResponseWriter that records writes and flushes.
type sseFlushRecorder struct {
	httptest.ResponseRecorder
	flushes int
	writes  int
}

func (f *sseFlushRecorder) Write(b []byte) (int, error) {
	f.writes++
	return f.ResponseRecorder.Write(b)
}
func (f *sseFlushRecorder) Flush() { f.flushes++ }

// ssePlainWriter is a ResponseWriter that cannot flush.
type ssePlainWriter struct{ bytes.Buffer }

func (*ssePlainWriter) Header() http.Header { return http.Header{} }
func (*ssePlainWriter) WriteHeader(int)     {}

func TestSSEWriter(t *testing.T) {
	cases := []struct {
		name  string
		write func(w *wire.Writer) error
		want  string
	}{
		{"data", func(w *wire.Writer) error { return w.WriteData([]byte(`{"a":1}`)) }, "data: {\"a\":1}\n\n"},
		{"multi-line data", func(w *wire.Writer) error { return w.WriteData([]byte("a\nb\r\nc\rd")) }, "data: a\ndata: b\ndata: c\ndata: d\n\n"},
		{"empty data", func(w *wire.Writer) error { return w.WriteData(nil) }, "data:\n\n"},
		{"trailing newline", func(w *wire.Writer) error { return w.WriteData([]byte("a\n")) }, "data: a\ndata:\n\n"},
		{"json", func(w *wire.Writer) error { return w.WriteJSON(map[string]string{"c": "<b>\n"}) }, "data: {\"c\":\"<b>\\n\"}\n\n"},
		{"comment", func(w *wire.Writer) error { return w.WriteComment("ping\npong") }, ": ping\n: pong\n\n"},
		{"done", func(w *wire.Writer) error { return w.WriteDone() }, "data: [DONE]\n\n"},
		{"event", func(w *wire.Writer) error {
			return w.WriteEvent(wire.Event{Type: "delta", ID: "7", Data: []byte("x")})
		}, "event: delta\nid: 7\ndata: x\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &sseFlushRecorder{ResponseRecorder: *httptest.NewRecorder()}
			if err := tc.write(wire.NewWriter(rec)); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("wrote %q, want %q", got, tc.want)
			}
			if rec.writes != 1 || rec.flushes != 1 {
				t.Errorf("%d writes and %d flushes, want one of each", rec.writes, rec.flushes)
			}
		})
	}
	t.Run("invalid field", func(t *testing.T) {
		var buf bytes.Buffer
		w := wire.NewWriter(&buf)
		for _, e := range []wire.Event{{Type: "a\nb"}, {ID: "1\r"}, {ID: "a\x00"}} {
			if err := w.WriteEvent(e); !errors.Is(err, wire.ErrInvalidField) {
				t.Errorf("WriteEvent(%+v) = %v, want ErrInvalidField", e, err)
			}
		}
		if buf.Len() != 0 {
			t.Errorf("wrote %q for invalid events", buf.String())
		}
	})
	t.Run("writer without flush", func(t *testing.T) {
		var pw ssePlainWriter
		w := wire.NewWriter(&pw)
		if err := w.WriteDone(); err != nil || pw.String() != "data: [DONE]\n\n" {
			t.Fatalf("WriteDone: %v, wrote %q", err, pw.String())
		}
		if err := w.WriteDone(); err != nil {
			t.Fatalf("second WriteDone: %v", err)
		}
	})
	t.Run("bufio flushed", func(t *testing.T) {
		var buf bytes.Buffer
		w := wire.NewWriter(bufio.NewWriter(&buf))
		if err := w.WriteData([]byte("a")); err != nil || buf.String() != "data: a\n\n" {
			t.Fatalf("WriteData: %v, underlying has %q", err, buf.String())
		}
	})
	t.Run("write error", func(t *testing.T) {
		boom := errors.New("boom")
		w := wire.NewWriter(sseErrWriter{boom})
		if err := w.WriteData([]byte("a")); !errors.Is(err, boom) {
			t.Fatalf("WriteData = %v, want boom", err)
		}
	})
}

type sseErrWriter struct{ err error }

func (e sseErrWriter) Write([]byte) (int, error) { return 0, e.err }

func TestSSEWriterAllocs(t *testing.T) {
	rec := &sseFlushRecorder{ResponseRecorder: *httptest.NewRecorder()}
	w := wire.NewWriter(rec)
	data := []byte(`{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"hi"}}]}`)
	_ = w.WriteData(data) // grow the buffers
	rec.Body = nil        // discard writes
	if n := testing.AllocsPerRun(100, func() { _ = w.WriteData(data); _ = w.WriteDone() }); n != 0 {
		t.Errorf("WriteData+WriteDone allocate %v times, want 0", n)
	}
}

func TestSSEParserAllocs(t *testing.T) {
	in := []byte("data: {\"id\":\"x\",\"choices\":[]}\n\nid: 1\nevent: e\ndata: [DONE]\n\n")
	var p wire.Parser
	drain := func() {
		for off := 0; off < len(in); off += 17 {
			p.Feed(in[off:min(off+17, len(in))])
			for {
				if _, ok, _ := p.Next(); !ok {
					break
				}
			}
		}
	}
	drain()
	if n := testing.AllocsPerRun(100, drain); n != 0 {
		t.Errorf("parsing a stream allocates %v times per run, want 0", n)
	}
}

// TestRoundTrip writes events with Writer and reads them back.
func TestSSERoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	w := wire.NewWriter(&buf)
	var want []sseEv
	for i := range 200 {
		b := make([]byte, rng.IntN(300))
		for j := range b {
			const alphabet = "ab \r\n:{}\x00é"
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if err := w.WriteEvent(wire.Event{ID: fmt.Sprint(i), Data: b}); err != nil {
			t.Fatal(err)
		}
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(b))
		want = append(want, sseEv{"", fmt.Sprint(i), norm})
	}
	got, err := sseReadAll(wire.NewReader(&buf))
	if err != io.EOF || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("round trip differs (end %v)", err)
	}
}

var sseSeeds = []string{
	"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n",
	"event: e\r\nid: 1\r\nretry: 10\r\ndata: a\r\ndata: b\r\n\r\n",
	"\xEF\xBB\xBFdata:x\r\r: c\n\ndata\n\n",
	"id: a\x00b\ndata: \n\n",
	"data: " + strings.Repeat("y", 300) + "\n\n",
	"data: a\n\ndata: unfinished",
	"\xEF\xBB",
	"retry: 99999999999999999999999\n\n",
}

// FuzzSSEReader reads arbitrary input and checks that the events it yields
// survive a trip through Writer unchanged.
func FuzzSSEReader(f *testing.F) {
	for _, s := range sseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := wire.NewReader(bytes.NewReader(in))
		r.MaxEventSize = 256
		var out bytes.Buffer
		w := wire.NewWriter(&out)
		var got []sseEv
		for {
			e, err := r.Next()
			if errors.Is(err, wire.ErrEventTooLarge) {
				continue
			}
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(e.Data) > 256 || bytes.ContainsAny(e.Data, "\r") {
				t.Fatalf("event data %q breaks the rules", e.Data)
			}
			got = append(got, sseEv{e.Type, "", string(e.Data)})
			if strings.ContainsAny(e.Type, "\r\n") {
				t.Fatalf("event type %q holds a line break", e.Type)
			}
			if err := w.WriteEvent(wire.Event{Type: e.Type, Data: e.Data}); err != nil {
				t.Fatalf("rewriting %q: %v", e.Data, err)
			}
		}
		again, err := sseReadAll(wire.NewReader(&out))
		if err != io.EOF || fmt.Sprint(again) != fmt.Sprint(got) {
			t.Fatalf("rewritten stream reads %v (%v), want %v", again, err, got)
		}
	})
}

// FuzzSSESplit compares the pull Reader over the whole input with the push
// Parser fed the same input in pieces split at random positions.
func FuzzSSESplit(f *testing.F) {
	for i, s := range sseSeeds {
		f.Add([]byte(s), uint64(i))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		r := wire.NewReader(bytes.NewReader(in))
		r.MaxEventSize = 64
		var want []sseEv
		tooLarge := 0
		var end error
		for {
			e, err := r.Next()
			if errors.Is(err, wire.ErrEventTooLarge) {
				tooLarge++
				continue
			}
			if err != nil {
				end = err
				break
			}
			want = append(want, sseEv{e.Type, e.ID, string(e.Data)})
		}
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		var cuts []int
		for c := 0; c < len(in); c += rng.IntN(8) {
			cuts = append(cuts, c)
		}
		p := wire.Parser{MaxEventSize: 64}
		got, n, pend := ssePushAll(t, &p, in, cuts)
		if fmt.Sprint(got) != fmt.Sprint(want) || n != tooLarge {
			t.Fatalf("push %v (%d too large), pull %v (%d too large)", got, n, want, tooLarge)
		}
		if (pend == nil) != (end == io.EOF) {
			t.Fatalf("push ended with %v, pull with %v", pend, end)
		}
	})
}

func BenchmarkParser(b *testing.B) {
	var stream []byte
	for i := range 100 {
		stream = fmt.Appendf(stream, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"token %d\"},\"finish_reason\":null}]}\n\n", i)
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var p wire.Parser
	for b.Loop() {
		for off := 0; off < len(stream); off += 512 {
			p.Feed(stream[off:min(off+512, len(stream))])
			for {
				if _, ok, _ := p.Next(); !ok {
					break
				}
			}
		}
	}
}

func ExampleReader() {
	stream := "data: {\"n\":1}\n\n: keep-alive\n\ndata: line one\ndata: line two\n\ndata: [DONE]\n\n"
	r := wire.NewReader(strings.NewReader(stream))
	for {
		e, err := r.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		if e.IsDone() {
			fmt.Println("done")
			continue
		}
		fmt.Printf("%q\n", e.Data)
	}
	// Output:
	// "{\"n\":1}"
	// "line one\nline two"
	// done
	// EOF
}

func ExampleWriter() {
	w := wire.NewWriter(os.Stdout) // an http.ResponseWriter is flushed after each event
	_ = w.WriteJSON(map[string]int{"n": 1})
	_ = w.WriteData([]byte("two\nlines"))
	_ = w.WriteComment("keep-alive")
	_ = w.WriteDone()
	// Output:
	// data: {"n":1}
	//
	// data: two
	// data: lines
	//
	// : keep-alive
	//
	// data: [DONE]
}

func ExampleParser() {
	var p wire.Parser
	for _, piece := range []string{"data: hel", "lo\n", "\ndata: [DO", "NE]\n\n"} {
		p.Feed([]byte(piece))
		for {
			e, ok, err := p.Next()
			if err != nil || !ok {
				break
			}
			fmt.Printf("%s done=%v\n", e.Data, e.IsDone())
		}
	}
	// Output:
	// hello done=false
	// [DONE] done=true
}
