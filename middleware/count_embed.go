package middleware

import "github.com/llmgate/llmgate/tokens"

// countEmbedding sets the token counts of an embeddings call: its input
// counted with the call's encoding, and no completion. The model's context
// window bounds each input, not their sum, and is left to the upstream.
func countEmbedding(c *Call) {
	c.PromptTokens = tokens.CountEmbedding(c.Encoding, c.Embedding)
	c.MaxCompletionTokens = 0
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
