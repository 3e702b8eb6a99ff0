package cache

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// TestMergeChatEventsSameAsJSON merges generated streams — several
// choices, logprobs, tool calls whose arguments arrive in pieces, a
// refusal, the legacy function call, a usage chunk, unknown fields,
// escapes, odd spacing and now and then a chunk only json.Unmarshal reads —
// with mergeChatEvents and with refMergeChatEvents, the json.Unmarshal
// version it replaced, and wants the same JSON body, or the same error.
func TestMergeChatEventsSameAsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 300 {
		events := genChatStream(rng)
		got, gotExtras, gotErr := mergeChatEvents(events)
		want, wantErr := refMergeChatEvents(events)
		var wantExtras extraSet
		for _, data := range events { // the slow walk, for every chunk
			if wantErr == nil {
				if wantErr = chunkError(data); wantErr == nil {
					wantErr = unknownMembers(data, chatChunkShape, wantExtras.add)
				}
			}
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("stream %d: error %v, reference %v\n%s", i, gotErr, wantErr, slices.Concat(events...))
		}
		if wantErr != nil {
			continue
		}
		gb, err1 := marshal(got)
		wb, err2 := marshal(want)
		if err1 == nil && err2 == nil {
			gb, err1 = splice(gb, gotExtras.top, gotExtras.choices, "message")
			wb, err2 = splice(wb, wantExtras.top, wantExtras.choices, "message")
		}
		if err1 != nil || err2 != nil || string(gb) != string(wb) {
			t.Fatalf("stream %d:\n got %s\nwant %s\nevents:\n%s", i, gb, wb, slices.Concat(events...))
		}
	}
}

// genChatStream makes a random chat stream of a few choices.
func genChatStream(rng *rand.Rand) [][]byte {
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	texts := []string{"Hello", " world", "", "a\nb", `quote " and \ back`, "é€😀", "<tag> & more", "\u2028", "\x00"}
	str := func() string {
		b, _ := json.Marshal(texts[rng.IntN(len(texts))])
		s := string(b)
		if rng.IntN(8) == 0 {
			s = `"\u00e9\ud83d\ude00\/"` // escapes json.Marshal does not write
		}
		return s
	}
	head := `"id":"chatcmpl-` + pick("1", "2") + `","object":"chat.completion.chunk","created":` + pick("1700000000", "0", "null") + `,"model":"` + pick("gpt-4o-mini", "m") + `"`
	if rng.IntN(3) == 0 {
		head += `,"system_fingerprint":"fp_1","service_tier":` + pick(`"default"`, "null")
	}
	if rng.IntN(3) == 0 {
		head += `,"obfuscation":"Zx9q","x_unknown":{"a":[1,2.5e-3,true,null,{"b":"c"}]},"provider":"` + pick("p", "q") + `"`
	}
	if rng.IntN(4) == 0 {
		head += `,"error":null`
	}
	choices := 1 + rng.IntN(3)
	var events [][]byte
	chunk := func(body string) {
		ws := pick("", " ", "\n")
		events = append(events, []byte(ws+"{"+head+","+body+"}"+ws))
	}
	for c := range choices {
		chunk(fmt.Sprintf(`"choices":[{"index":%d,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`, c))
	}
	for range 3 + rng.IntN(10) {
		c := rng.IntN(choices)
		var delta, extra string
		switch rng.IntN(9) {
		case 0, 1:
			delta = `"content":` + str()
		case 2:
			delta = `"content":` + str()
			extra = `,"logprobs":{"content":[{"token":"t","logprob":-0.5,"bytes":[116],"top_logprobs":[{"token":"u","logprob":-1.25,"bytes":[117]}]}]}`
		case 3:
			delta = `"refusal":` + str()
			if rng.IntN(2) == 0 {
				extra = `,"logprobs":{"content":null,"refusal":[{"token":"no","logprob":-0.1,"bytes":[110,111],"top_logprobs":[]}]}`
			}
		case 4: // a tool call, its arguments in pieces
			idx := rng.IntN(2)
			id := ""
			if rng.IntN(2) == 0 {
				id = fmt.Sprintf(`"id":"call_%d","type":"function",`, idx)
			}
			delta = fmt.Sprintf(`"tool_calls":[{"index":%d,%s"function":{"name":%q,"arguments":%s}}]`, idx, id, pick("weather", "", "time"), pick(`"{\"city\":"`, `"\"Paris\"}"`, `""`))
		case 5:
			delta = fmt.Sprintf(`"function_call":{"name":%q,"arguments":%s}`, pick("f", ""), pick(`"{\"a\":"`, `"1}"`))
		case 6:
			delta = `"content":null,"x_delta":[]`
		case 7: // members the wire types do not hold, merged by the cache
			delta = `"reasoning_content":` + str() + pick(``, `,"content":`+str())
		case 8:
			delta = pick(`"annotations":[{"type":"url_citation","url_citation":{"url":"https://a"}}]`, `"annotations":[]`, `"x_obj":{"v":`+pick("1", "2")+`}`)
		}
		if rng.IntN(4) == 0 {
			extra += pick(`,"stop_reason":null`, `,"token_ids":[1,2]`, `,"x_c":{"s":"c","n":[1]}`)
		}
		chunk(fmt.Sprintf(`"choices":[{"index":%d,"delta":{%s}%s,"finish_reason":null}]`, c, delta, extra))
	}
	for c := range choices { // with members of the choice the wire types do not hold, now and then
		chunk(fmt.Sprintf(`"choices":[{"index":%d,"delta":{},"finish_reason":%q%s}]`, c, pick("stop", "length", "tool_calls"),
			pick(``, ``, `,"stop_reason":null`, `,"stop_reason":7,"token_ids":[7]`, `,"token_ids":[],"x_c":{"s":"`+pick("a", "b")+`"}`)))
	}
	if rng.IntN(2) == 0 {
		chunk(`"choices":[],"usage":{"prompt_tokens":31,"completion_tokens":12,"total_tokens":43,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":0}}`)
	}
	if rng.IntN(20) == 0 { // an error event after the answer
		events = append(events, []byte(`{"error":{"message":"stopped","type":"insufficient_quota"}}`))
	}
	if rng.IntN(10) == 0 { // a chunk only json.Unmarshal reads, or an invalid one
		i := rng.IntN(len(events))
		events[i] = []byte(strings.Replace(string(events[i]), pick(`"model"`, `"index"`, `"content"`), pick(`"Model"`, `"Index"`, `"content":1,"content"`, `"\u006dodel"`), 1))
	}
	return events
}

