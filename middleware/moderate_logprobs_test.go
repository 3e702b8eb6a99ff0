package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/wire"
)

// modLPTokens splits text into tokens as a test tokenizer would: words
// (with their trailing space), longer ones cut into pieces of at most size
// bytes, which may split a UTF-8 character as real tokenizers do.
func modLPTokens(text string, size int) []string {
	var out []string
	for _, w := range strings.SplitAfter(text, " ") {
		for len(w) > size {
			out = append(out, w[:size])
			w = w[size:]
		}
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// modLPLogprob is token j of choice i's log-probability: distinct and
// exact in binary, so the client can tell which entries it got, in which
// order.
func modLPLogprob(i, j int) float64 { return -float64(i*1000+j+1) / 1024 }

// modLPEscape writes a token that is not valid UTF-8 as OpenAI does:
// "\xe2\x80" for chat, "bytes:\xe2\x80" for completions.
func modLPEscape(tok, prefix string) string {
	if utf8.ValidString(tok) {
		return tok
	}
	var b strings.Builder
	b.WriteString(prefix)
	for i := 0; i < len(tok); i++ {
		fmt.Fprintf(&b, `\x%02x`, tok[i])
	}
	return b.String()
}

func modLPBytes(s string) []int {
	out := make([]int, len(s))
	for i := range len(s) {
		out[i] = int(s[i])
	}
	return out
}

// modLPStream is an upstream stream of chat or completions chunks with
// logprobs: choice i's text is cut into tokens and the tokens grouped per
// chunk (a chunk grows until its content is valid UTF-8), the choices
// interleaved. finish ends each choice with a finish chunk and the stream
// with [DONE].
func modLPStream(t *testing.T, chat bool, tokens [][]string, per int, finish bool) []byte {
	t.Helper()
	var out bytes.Buffer
	emit := func(v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "data: %s\n\n", b)
	}
	chatChunk := func(c wire.ChunkChoice) {
		emit(wire.ChatCompletionChunk{ID: "chatcmpl-lp", Object: wire.ObjectChatCompletionChunk, Created: 7, Model: "gpt-4o-mini", Choices: []wire.ChunkChoice{c}})
	}
	cmplChunk := func(c wire.CompletionChoice) {
		emit(wire.Completion{ID: "cmpl-lp", Object: wire.ObjectTextCompletion, Created: 7, Model: "gpt-3.5-turbo-instruct", Choices: []wire.CompletionChoice{c}})
	}
	if chat {
		for i := range tokens {
			chatChunk(wire.ChunkChoice{Index: i, Delta: wire.Delta{Role: "assistant"}, Logprobs: &wire.ChatLogprobs{Content: []wire.TokenLogprob{}}})
		}
	}
	next, offset := make([]int, len(tokens)), make([]int, len(tokens))
	for more := true; more; {
		more = false
		for i, toks := range tokens {
			j := next[i]
			if j == len(toks) {
				continue
			}
			more = true
			end := min(j+per, len(toks))
			for end < len(toks) && !utf8.ValidString(strings.Join(toks[j:end], "")) {
				end++
			}
			next[i] = end
			text := strings.Join(toks[j:end], "")
			if chat {
				lp := &wire.ChatLogprobs{}
				for k := j; k < end; k++ {
					tok, v := toks[k], modLPLogprob(i, k)
					lp.Content = append(lp.Content, wire.TokenLogprob{Token: modLPEscape(tok, ""), Logprob: v, Bytes: modLPBytes(tok),
						TopLogprobs: []wire.TopLogprob{{Token: modLPEscape(tok, ""), Logprob: v, Bytes: modLPBytes(tok)},
							{Token: strings.ToUpper(modLPEscape(tok, "")), Logprob: v - 1, Bytes: modLPBytes(strings.ToUpper(tok))}}})
				}
				chatChunk(wire.ChunkChoice{Index: i, Delta: wire.Delta{Content: text}, Logprobs: lp})
				continue
			}
			lp := &wire.CompletionLogprobs{}
			for k := j; k < end; k++ {
				tok, v := modLPEscape(toks[k], "bytes:"), modLPLogprob(i, k)
				lp.Tokens = append(lp.Tokens, tok)
				lp.TokenLogprobs = append(lp.TokenLogprobs, v)
				lp.TopLogprobs = append(lp.TopLogprobs, map[string]float64{tok: v, strings.ToUpper(tok): v - 1})
				lp.TextOffset = append(lp.TextOffset, offset[i])
				offset[i] += len(toks[k])
			}
			cmplChunk(wire.CompletionChoice{Index: i, Text: text, Logprobs: lp})
		}
	}
	if !finish {
		return out.Bytes()
	}
	for i := range tokens {
		if chat {
			chatChunk(wire.ChunkChoice{Index: i, FinishReason: wire.FinishStop})
		} else {
			cmplChunk(wire.CompletionChoice{Index: i, FinishReason: wire.FinishStop})
		}
	}
	out.WriteString("data: [DONE]\n\n")
	return out.Bytes()
}

// modLPEntry is one logprob entry as a client decodes it.
type modLPEntry struct {
	logprob float64
	text    string // the bytes it stands for
	offset  int    // completions: text_offset
	top     []string
}

// modLPChoice is what a client received for one choice.
type modLPChoice struct {
	content string
	entries []modLPEntry
	finish  wire.FinishReason
}

// modLPRead decodes a filtered stream with the wire types, event by event,
// and checks after each event that every choice's logprob entries are
// exactly the tokens whose text has been received: none ahead of the text,
// none held once their text is out.
func modLPRead(t *testing.T, chat bool, body []byte, tokens [][]string) (map[int]*modLPChoice, bool) {
	t.Helper()
	got := map[int]*modLPChoice{}
	choice := func(i int) *modLPChoice {
		if got[i] == nil {
			got[i] = &modLPChoice{}
		}
		return got[i]
	}
	r := wire.NewReader(bytes.NewReader(body))
	done := false
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		if ev.IsDone() {
			done = true
			continue
		}
		if chat {
			var ch wire.ChatCompletionChunk
			if err := json.Unmarshal(ev.Data, &ch); err != nil {
				t.Fatalf("event %s: %v", ev.Data, err)
			}
			for _, c := range ch.Choices {
				st := choice(c.Index)
				st.content += c.Delta.Content
				if c.FinishReason != "" {
					st.finish = c.FinishReason
				}
				if c.Logprobs == nil {
					continue
				}
				for _, e := range c.Logprobs.Content {
					var top []string
					for _, alt := range e.TopLogprobs {
						top = append(top, alt.Token, string(intsToBytes(alt.Bytes)))
					}
					st.entries = append(st.entries, modLPEntry{logprob: e.Logprob, text: string(intsToBytes(e.Bytes)), top: append(top, e.Token)})
				}
			}
		} else {
			var ch wire.Completion
			if err := json.Unmarshal(ev.Data, &ch); err != nil {
				t.Fatalf("event %s: %v", ev.Data, err)
			}
			for _, c := range ch.Choices {
				st := choice(c.Index)
				st.content += c.Text
				if c.FinishReason != "" {
					st.finish = c.FinishReason
				}
				lp := c.Logprobs
				if lp == nil {
					continue
				}
				if len(lp.TokenLogprobs) != len(lp.Tokens) || len(lp.TopLogprobs) != len(lp.Tokens) || len(lp.TextOffset) != len(lp.Tokens) {
					t.Fatalf("event %s: the logprobs arrays are not parallel", ev.Data)
				}
				for k, tok := range lp.Tokens {
					top := []string{tok}
					for alt := range lp.TopLogprobs[k] {
						top = append(top, alt)
					}
					st.entries = append(st.entries, modLPEntry{logprob: lp.TokenLogprobs[k], text: modLPUnescape(tok), offset: lp.TextOffset[k], top: top})
				}
			}
		}
		for i, st := range got {
			if i >= len(tokens) {
				t.Fatalf("event %s: unknown choice %d", ev.Data, i)
			}
			want, n := 0, 0
			for _, tok := range tokens[i] {
				if n += len(tok); n > len(st.content) {
					break
				}
				want++
			}
			if len(st.entries) != want {
				t.Fatalf("after event %s: choice %d has %d logprob entries for %d bytes of text, want %d", ev.Data, i, len(st.entries), len(st.content), want)
			}
		}
	}
	return got, done
}

