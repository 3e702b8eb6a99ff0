package middleware

import (
	"net/http"
	"strconv"

	"github.com/llmgate/llmgate/wire"
)

// countEmbedding sets the token counts of an embeddings call: its input
// counted with the call's encoding, and no completion. It returns the
// index of its longest input and that input's tokens: each input is
// embedded on its own, so the model's context window bounds each, not
// their sum.
//
// A request without input (vLLM's chat-style embeddings send messages
// instead) is estimated at a token per four bytes of its body, as Limit
// estimates a call Count did not see: it reserves what it may cost, and
// settles to the upstream's usage.
func countEmbedding(c *Call) (longest, n int) {
	in := &c.Embedding.Input
	if in.Texts == nil && in.Tokens == nil {
		c.PromptTokens, c.MaxCompletionTokens = rawTokens(c), 0
		return 0, 0
	}
	total := 0
	for i, t := range in.Texts {
		k := c.Encoding.Count(t)
		if total += k; k > n {
			longest, n = i, k
		}
	}
	for i, ids := range in.Tokens {
		if total += len(ids); len(ids) > n {
			longest, n = i, len(ids)
		}
	}
	c.PromptTokens, c.MaxCompletionTokens = total, 0
	return longest, n
}

// embeddingTooLong is the 400 of an embeddings input, the i-th, of n
// tokens, longer than the model's context window.
func embeddingTooLong(c *Call, i, n, window int) *wire.Error {
	param := "input"
	if in := &c.Embedding.Input; len(in.Texts) > 1 || len(in.Tokens) > 1 || in.Nested {
		param = "input[" + strconv.Itoa(i) + "]"
	}
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, "context_length_exceeded", param,
		"This model's maximum context length is %d tokens, however you requested %d tokens in %s. Please reduce the length of the input.",
		window, n, param)
}

// setRequestModel sets the model of the call's parsed request (not
// Call.Model, nor the body).
func (c *Call) setRequestModel(model string) {
	switch {
	case c.Chat != nil:
		c.Chat.Model = model
	case c.Completion != nil:
		c.Completion.Model = model
	case c.Embedding != nil:
		c.Embedding.Model = model
	}
}
