package tokens

import "github.com/llmgate/llmgate/wire"

// CountEmbedding returns the tokens of an embeddings request's input as
// OpenAI bills them (usage.prompt_tokens): each string counted with enc,
// each array of token ids by its length, with nothing added per input. A
// request without input counts 0.
func CountEmbedding(enc *Encoding, req *wire.EmbeddingRequest) int {
	n := 0
	for _, t := range req.Input.Texts {
		n += enc.Count(t)
	}
	for _, ids := range req.Input.Tokens {
		n += len(ids)
	}
	return n
}