func intsToBytes(v []int) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// modLPUnescape undoes modLPEscape's "bytes:" form.
func modLPUnescape(tok string) string {
	rest, ok := strings.CutPrefix(tok, "bytes:")
	if !ok {
		return tok
	}
	var b []byte
	for i := 0; i+4 <= len(rest); i += 4 {
		var c byte
		fmt.Sscanf(rest[i+2:i+4], "%02x", &c)
		b = append(b, c)
	}
	return string(b)
}

func TestModerateStreamLogprobs(t *testing.T) {
	clean := strings.Repeat("The river bends past old mills; naïve children wave — “hello”. ", 4)
	flagged := clean + "Then he said: I'm going to kill you and left."
	tests := []struct {
		name   string
		chat   bool
		texts  []string // per choice
		size   int      // token size
		per    int      // tokens per chunk
		finish bool
		cut    bool
	}{
		{"chat clean, a token per chunk", true, []string{clean}, 3, 1, true, false},
		{"chat clean, tokens straddle chunks", true, []string{clean}, 5, 4, true, false},
		{"chat clean, no finish nor DONE", true, []string{clean}, 4, 2, false, false},
		{"chat clean, two choices", true, []string{clean, strings.ToUpper(clean)}, 6, 3, true, false},
		{"chat flagged word in one token", true, []string{flagged}, 16, 1, true, true},
		{"chat flagged word split", true, []string{flagged}, 2, 3, true, true},
		{"chat flagged in one choice of two", true, []string{clean, flagged}, 5, 2, true, true},
		{"completions clean", false, []string{clean}, 3, 2, true, false},
		{"completions clean, no finish nor DONE", false, []string{clean}, 7, 5, false, false},
		{"completions flagged word in one token", false, []string{flagged}, 16, 1, true, true},
		{"completions flagged word split", false, []string{flagged}, 1, 5, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tokens [][]string
			for _, text := range tt.texts {
				tokens = append(tokens, modLPTokens(text, tt.size))
			}
			upstream := modLPStream(t, tt.chat, tokens, tt.per, tt.finish)
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := 0; i < len(upstream); i += 97 { // split anywhere
					if _, err := w.Write(upstream[i:min(i+97, len(upstream))]); err != nil {
						return
					}
				}
			})
			path, req := "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"logprobs":true,"top_logprobs":2,"messages":[{"role":"user","content":"tell me"}]}`
			if !tt.chat {
				path, req = "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"tell me","stream":true,"logprobs":2}`
			}
			rec := postJSON(h, path, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			raw := rec.Body.Bytes()
			if bytes.Contains(bytes.ToLower(raw), []byte("kill")) {
				t.Fatalf("the flagged word reached the client:\n%s", raw)
			}
			got, done := modLPRead(t, tt.chat, raw, tokens)
			if done != (tt.finish || tt.cut) {
				t.Errorf("[DONE] sent: %v", done)
			}
			for i, toks := range tokens {
				st := got[i]
				if st == nil {
					st = &modLPChoice{}
				}
				var text strings.Builder
				for k, e := range st.entries {
					if e.logprob != modLPLogprob(i, k) {
						t.Fatalf("choice %d entry %d has logprob %v, want token %d's %v", i, k, e.logprob, k, modLPLogprob(i, k))
					}
					if !tt.chat && e.offset != text.Len() {
						t.Errorf("choice %d entry %d: text_offset %d, want %d", i, k, e.offset, text.Len())
					}
					text.WriteString(e.text)
					for _, alt := range e.top {
						if strings.Contains(strings.ToLower(modLPUnescape(alt)), "kill") {
							t.Errorf("choice %d entry %d carries %q", i, k, alt)
						}
					}
				}
				if text.String() != st.content {
					t.Errorf("choice %d: the logprob tokens spell %q, the content is %q", i, text.String(), st.content)
				}
				full := strings.Join(toks, "")
				switch {
				case !tt.cut:
					if st.content != full || len(st.entries) != len(toks) {
						t.Errorf("clean choice %d: %d of %d entries, content %q", i, len(st.entries), len(toks), st.content)
					}
				case !strings.HasPrefix(full, st.content) || !strings.HasPrefix(clean, st.content) || st.finish != wire.FinishContentFilter:
					t.Errorf("choice %d of a cut stream: content %q, finish %q", i, st.content, st.finish)
				}
			}
		})
	}
}

