package chunkjson_test

import (
	"fmt"

	"github.com/llmgate/llmgate/internal/chunkjson"
	"github.com/llmgate/llmgate/wire"
)

// A Decoder reads the data of each event of a stream into one chunk,
// reusing its Choices.
func ExampleDecoder() {
	events := []string{
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"logprobs":{"content":[{"token":"Hel","logprob":-0.1,"bytes":[72,101,108],"top_logprobs":[]}]},"finish_reason":null}]}`,
		`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
	}
	var dec chunkjson.Decoder
	var ch wire.ChatCompletionChunk
	for _, data := range events {
		if err := dec.Decode([]byte(data), &ch); err != nil {
			fmt.Println(err)
			return
		}
		c := ch.Choices[0]
		fmt.Printf("content %q, finish %q", c.Delta.Content, c.FinishReason)
		if c.Logprobs != nil {
			fmt.Printf(", logprob of %q: %v", c.Logprobs.Content[0].Token, c.Logprobs.Content[0].Logprob)
		}
		if ch.Usage != nil {
			fmt.Printf(", total tokens %d", ch.Usage.TotalTokens)
		}
		fmt.Println()
	}
	// Output:
	// content "Hel", finish "", logprob of "Hel": -0.1
	// content "lo", finish "stop", total tokens 5
}
