// Package policy decides, for each request, whether llmgate lets it through
// and on what terms, by evaluating OPA/Rego policies. It loads .rego files
// (and data.json/data.yaml) from a directory or an fs.FS, compiles them
// once, compiles one query (data.llmgate.decision) and evaluates it per
// request. The shipped [Library] (model access by tier, max_tokens caps,
// budgets, moderation) is the default. Policies reload on file change and
// on SIGHUP; one that does not compile never replaces the last good one.
//
// # Evaluators
//
// By default ([EvaluatorAuto]) the query is planned once by OPA's own
// planner — the one behind OPA's Wasm target — and the plan is run per
// request by llmgate's IR evaluator (package policy/internal/vm), with the
// [Input] read lazily: a member is built when the policy first reads it.
// It gives topdown's decisions (it passes OPA's compliance suite and is
// checked against topdown on the library and on fuzzed inputs) several
// times faster. A policy using something that evaluator does not support
// is evaluated by topdown, OPA's reference evaluator, and the engine logs
// why at load; [Config].Evaluator can also ask for either one.
//
//	e, err := policy.New(ctx, policy.Config{Dir: "./policies"})
//	if err != nil { ... }          // wraps ErrLoad or ErrCompile
//	defer e.Close()
//	e.ReloadOnSignal(ctx)          // SIGHUP reloads
//	d, err := e.Decide(ctx, &policy.Input{Request: ..., Principal: ..., Model: ...})
//	if env := policy.Deny(d, err, requestID); env != nil {
//		wire.WriteError(w, env) // 403/404/429/400, or 500 for any engine error
//	}
//
// README.md documents the input and decision documents for Rego authors.
//
// # Wiring in middleware.Policy
//
// The HTTP layer, middleware.Policy, is thin:
//
//  1. Build the Input from the Call: Request from Call.Chat/Completion
//     (endpoint, requested model, stream, n, max tokens, tool names,
//     image/audio parts), Principal from Call.Principal, Model from the
//     models catalog for Call.Model, Tokens from the Count layer, Cost and
//     Budgets from billing's worst-case estimate and ledger, Moderation
//     from the input moderation result when there is one.
//  2. d, err := e.Decide(ctx, in). On err or !d.Allow send Deny(d, err,
//     Call.RequestID) with wire.WriteError; for a 429 also set
//     x-should-retry: false. Log err server-side; the envelope never
//     carries it.
//  3. Apply an allowed decision before the next layer: d.Model rewrites
//     the model (patch Raw, set Call.Model); d.MaxTokens caps max tokens
//     (patch Raw when the request asks for more or for none); d.Limits go
//     to the limiter; d.Cache to the cache layer; d.Redact to the
//     moderation layer, which redacts those categories.
//
// An Engine is safe for concurrent use; one per process is enough.
package policy
