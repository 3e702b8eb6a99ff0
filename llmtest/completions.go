package llmtest

import (
	"encoding/json"
	"net/http"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// maxLegacyLogprobs is the most alternatives /v1/completions reports.
const maxLegacyLogprobs = 5

// completions serves the legacy /v1/completions. Every prompt gets n
// choices (index prompt·n + i). echo prepends the prompt to the text (its
// tokens get no logprobs: offsets account for it); suffix is counted in the
// prompt tokens but not generated around; best_of is accepted and treated
// as n.
func (h *handler) completions(w http.ResponseWriter, r *http.Request, rq *request, body []byte) {
	var req wire.CompletionRequest
	if err := json.Unmarshal(body, &req); err != nil {
		wire.WriteError(w, badJSON(err))
		return
	}
	if e := h.checkModel(req.Model); e != nil {
		wire.WriteError(w, e)
		return
	}
	p, e := h.sampling(req.Temperature, req.TopP, req.FrequencyPenalty, req.PresencePenalty, req.LogitBias, req.N, req.Stop, req.MaxTokens, "max_tokens")
	if e != nil {
		wire.WriteError(w, e)
		return
	}
	if req.Logprobs != nil {
		if *req.Logprobs < 0 || *req.Logprobs > maxLegacyLogprobs {
			wire.WriteError(w, wire.InvalidParam("logprobs", "%d is not a valid value for 'logprobs': it must be between 0 and %d.", *req.Logprobs, maxLegacyLogprobs))
			return
		}
		p.topN = *req.Logprobs
	}
	if req.StreamOptions != nil && !req.Stream {
		wire.WriteError(w, wire.InvalidParam("stream_options", "'stream_options' is only allowed when 'stream' is true."))
		return
	}
	var prompts []string
	switch {
	case req.Prompt.Tokens != nil:
		for i, ids := range req.Prompt.Tokens {
			t, err := h.m.enc.Decode(ids)
			if err != nil {
				wire.WriteError(w, wire.InvalidParam("prompt", "prompt %d: %v", i, err))
				return
			}
			prompts = append(prompts, t)
		}
	case len(req.Prompt.Texts) > 0:
		prompts = req.Prompt.Texts
	default:
		prompts = []string{""} // OpenAI treats a missing prompt as <|endoftext|>
	}
	maxTokens := h.cfg.MaxTokens
	if req.MaxTokens != nil {
		maxTokens = *req.MaxTokens
	}
	n := req.Choices()
	results := make([]choice, 0, len(prompts)*n)
	echo := make([]string, 0, cap(results))
	usage := &wire.Usage{}
	for _, prompt := range prompts {
		seeds := newSeeder(req.Seed, []byte(prompt))
		ctx := h.m.contextOf(prompt)
		for i := range n {
			ch := h.m.generate(ctx, &p, seeds.rng(i), maxTokens, req.Stop)
			usage.CompletionTokens += ch.tokens
			results = append(results, ch)
			if req.Echo {
				echo = append(echo, prompt)
			} else {
				echo = append(echo, "")
			}
		}
	}
	penc, err := tokens.ForModel(req.Model)
	if err != nil {
		penc = h.m.enc
	}
	usage.PromptTokens = tokens.CountPrompt(penc, &req)
	usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
	id := "cmpl-" + randomID(newSeeder(req.Seed, body).rng(-1), 29)
	resp := wire.Completion{
		ID: id, Object: wire.ObjectTextCompletion, Created: h.cfg.Now().Unix(), Model: req.Model,
		SystemFingerprint: h.m.fingerprint,
	}
	out := &output{h: h, w: w, r: r, fault: rq.fault}
	if req.Stream {
		out.streamCompletion(&req, resp, results, echo, usage, p.topN >= 0)
		return
	}
	resp.Usage = usage
	for i := range results {
		c := wire.CompletionChoice{Index: i, Text: echo[i] + results[i].text, FinishReason: results[i].finish}
		if p.topN >= 0 {
			c.Logprobs = h.m.legacyLogprobs(results[i].pieces, len(echo[i]))
		}
		resp.Choices = append(resp.Choices, c)
	}
	out.writeJSON(resp, usage.CompletionTokens)
}

// legacyLogprobs converts pieces to the parallel arrays of the legacy
// logprobs; offsets start at base.
func (m *model) legacyLogprobs(ps []piece, base int) *wire.CompletionLogprobs {
	lp := &wire.CompletionLogprobs{
		Tokens:        make([]string, len(ps)),
		TokenLogprobs: make([]float64, len(ps)),
		TopLogprobs:   make([]map[string]float64, len(ps)),
		TextOffset:    make([]int, len(ps)),
	}
	for i, pc := range ps {
		lp.Tokens[i] = tokenString(m.tokenText(pc.id))
		lp.TokenLogprobs[i] = pc.logp
		lp.TextOffset[i] = base + pc.offset
		top := make(map[string]float64, len(pc.alts))
		for _, a := range pc.alts {
			top[tokenString(m.tokenText(a.id))] = a.logp
		}
		lp.TopLogprobs[i] = top
	}
	return lp
}

// streamCompletion sends a legacy completion as events of text_completion
// objects: the echoed prompt, one event per token, a finish event per
// choice, the usage event when asked, and [DONE].
func (o *output) streamCompletion(req *wire.CompletionRequest, base wire.Completion, results []choice, echo []string, usage *wire.Usage, logprobs bool) {
	m := o.h.m
	event := func(c wire.CompletionChoice) *wire.Completion {
		e := base
		e.Choices = []wire.CompletionChoice{c}
		return &e
	}
	o.start()
	for i := range results {
		if echo[i] != "" {
			o.event(event(wire.CompletionChoice{Index: i, Text: echo[i]}))
		}
	}
	longest := 0
	for i := range results {
		longest = max(longest, len(results[i].pieces))
	}
	for k := range longest {
		for i := range results {
			if k >= len(results[i].pieces) {
				continue
			}
			pc := results[i].pieces[k]
			c := wire.CompletionChoice{Index: i, Text: pc.delta}
			if logprobs {
				c.Logprobs = m.legacyLogprobs([]piece{pc}, len(echo[i]))
			}
			o.token(event(c))
		}
	}
	for i := range results {
		o.event(event(wire.CompletionChoice{Index: i, FinishReason: results[i].finish}))
	}
	if req.IncludeUsage() {
		e := base
		e.Choices = []wire.CompletionChoice{}
		e.Usage = usage
		o.event(&e)
	}
	o.done()
}
