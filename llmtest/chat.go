package llmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// chatResult is one choice of a chat completion.
type chatResult struct {
	ch         choice          // the generated text (no calls)
	calls      []wire.ToolCall // tool calls, or the one legacy function_call
	legacy     bool
	completion int // completion tokens
}

func (r *chatResult) finish() wire.FinishReason {
	switch {
	case len(r.calls) > 0 && r.legacy:
		return wire.FinishFunctionCall
	case len(r.calls) > 0:
		return wire.FinishToolCalls
	}
	return r.ch.finish
}

// promptText is the text the model continues for a chat request: the last
// message's content, or, for an assistant message with calls, the
// arguments of its last call.
func promptText(req *wire.ChatCompletionRequest) string {
	last := &req.Messages[len(req.Messages)-1]
	text := last.Content.String()
	if text == "" && len(last.ToolCalls) > 0 {
		text = last.ToolCalls[len(last.ToolCalls)-1].Input()
	}
	if text == "" && last.FunctionCall != nil {
		text = last.FunctionCall.Arguments
	}
	return text
}

func (h *handler) chat(w http.ResponseWriter, r *http.Request, rq *request, body []byte) {
	var req wire.ChatCompletionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		wire.WriteError(w, badJSON(err))
		return
	}
	p, e := h.validateChat(&req)
	if e != nil {
		wire.WriteError(w, e)
		return
	}
	maxTokens := req.MaxOutputTokens()
	if maxTokens == 0 {
		maxTokens = h.cfg.MaxTokens
	}
	// The PRNG streams depend on the seed and on everything that shapes
	// the answer's content, not on stream or n, so a streamed request
	// gives the same choices as the same request not streamed.
	material, _ := json.Marshal(struct {
		M  []wire.Message
		T  []wire.Tool
		F  []wire.FunctionDefinition
		RF *wire.ResponseFormat
	}{req.Messages, req.Tools, req.Functions, req.ResponseFormat})
	seeds := newSeeder(req.Seed, material)
	plan := planTools(&req)
	ctx := h.m.contextOf(promptText(&req))
	enc := h.m.enc
	results := make([]chatResult, req.Choices())
	for i := range results {
		res := &results[i]
		rng := seeds.rng(i)
		switch {
		case len(plan.names) > 0:
			calls, err := h.m.toolCalls(&req, plan, rng)
			if err != nil {
				wire.WriteError(w, wire.InvalidParam("tools", "%v", err))
				return
			}
			res.calls, res.legacy = calls, plan.legacy
			for _, c := range calls {
				res.completion += 3 + enc.Count(c.Name()) + enc.Count(c.Input())
			}
		case req.ResponseFormat != nil && req.ResponseFormat.Type != wire.FormatText:
			var schema json.RawMessage
			if js := req.ResponseFormat.JSONSchema; js != nil {
				schema = js.Schema
			}
			doc, err := generateJSON(schema, rng, h.m.words)
			if err != nil {
				wire.WriteError(w, wire.InvalidParam("response_format", "%v", err))
				return
			}
			res.ch = h.m.forced(doc, p.topN)
			res.completion = res.ch.tokens
		default:
			res.ch = h.m.generate(ctx, &p, rng, maxTokens, req.Stop)
			res.completion = res.ch.tokens
		}
	}
	penc, err := tokens.ForModel(req.Model)
	if err != nil {
		penc = enc
	}
	usage := &wire.Usage{
		PromptTokens:            tokens.CountChat(penc, &req, nil),
		PromptTokensDetails:     &wire.PromptTokensDetails{},
		CompletionTokensDetails: &wire.CompletionTokensDetails{},
	}
	for i := range results {
		usage.CompletionTokens += results[i].completion
	}
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	id := "chatcmpl-" + randomID(seeds.rng(-1), 29)
	created := h.cfg.Now().Unix()
	out := &output{h: h, w: w, r: r, fault: rq.fault}
	if req.Stream {
		out.streamChat(&req, id, created, results, usage, p.topN >= 0)
		return
	}
	resp := wire.ChatCompletion{
		ID:                id,
		Object:            wire.ObjectChatCompletion,
		Created:           created,
		Model:             req.Model,
		Usage:             usage,
		SystemFingerprint: h.m.fingerprint,
	}
	for i := range results {
		res := &results[i]
		c := wire.ChatChoice{Index: i, FinishReason: res.finish(), Message: wire.Message{Role: wire.RoleAssistant}}
		switch {
		case len(res.calls) > 0 && res.legacy:
			fc := res.calls[0].Function
			c.Message.FunctionCall = &fc
		case len(res.calls) > 0:
			c.Message.ToolCalls = res.calls
		default:
			c.Message.Content = wire.TextContent(res.ch.text)
			if p.topN >= 0 {
				c.Logprobs = &wire.ChatLogprobs{Content: h.m.chatLogprobs(res.ch.pieces)}
			}
		}
		resp.Choices = append(resp.Choices, c)
	}
	out.writeJSON(resp, usage.CompletionTokens)
}

// forced is a choice whose text was fixed by a constraint (a JSON
// response format): each of its tokens had probability 1, so its logprob
// is 0 and it is its own only alternative.
func (m *model) forced(text string, topN int) choice {
	ids := m.enc.Encode(text)
	ch := choice{tokens: len(ids), text: text, finish: wire.FinishStop}
	off := 0
	for _, id := range ids {
		t := m.tokenText(int32(id))
		pc := piece{id: int32(id), offset: off, delta: t}
		if topN > 0 {
			pc.alts = []alt{{int32(id), 0}}
		}
		ch.pieces = append(ch.pieces, pc)
		off += len(t)
	}
	return ch
}

// tokenString is a token's text as OpenAI reports it in logprobs: the
// text itself, or "bytes:\xe2\x80" for a token that is not valid UTF-8 on
// its own.
func tokenString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.WriteString("bytes:")
	for i := range len(s) {
		b.WriteString(`\x`)
		b.WriteByte("0123456789abcdef"[s[i]>>4])
		b.WriteByte("0123456789abcdef"[s[i]&15])
	}
	return b.String()
}

func tokenBytes(s string) []int {
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}

// chatLogprobs converts pieces to the logprobs of a chat choice.
func (m *model) chatLogprobs(ps []piece) []wire.TokenLogprob {
	out := make([]wire.TokenLogprob, len(ps))
	for i, pc := range ps {
		t := m.tokenText(pc.id)
		out[i] = wire.TokenLogprob{Token: tokenString(t), Logprob: pc.logp, Bytes: tokenBytes(t), TopLogprobs: []wire.TopLogprob{}}
		for _, a := range pc.alts {
			at := m.tokenText(a.id)
			out[i].TopLogprobs = append(out[i].TopLogprobs, wire.TopLogprob{Token: tokenString(at), Logprob: a.logp, Bytes: tokenBytes(at)})
		}
	}
	return out
}
