// Package tokens counts tokens exactly as OpenAI's tiktoken does, fast.
//
// It loads the cl100k_base, o200k_base, p50k_base and r50k_base encodings
// from BPE files compiled into the binary, splits text with hand-written
// equivalents of tiktoken's split patterns, and counts text, chat requests
// (messages, names, tool calls and results, tool definitions, images),
// legacy completion prompts and streamed deltas.
//
//	enc, _ := tokens.ForModel("gpt-4o")      // o200k_base
//	n := enc.Count("Hello, world!")           // 4
//	prompt := tokens.CountChat(enc, req, nil) // what the request is billed
//	sc := enc.NewStreamCounter()              // for streams without usage
//	sc.WriteString(delta)                     // ...then sc.Count()
//
// Everything here is safe for concurrent use.
package tokens