// TestModerateStreamLogprobsKeptWhole: where nothing is held back, a chunk
// with logprobs passes byte for byte, other members of logprobs (refusal)
// included.
func TestModerateStreamLogprobsKeptWhole(t *testing.T) {
	events := []string{
		`{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","refusal":null},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"refusal":"I can't."},"logprobs":{"content":null,"refusal":[{"token":"I can't.","logprob":-0.5,"bytes":[73,32,99,97,110,39,116,46],"top_logprobs":[]}]},"finish_reason":null}]}`,
		`{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":{"content":[],"refusal":null},"finish_reason":"stop"}]}`,
	}
	var body strings.Builder
	for _, e := range events {
		body.WriteString("data: " + e + "\n\n")
	}
	body.WriteString("data: [DONE]\n\n")
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte(body.String()))
	})
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	if rec.Body.String() != body.String() {
		t.Errorf("stream changed:\n%s\nwant\n%s", rec.Body, body.String())
	}
}

func TestModerateBufferedLogprobs(t *testing.T) {
	const bad = "I'm going to kill you."
	const good = "The river bends past old mills."
	chat := func(text string) []byte {
		toks := modLPTokens(text, 4)
		lp := &wire.ChatLogprobs{}
		for k, tok := range toks {
			lp.Content = append(lp.Content, wire.TokenLogprob{Token: tok, Logprob: modLPLogprob(0, k), Bytes: modLPBytes(tok),
				TopLogprobs: []wire.TopLogprob{{Token: tok, Logprob: modLPLogprob(0, k), Bytes: modLPBytes(tok)}}})
		}
		b, _ := json.Marshal(wire.ChatCompletion{ID: "c", Object: wire.ObjectChatCompletion, Model: "gpt-4o-mini", Choices: []wire.ChatChoice{
			{Index: 0, Message: wire.Message{Role: "assistant", Content: wire.TextContent(text)}, FinishReason: wire.FinishStop, Logprobs: lp},
			{Index: 1, Message: wire.Message{Role: "assistant", Content: wire.TextContent(good)}, FinishReason: wire.FinishStop, Logprobs: &wire.ChatLogprobs{Content: []wire.TokenLogprob{}}}}})
		return b
	}
	completion := func(text string) []byte {
		toks := modLPTokens(text, 4)
		lp := &wire.CompletionLogprobs{}
		for k, tok := range toks {
			lp.Tokens = append(lp.Tokens, tok)
			lp.TokenLogprobs = append(lp.TokenLogprobs, modLPLogprob(0, k))
			lp.TopLogprobs = append(lp.TopLogprobs, map[string]float64{tok: modLPLogprob(0, k)})
			lp.TextOffset = append(lp.TextOffset, 0)
		}
		b, _ := json.Marshal(wire.Completion{ID: "c", Object: wire.ObjectTextCompletion, Model: "gpt-3.5-turbo-instruct", Choices: []wire.CompletionChoice{
			{Index: 0, Text: text, FinishReason: wire.FinishStop, Logprobs: lp}}})
		return b
	}
	tests := []struct {
		name     string
		path     string
		req      string
		upstream []byte
		flagged  bool
	}{
		{"chat clean", "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`), chat(good), false},
		{"chat flagged", "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`), chat(bad), true},
		{"completions clean", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi","logprobs":1}`, completion(good), false},
		{"completions flagged", "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi","logprobs":1}`, completion(bad), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(tt.upstream)
			})
			rec := postJSON(h, tt.path, tt.req)
			body := rec.Body.Bytes()
			if !tt.flagged {
				if !bytes.Equal(body, tt.upstream) {
					t.Errorf("clean body changed:\n%s\nwant\n%s", body, tt.upstream)
				}
				return
			}
			if bytes.Contains(bytes.ToLower(body), []byte("kill")) || !bytes.Contains(body, []byte(`"finish_reason":"content_filter"`)) {
				t.Fatalf("withheld text reached the client: %s", body)
			}
			if strings.HasPrefix(tt.path, "/v1/chat/") {
				var res wire.ChatCompletion
				if err := json.Unmarshal(body, &res); err != nil {
					t.Fatal(err)
				}
				if len(res.Choices) != 2 || res.Choices[0].Logprobs != nil || res.Choices[1].Logprobs == nil || res.Choices[1].Message.Content.Text != good {
					t.Errorf("choices %s: the withheld choice's logprobs must be null, the other's kept", body)
				}
				return
			}
			var res wire.Completion
			if err := json.Unmarshal(body, &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Choices) != 1 || res.Choices[0].Logprobs != nil || res.Choices[0].Text != "" {
				t.Errorf("choices %s: the withheld choice's logprobs must be null", body)
			}
		})
	}
}

func TestTokenBytes(t *testing.T) {
	tests := []struct {
		tok  string
		want int
	}{
		{"hello", 5},
		{"naï", 4},
		{"", 0},
		{`bytes:\xe2\x80`, 2},
		{`bytes:\xE2`, 1},
		{`bytes:`, 6},
		{`bytes:\xe2\x8`, 13},
		{`bytes:\xzz`, 10},
		{`bytes: abc`, 10},
	}
	for _, tt := range tests {
		t.Run(tt.tok, func(t *testing.T) {
			if got := tokenBytes(tt.tok); got != tt.want {
				t.Errorf("tokenBytes(%q) = %d, want %d", tt.tok, got, tt.want)
			}
		})
	}
	if !slices.Equal(modLPTokens("ab cdefg", 3), []string{"ab ", "cde", "fg"}) {
		t.Errorf("modLPTokens: %q", modLPTokens("ab cdefg", 3))
	}
}

// TestModerateStreamLogprobsShapes: held entries go out in whatever shape
// the releasing chunk's logprobs have — a content array, null, an object
// without content, absent, before or after the text — and the result is
// exactly what the client should read.
func TestModerateStreamLogprobsShapes(t *testing.T) {
	e := func(tok string, i int) string {
		return fmt.Sprintf(`{"token":%q,"logprob":%v,"bytes":%s,"top_logprobs":[]}`, tok, modLPLogprob(0, i), strings.Join(strings.Fields(fmt.Sprint(modLPBytes(tok))), ","))
	}
	head := `{"id":"a","object":"chat.completion.chunk","created":1,"model":"m","choices":[`
	chead := `{"id":"b","object":"text_completion","created":1,"model":"m","choices":[`
	tests := []struct {
		name   string
		chat   bool
		tokens []string
		in     []string // data of the upstream events, without the chunk head
		want   []string // data of the client's events, without the chunk head
	}{
		{
			name: "chat", chat: true, tokens: []string{"alpha ", "beta ", "gamma ", "delta ", "epsilon"},
			in: []string{
				`{"index":0,"delta":{"content":"alpha beta "},"logprobs":{"content":[` + e("alpha ", 0) + `,` + e("beta ", 1) + `,` + e("gamma ", 2) + `]},"finish_reason":null}]}`,
				`{"index":0,"logprobs":null,"delta":{"content":"gamma "},"finish_reason":null}]}`,
				`{"index":0,"logprobs":{"refusal":null},"delta":{"content":"delta "},"finish_reason":null}]}`,
				`{"index":0,"delta":{"content":"epsilon"},"logprobs":{"content":[` + e("delta ", 3) + `,` + e("epsilon", 4) + `]},"finish_reason":null}]}`,
				`{"index":0,"delta":{},"finish_reason":"stop"}]}`,
			},
			want: []string{
				`{"index":0,"delta":{"content":"alpha "},"logprobs":{"content":[` + e("alpha ", 0) + `]},"finish_reason":null}]}`,
				`{"index":0,"logprobs":{"content":[` + e("beta ", 1) + `]},"delta":{"content":"beta "},"finish_reason":null}]}`,
				`{"index":0,"logprobs":{"refusal":null,"content":[` + e("gamma ", 2) + `]},"delta":{"content":"gamma "},"finish_reason":null}]}`,
				`{"index":0,"delta":{"content":"delta "},"logprobs":{"content":[` + e("delta ", 3) + `]},"finish_reason":null}]}`,
				`{"index":0,"delta":{"content":"epsilon"},"finish_reason":"stop","logprobs":{"content":[` + e("epsilon", 4) + `]}}]}`,
			},
		},
		{
			name: "completions", tokens: []string{"alpha ", "beta ", "gamma "},
			in: []string{
				`{"index":0,"text":"alpha beta ","logprobs":{"tokens":["alpha ","beta ","gamma "],"token_logprobs":[-1,-2,-3],"top_logprobs":[{"alpha ":-1},null,{"gamma ":-3}],"text_offset":[0,6,11]}}]}`,
				`{"logprobs":null,"index":0,"text":"gamma "}]}`,
				`{"index":0,"finish_reason":"stop"}]}`,
				// After the finish, the text is all out: an entry beyond it passes.
				`{"index":0,"logprobs":{"tokens":["<|endoftext|>"],"token_logprobs":[-4],"top_logprobs":[null],"text_offset":[17]}}]}`,
			},
			want: []string{
				`{"index":0,"text":"alpha ","logprobs":{"tokens":["alpha "],"token_logprobs":[-1],"top_logprobs":[{"alpha ":-1}],"text_offset":[0]}}]}`,
				`{"logprobs":{"tokens":["beta "],"token_logprobs":[-2],"top_logprobs":[null],"text_offset":[6]},"index":0,"text":"beta "}]}`,
				`{"index":0,"finish_reason":"stop","text":"gamma ","logprobs":{"tokens":["gamma "],"token_logprobs":[-3],"top_logprobs":[{"gamma ":-3}],"text_offset":[11]}}]}`,
				`{"index":0,"logprobs":{"tokens":["<|endoftext|>"],"token_logprobs":[-4],"top_logprobs":[null],"text_offset":[17]}}]}`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := head
			if !tt.chat {
				h = chead
			}
			var in, want strings.Builder
			for _, ev := range tt.in {
				in.WriteString("data: " + h + ev + "\n\n")
			}
			for _, ev := range tt.want {
				want.WriteString("data: " + h + ev + "\n\n")
			}
			in.WriteString("data: [DONE]\n\n")
			want.WriteString("data: [DONE]\n\n")
			hd, _ := modTestChain(t, ModerateConfig{Input: InputOff, Stream: moderation.StreamConfig{HoldBack: 4}}, func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = w.Write([]byte(in.String()))
			})
			path, req := "/v1/chat/completions", modStreamReq()
			if !tt.chat {
				path, req = "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"hi","stream":true,"logprobs":1}`
			}
			rec := postJSON(hd, path, req)
			if rec.Body.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", rec.Body, want.String())
			}
			if tt.chat {
				modLPRead(t, true, rec.Body.Bytes(), [][]string{tt.tokens})
			}
		})
	}
}
