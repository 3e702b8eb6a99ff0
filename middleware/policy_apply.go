package middleware

import (
	"net/http"

	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// apply carries out an allowed decision's model rewrite and max_tokens
// cap on the request and the Call. An embeddings request has no
// completion to cap.
func (p *Policy) apply(r *http.Request, c *Call, d *policy.Decision) *wire.Error {
	if d.Model != "" {
		if e := p.rewrite(r, c, d.Model); e != nil {
			return e
		}
	}
	if d.MaxTokens > 0 && c.Embedding == nil {
		if e := p.capTokens(r, c, d.MaxTokens); e != nil {
			return e
		}
	}
	if len(d.Redact) > 0 {
		// The policy chose to redact these categories instead of blocking:
		// Moderate ran before Policy, so the redaction happens here.
		if _, err := RedactInput(r, d.Redact, nil); err != nil {
			p.cfg.Logger.ErrorContext(r.Context(), "middleware: policy redact decision failed", "request_id", c.RequestID, "err", err)
			return wire.ServerError(c.RequestID)
		}
	}
	return nil
}

// rewrite sends the request to model instead: it patches the body's model,
// updates the Call's model and ModelInfo, counts the prompt again when the
// encoding changes (only when Count counted it), and bounds the completion
// reservation — and the request's max tokens — by the new model's output
// cap and context window.
func (p *Policy) rewrite(r *http.Request, c *Call, model string) *wire.Error {
	m, _ := p.cfg.Catalog.Resolve(model)
	if m.Name == c.Model {
		return nil
	}
	if err := c.SetField(r, "model", m.Name); err != nil {
		p.cfg.Logger.ErrorContext(r.Context(), "middleware: policy model rewrite failed", "request_id", c.RequestID, "err", err)
		return wire.ServerError(c.RequestID)
	}
	c.Model = m.Name
	c.setRequestModel(m.Name)
	c.ModelInfo = m
	if c.Encoding == nil {
		return nil // no Count: nothing counted to redo
	}
	if c.Encoding.Name() != m.Encoding {
		enc, err := tokens.Get(m.Encoding)
		if err != nil {
			if enc, err = tokens.ForModel(m.Name); err != nil {
				p.cfg.Logger.ErrorContext(r.Context(), "middleware: policy model rewrite: no encoding", "request_id", c.RequestID, "model", m.Name, "err", err)
				return wire.ServerError(c.RequestID)
			}
		}
		c.Encoding = enc
		switch {
		case c.Chat != nil:
			c.PromptTokens = tokens.CountChat(enc, c.Chat, p.cfg.Chat)
		case c.Completion != nil:
			c.PromptTokens = tokens.CountPrompt(enc, c.Completion)
		default:
			countEmbedding(c)
		}
	}
	if c.Embedding != nil {
		return nil // no completion to bound
	}
	outputs := callOutputs(c)
	requested := requestedMaxTokens(c)
	per := requested
	if per == 0 {
		per = m.MaxOutput
	}
	if per == 0 {
		per = c.MaxCompletionTokens / outputs
	}
	if m.MaxOutput > 0 {
		per = min(per, m.MaxOutput)
	}
	if m.ContextWindow > 0 {
		room := m.ContextWindow - c.PromptTokens
		if room <= 0 {
			return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, "context_length_exceeded", "messages",
				"This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.",
				m.ContextWindow, c.PromptTokens)
		}
		per = min(per, room)
	}
	c.MaxCompletionTokens = per * outputs
	if requested > per {
		return p.setMaxTokens(r, c, per)
	}
	return nil
}

// capTokens applies a decision's max_tokens: a request asking for more,
// or for no limit, is sent with max tokens = limit.
func (p *Policy) capTokens(r *http.Request, c *Call, limit int) *wire.Error {
	if requested := requestedMaxTokens(c); requested == 0 || requested > limit {
		if e := p.setMaxTokens(r, c, limit); e != nil {
			return e
		}
	}
	if total := limit * callOutputs(c); c.MaxCompletionTokens == 0 || c.MaxCompletionTokens > total {
		c.MaxCompletionTokens = total
	}
	return nil
}

// setMaxTokens sets the request's max tokens per choice to n: each of
// max_tokens and max_completion_tokens it sets above n, or, when it sets
// neither, ChatMaxTokensParam (max_tokens for completions).
func (p *Policy) setMaxTokens(r *http.Request, c *Call, n int) *wire.Error {
	set := func(field string, dst **int) *wire.Error {
		if err := c.SetField(r, field, n); err != nil {
			p.cfg.Logger.ErrorContext(r.Context(), "middleware: policy max_tokens cap failed", "request_id", c.RequestID, "err", err)
			return wire.ServerError(c.RequestID)
		}
		v := n
		*dst = &v
		return nil
	}
	if c.Completion != nil {
		return set("max_tokens", &c.Completion.MaxTokens)
	}
	ch := c.Chat
	if ch.MaxTokens == nil && ch.MaxCompletionTokens == nil {
		if p.cfg.ChatMaxTokensParam == "max_tokens" {
			return set("max_tokens", &ch.MaxTokens)
		}
		return set("max_completion_tokens", &ch.MaxCompletionTokens)
	}
	if ch.MaxCompletionTokens != nil && *ch.MaxCompletionTokens > n {
		if e := set("max_completion_tokens", &ch.MaxCompletionTokens); e != nil {
			return e
		}
	}
	if ch.MaxTokens != nil && *ch.MaxTokens > n {
		return set("max_tokens", &ch.MaxTokens)
	}
	return nil
}

// requestedMaxTokens is the max tokens per choice the request asks for; 0
// when it sets none.
func requestedMaxTokens(c *Call) int {
	if c.Chat != nil {
		return c.Chat.MaxOutputTokens()
	}
	return derefInt(c.Completion.MaxTokens)
}

// callOutputs is how many completions the request can produce, as Count
// counts them: n (or best_of) per prompt.
func callOutputs(c *Call) int {
	if c.Chat != nil {
		return max(c.Chat.Choices(), 1)
	}
	out := max(c.Completion.Choices(), derefInt(c.Completion.BestOf), 1)
	if p := len(c.Completion.Prompt.Texts) + len(c.Completion.Prompt.Tokens); p > 1 {
		out *= p
	}
	return out
}
