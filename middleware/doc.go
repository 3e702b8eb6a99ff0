// Package middleware is llmgate's HTTP layer: it turns the domain packages
// into func(http.Handler) http.Handler layers around any OpenAI-compatible
// handler — an in-process handler or a reverse proxy to vLLM, Ollama,
// llama.cpp or OpenAI.
//
//	store, _ := middleware.NewStaticKeyStore([]middleware.KeyEntry{
//		{ID: "alice", SHA256: middleware.HashKey("sk-alice"), Tier: "free"},
//	})
//	h := middleware.Chain(
//		middleware.RequestID,                                 // x-request-id on every response
//		middleware.Recover(middleware.RecoverConfig{}),       // panics become 500 envelopes
//		middleware.Auth(middleware.AuthConfig{Store: store}), // 401 before the body is read
//		middleware.Decode(middleware.DecodeConfig{}),         // read once, validate, 400/404/405/413/415
//		middleware.Count(middleware.CountConfig{}),           // exact prompt tokens, reservation, usage
//	)(upstream)
//
// The full chain, in order: RequestID, Recover, Auth, Decode, Count,
// Moderate (NewModerate: input and output moderation), Policy (NewPolicy:
// OPA decisions), Limit (NewLimit: RPM/TPM with x-ratelimit-* headers),
// Budget (NewBudgets + Budget: worst-case reserve, settle to cost), Cache
// (NewCache: tenant-scoped response cache). examples/proxy assembles it.
//
// Layers share one *Call per request (CallFrom(r.Context())): the principal,
// the parsed request and its raw body, token counts, the policy decision,
// and the observers of the response tap, which parses what the handler
// writes — a JSON body or an SSE stream — once, and tells every subscribed
// layer about chunks and usage, so limits and budgets settle to what was
// really generated, even when the client went away mid-stream. A complete
// answer is sent before that end-of-request work, and on Redis the layers'
// settles and store run side by side (Call.Go), so the client does not
// wait for them.
//
// Every denial is an OpenAI error envelope (package wire) with the status
// OpenAI itself uses.
package middleware
