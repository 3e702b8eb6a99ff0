package llmtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// output writes one response, applying the request's fault: delays,
// malformed data and cuts.
type output struct {
	h     *handler
	w     http.ResponseWriter
	r     *http.Request
	fault Fault

	sw        *wire.Writer
	sent      int // token chunks sent
	malformed bool
	gone      bool // the client left or a write failed: write nothing more
}

func (o *output) sleep(d time.Duration) bool {
	if d <= 0 || o.gone {
		return !o.gone
	}
	if o.h.cfg.Sleep(o.r.Context(), d) != nil {
		o.gone = true
	}
	return !o.gone
}

// writeJSON sends a response that is not streamed, after TTFT and
// PerToken × completion tokens. MalformedAfter sends the first half of the
// body as if it were all of it; CutAfter announces the whole body, sends
// half and aborts the connection.
func (o *output) writeJSON(v any, completion int) {
	body, err := json.Marshal(v)
	if err != nil {
		wire.WriteError(o.w, wire.ServerError(""))
		return
	}
	body = append(body, '\n')
	if !o.sleep(o.fault.TTFT) || !o.sleep(o.fault.PerToken*time.Duration(completion)) {
		return
	}
	h := o.w.Header()
	h.Set("Content-Type", "application/json")
	switch {
	case o.fault.CutAfter > 0:
		h.Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = o.w.Write(body[:len(body)/2])
		_ = http.NewResponseController(o.w).Flush()
		panic(http.ErrAbortHandler)
	case o.fault.MalformedAfter > 0:
		body = body[:len(body)/2]
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = o.w.Write(body)
}

// start sends the headers of an event stream.
func (o *output) start() {
	h := o.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	o.w.WriteHeader(http.StatusOK)
	o.sw = wire.NewWriter(o.w)
}

// event sends a chunk that carries no token.
func (o *output) event(v any) {
	if o.gone {
		return
	}
	if o.sw.WriteJSON(v) != nil {
		o.gone = true
	}
}

// token sends a chunk that carries a token: TTFT before the first,
// PerToken before each, then the malformed event or the cut when their
// count is reached.
func (o *output) token(v any) {
	if o.sent == 0 && !o.sleep(o.fault.TTFT) {
		return
	}
	if !o.sleep(o.fault.PerToken) {
		return
	}
	o.event(v)
	o.sent++
	if o.fault.MalformedAfter == o.sent && !o.malformed && !o.gone {
		o.malformed = true
		if o.sw.WriteData([]byte(`{"id":"llmtest-malformed","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"`)) != nil {
			o.gone = true
		}
	}
	if o.fault.CutAfter == o.sent && !o.gone {
		panic(http.ErrAbortHandler)
	}
}

func (o *output) done() {
	if !o.gone {
		_ = o.sw.WriteDone()
	}
}

// chunkItem is one token chunk of a choice: a content piece, or a fragment
// of a tool call.
type chunkItem struct {
	delta    wire.Delta
	logprobs *wire.ChatLogprobs
}

// chatItems splits a choice into the chunks a stream sends for it: one per
// token of content, or, per call, a header fragment (id, type, name) and
// one fragment per token of the arguments (or of a custom call's input).
func (m *model) chatItems(res *chatResult, logprobs bool) []chunkItem {
	var items []chunkItem
	if len(res.calls) == 0 {
		for _, pc := range res.ch.pieces {
			it := chunkItem{delta: wire.Delta{Content: pc.delta}}
			if logprobs {
				it.logprobs = &wire.ChatLogprobs{Content: m.chatLogprobs([]piece{pc})}
			}
			items = append(items, it)
		}
		return items
	}
	for j, c := range res.calls {
		if cc := c.Custom; cc != nil { // a custom call: its input in pieces, as arguments are
			items = append(items, chunkItem{delta: wire.Delta{ToolCalls: []wire.ToolCall{{
				Index: new(j), ID: c.ID, Type: c.Type, Custom: &wire.CustomCall{Name: cc.Name},
			}}}})
			for _, id := range m.enc.Encode(cc.Input) {
				items = append(items, chunkItem{delta: wire.Delta{ToolCalls: []wire.ToolCall{{
					Index: new(j), Custom: &wire.CustomCall{Input: m.tokenText(int32(id))},
				}}}})
			}
			continue
		}
		if res.legacy {
			items = append(items, chunkItem{delta: wire.Delta{FunctionCall: &wire.FunctionCall{Name: c.Function.Name}}})
		} else {
			items = append(items, chunkItem{delta: wire.Delta{ToolCalls: []wire.ToolCall{{
				Index: new(j), ID: c.ID, Type: c.Type, Function: wire.FunctionCall{Name: c.Function.Name},
			}}}})
		}
		for _, id := range m.enc.Encode(c.Function.Arguments) {
			frag := m.tokenText(int32(id))
			if res.legacy {
				items = append(items, chunkItem{delta: wire.Delta{FunctionCall: &wire.FunctionCall{Arguments: frag}}})
			} else {
				items = append(items, chunkItem{delta: wire.Delta{ToolCalls: []wire.ToolCall{{
					Index: new(j), Function: wire.FunctionCall{Arguments: frag},
				}}}})
			}
		}
	}
	return items
}

// streamChat sends results as chat.completion.chunk events: a role chunk
// per choice, the token chunks of all choices in turn, a finish chunk per
// choice, the usage chunk when stream_options.include_usage is set, and
// [DONE].
func (o *output) streamChat(req *wire.ChatCompletionRequest, id string, created int64, results []chatResult, usage *wire.Usage, logprobs bool) {
	m := o.h.m
	chunk := func(choices ...wire.ChunkChoice) *wire.ChatCompletionChunk {
		return &wire.ChatCompletionChunk{
			ID: id, Object: wire.ObjectChatCompletionChunk, Created: created, Model: req.Model,
			SystemFingerprint: m.fingerprint, Choices: choices,
		}
	}
	items := make([][]chunkItem, len(results))
	longest := 0
	for i := range results {
		items[i] = m.chatItems(&results[i], logprobs)
		longest = max(longest, len(items[i]))
	}
	o.start()
	for i := range results {
		o.event(chunk(wire.ChunkChoice{Index: i, Delta: wire.Delta{Role: wire.RoleAssistant}}))
	}
	for k := range longest {
		for i := range results {
			if k < len(items[i]) {
				it := items[i][k]
				o.token(chunk(wire.ChunkChoice{Index: i, Delta: it.delta, Logprobs: it.logprobs}))
			}
		}
	}
	for i := range results {
		o.event(chunk(wire.ChunkChoice{Index: i, FinishReason: results[i].finish()}))
	}
	if req.IncludeUsage() {
		c := chunk()
		c.Choices = []wire.ChunkChoice{}
		c.Usage = usage
		o.event(c)
	}
	o.done()
}
