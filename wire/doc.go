// Package wire is the OpenAI wire format as Go types: the requests and
// responses of /v1/chat/completions, /v1/completions and /v1/moderations,
// stream chunks, the SSE framing that carries them, and the error envelope
// {"error":{"message","type","param","code"}} that every denial uses.
//
// It depends on the standard library only. Decoding is lenient about form
// (content may be a string or parts, stop a string or an array); validation
// of values belongs to middleware.Decode.
//
//	var req wire.ChatCompletionRequest
//	if err := json.Unmarshal(body, &req); err != nil { … }
//	fmt.Println(req.Messages[0].Content.String())
//
//	wire.WriteError(w, wire.InvalidParam("temperature", "temperature must be between 0 and 2"))
//
// All types are plain values: safe to share for reading, not for writing.
package wire