// refMergeChatEvents is mergeChatEvents with
// json.Unmarshal for every chunk: the reference of the tests above and
// of BenchmarkMergeChatEvents.
func refMergeChatEvents(events [][]byte) (*wire.ChatCompletion, error) {
	out := &wire.ChatCompletion{Object: wire.ObjectChatCompletion}
	var states []*chatState
	state := func(i int) *chatState {
		for _, s := range states {
			if s.index == i {
				return s
			}
		}
		s := &chatState{index: i}
		states = append(states, s)
		return s
	}
	for n, data := range events {
		var ch wire.ChatCompletionChunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return nil, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		if ch.Object != "" && ch.Object != wire.ObjectChatCompletionChunk {
			return nil, fmt.Errorf("cache: stream event %d: object %q", n, ch.Object)
		}
		if err := chunkError(data); err != nil {
			return nil, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		setOnce(&out.ID, ch.ID)
		setOnce(&out.Model, ch.Model)
		setOnce(&out.SystemFingerprint, ch.SystemFingerprint)
		setOnce(&out.ServiceTier, ch.ServiceTier)
		if out.Created == 0 {
			out.Created = ch.Created
		}
		if ch.Usage != nil {
			out.Usage = ch.Usage
		}
		for _, c := range ch.Choices {
			s := state(c.Index)
			d := c.Delta
			setOnce(&s.role, d.Role)
			s.content.WriteString(d.Content)
			s.refusal.WriteString(d.Refusal)
			for _, tc := range d.ToolCalls {
				s.addToolCall(tc)
			}
			if d.FunctionCall != nil {
				if s.fn == nil {
					s.fn = &wire.FunctionCall{}
				}
				setOnce(&s.fn.Name, d.FunctionCall.Name)
				s.fn.Arguments += d.FunctionCall.Arguments
			}
			if c.FinishReason != "" {
				s.finish = c.FinishReason
			}
			if c.Logprobs != nil {
				if s.logprobs == nil {
					s.logprobs = &wire.ChatLogprobs{Content: []wire.TokenLogprob{}}
				}
				s.logprobs.Content = append(s.logprobs.Content, c.Logprobs.Content...)
				s.logprobs.Refusal = append(s.logprobs.Refusal, c.Logprobs.Refusal...)
			}
		}
	}
	slices.SortFunc(states, func(a, b *chatState) int { return a.index - b.index })
	out.Choices = make([]wire.ChatChoice, len(states))
	for i, s := range states {
		m := wire.Message{Role: s.role, Refusal: s.refusal.String(), FunctionCall: s.fn}
		if m.Role == "" {
			m.Role = wire.RoleAssistant
		}
		for j := range s.calls {
			s.finishCall(j)
		}
		finishToolCalls(s.calls)
		m.ToolCalls = s.calls
		if text := s.content.String(); text != "" || (len(s.calls) == 0 && s.fn == nil && m.Refusal == "") {
			m.Content = wire.TextContent(text)
		}
		out.Choices[i] = wire.ChatChoice{Index: s.index, Message: m, FinishReason: s.finish, Logprobs: s.logprobs}
	}
	return out, nil
}

// BenchmarkMergeChatEvents converts the 2 KiB answer of hit2K, recorded as
// 40 chunks, into a JSON body: mergeJSON (chunkjson.Decoder) against
// decoder=json, the same conversion with refMergeChatEvents, and
// baseline=marshal, which only encodes the merged completion (the part
// both share). Each iteration converts afresh, as a hit read from Redis
// does (the memo in Entry.JSON is per entry).
func BenchmarkMergeChatEvents(b *testing.B) {
	_, e := hit2K(b)
	merged, err := refMergeChatEvents(e.Events)
	if err != nil {
		b.Fatal(err)
	}
	want, _ := marshal(merged)
	b.Run("decoder=json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, err := refMergeChatEvents(e.Events)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := marshal(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decoder=chunkjson", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, err := e.mergeJSON()
			if err != nil || len(out) != len(want) {
				b.Fatal(err, len(out))
			}
		}
	})
	b.Run("baseline=marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := marshal(merged); err != nil {
				b.Fatal(err)
			}
		}
	})
}
