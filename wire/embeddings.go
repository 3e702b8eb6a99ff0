package wire

// EmbeddingRequest is what llmgate reads of a POST /v1/embeddings body: the
// model and the input. The other members (encoding_format, dimensions,
// user, vLLM's messages, …) are the upstream's business and are passed on
// as the client sent them.
type EmbeddingRequest struct {
	Model string `json:"model"`
	// Input is the input in one of its four forms — a string, an array of
	// strings, an array of token ids, or an array of arrays of token ids
	// — with Prompt's shape: one string is Texts of length 1, an array of
	// token ids is Tokens of length 1 (Nested for an array of arrays).
	// Both are nil when the request has no input (vLLM's chat-style
	// embeddings send messages instead).
	Input Prompt `json:"input,omitzero"`
}
