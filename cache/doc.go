// Package cache is llmgate's response cache, without HTTP: canonical keys
// scoped by tenant, the cacheability rules, stored entries (a JSON body or
// a recorded SSE stream) with their conversions and replay, stores in
// memory and on Redis, and a singleflight group.
//
//	key, _ := cache.ComputeKey(cache.KeyInput{Endpoint: "/v1/chat/completions",
//		Model: "gpt-4o-mini", Scope: cache.NewScope(cache.ScopeKey, keyID, org), Body: raw})
//	plan := cache.Decide(cache.ReproducibleChat(req), cache.OverrideNone,
//		cache.ParseCacheControl(r.Header.Values("Cache-Control")...))
//	if e, ok, _ := store.Get(ctx, key); plan.Lookup && ok {
//		events, _ := e.StreamEvents(req.IncludeUsage()) // or e.JSON()
//		_ = cache.Replay(ctx, w, flush, events, cache.Pacing{})
//	}
//
// # Intended wiring in middleware.Cache
//
// After Decode (and alias resolution), per request: compute the Key from
// Call.Endpoint.Path(), Call.Model, the configured ScopeKind applied to the
// principal (NewScope; default ScopeKey) and Call.Raw; decide with
// ReproducibleChat/ReproducibleCompletion, the policy's Override and the
// client's Cache-Control. Plan.Bypass → x-cache: BYPASS, call next. If
// Plan.Lookup and the store has an entry no older than Plan.MaxAge: serve
// it (x-cache: HIT, age: whole seconds of Entry.Age, Content-Type
// application/json or text/event-stream) — e.JSON() for a non-streamed
// request, Replay(e.StreamEvents(includeUsage)) for a streamed one — and
// settle limits and billing per policy (default: the request counts, its
// tokens and cost are not charged; log Entry.Usage as saved cost).
// Plan.OnlyIfCached on a miss → 504 envelope. Otherwise (x-cache: MISS)
// run Group.Join keyed by the same Key (Lead.Finish when the response
// ended): the leader subscribes an Observer whose OnChunk calls
// Recorder.Add(ch.Data) (Add copies) and whose OnEnd calls
// Recorder.Finish(res.Status, usage, now) with the usage reported or
// counted (so a stream without a usage chunk still stores one) — or
// NewBodyEntry for a JSON
// body — and, when Plan.Store, Store.Set. Followers serve the leader's
// entry as a hit, or call next themselves when Do returns an error.
//
// # Keys
//
// A Key is the Scope plus a SHA-256 over the endpoint, the model and the
// canonical body, itself JSON text: object members sorted by name (names
// compared after unescaping, re-escaped only where a quote, a backslash or
// a control byte forces it), whitespace dropped, strings compared after
// unescaping (as encoding/json decodes them), numbers by exact decimal value (1, 1.0 and 1e0 are one key;
// digits are never rounded through float64), array order kept, duplicate
// members resolved last-wins, and the top-level DefaultIgnoredFields
// dropped. The Scope is part of the Key value and of its String form
// (length-prefixed), so tenants cannot collide even through the hash.
// The hash covers a version of this form too: an llmgate release that
// changes the form (as writing \n and \t as short escapes did) changes
// every key, so entries an older release stored, in Redis say, are no
// longer found and expire by their TTL; none is ever misread.
//
// # Cacheability
//
// By default only reproducible requests are cached: n = 1 and temperature
// 0 or a seed (absent temperature means 1). A policy may force or forbid;
// the client's Cache-Control no-cache refreshes (store, don't read) and
// no-store neither reads nor stores. Error statuses, content-filtered
// choices, incomplete streams and streams that carry an error event (a
// server's, or the Budget layer's cut) are never stored (ErrNotStorable).
//
// A stream served to a non-streamed request, and the reverse, is
// converted with every member a client would have had: the typed fields
// (content, refusal, tool calls, logprobs, finish_reason, usage, as the
// upstream wrote it) and the members the wire types do not hold: of a
// delta or message, such as reasoning_content and annotations (strings
// concatenated across deltas, arrays joined); of a choice, such as vLLM's
// stop_reason and token_ids (the last value wins, arrays joined); of the
// response, such as vLLM's prompt_token_ids or Groq's x_groq (the last
// value wins, objects merged), put in the first chunk of a converted
// stream. OpenAI's obfuscation padding is left out of merged bodies.
// Conversions are kept with the entry and count towards a MemoryStore's
// bound.
package cache
