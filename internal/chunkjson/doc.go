// Package chunkjson decodes the chunks of a streamed chat completion
// (wire.ChatCompletionChunk) exactly as json.Unmarshal does — the same
// value or the same error — several times faster and with few
// allocations. The middleware's response tap parses every streamed chunk
// with it, and the cache uses it to merge a recorded stream into one
// completion.
//
// A hand-written reader covers what servers send: content, role and
// refusal deltas (reasoning deltas, which wire.Delta does not hold, are
// passed over as json.Unmarshal passes over them), tool calls with split
// arguments, the legacy
// function call, finish_reason, usage with its details, and logprobs
// (content and refusal entries with token, logprob, bytes and
// top_logprobs). Unknown keys are passed over, their syntax checked; with
// KeepUnknown, those of the chunk, of its choices and of their deltas are
// noted (see Decoder.Unknown), which is how the cache carries
// reasoning_content or vLLM's stop_reason over when it merges a stream and
// how the middleware's tap finds the reasoning text it counts.
// Anything it cannot be sure of — a key that differs from a field only in
// case or has an escape, a key seen twice, a value of an unexpected type,
// an integer with a fraction or out of range, invalid UTF-8 or a lone
// surrogate in a string, invalid JSON — sends the whole chunk to
// json.Unmarshal instead.
//
//	var dec chunkjson.Decoder // strings are copies; set Alias to point into data
//	var ch wire.ChatCompletionChunk
//	for _, data := range events {
//		if err := dec.Decode(data, &ch); err != nil {
//			return err // json.Unmarshal's error
//		}
//		use(ch.Choices) // valid until the next Decode into ch
//	}
package chunkjson
