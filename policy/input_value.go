package policy

import (
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Object keys of the input document, built once: the terms are immutable
// and shared by every input value.
var (
	kRequest, kPrincipal, kModel, kTokens, kCost, kBudgets, kModeration, kTime = str("request"), str("principal"), str("model"), str("tokens"), str("cost"), str("budgets"), str("moderation"), str("time")

	kID, kEndpoint, kStream, kN, kMaxTokens, kTemperature, kTopP, kMessages = str("id"), str("endpoint"), str("stream"), str("n"), str("max_tokens"), str("temperature"), str("top_p"), str("messages")
	kTools, kToolChoice, kHasImages, kHasAudio, kResponseFormat             = str("tools"), str("tool_choice"), str("has_images"), str("has_audio"), str("response_format")
	kReasoningEffort, kServiceTier, kUser, kMetadata, kPrompt               = str("reasoning_effort"), str("service_tier"), str("user"), str("metadata"), str("prompt")

	kKeyID, kOrg, kTier, kLabels = str("key_id"), str("org"), str("tier"), str("labels")

	kName, kKnown, kEncoding, kContextWindow, kInputPrice, kCachedPrice, kOutputPrice, kPricesAsOf, kDeprecated = str("name"), str("known"), str("encoding"), str("context_window"), str("input_per_mtok"), str("cached_input_per_mtok"), str("output_per_mtok"), str("prices_as_of"), str("deprecated")

	kPromptTokens, kMaxCompletion, kEstimate = str("prompt"), str("max_completion"), str("estimate_usd")

	kKey, kWindow, kSpent, kBudget, kRemaining = str("key"), str("window"), str("spent_usd"), str("budget_usd"), str("remaining_usd")

	kFlagged, kCategories, kScores = str("flagged"), str("categories"), str("scores")

	kRFC3339, kUnixNS = str("rfc3339"), str("unix_ns")
)

func str(s string) *ast.Term { return ast.StringTerm(s) }

// slabSize is how many terms one input takes from its slab before the
// builder falls back to one allocation per term.
const slabSize = 48

// builder makes the terms of one input document from a slab, so that the
// document costs a few allocations instead of one per term. Terms are
// never moved: the slab is allocated once and not grown.
type builder struct {
	slab []ast.Term
}

func newBuilder() *builder {
	return &builder{slab: make([]ast.Term, 0, slabSize)}
}

func (b *builder) term(v ast.Value) *ast.Term {
	if len(b.slab) == cap(b.slab) {
		return ast.NewTerm(v)
	}
	b.slab = append(b.slab, ast.Term{Value: v})
	return &b.slab[len(b.slab)-1]
}

func (b *builder) int(i int) *ast.Term {
	if ast.HasInternedIntNumberTerm(i) {
		return ast.InternedTerm(i)
	}
	return b.term(ast.Number(strconv.Itoa(i)))
}

func (b *builder) float(f float64) *ast.Term {
	if f == float64(int64(f)) && f > -1e15 && f < 1e15 {
		return b.int(int(f))
	}
	return b.term(ast.Number(strconv.FormatFloat(f, 'g', -1, 64)))
}

func (b *builder) bool(v bool) *ast.Term { return ast.InternedTerm(v) }

func (b *builder) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedTerm("")
	}
	return b.term(ast.String(s))
}

func (b *builder) object(pairs ...[2]*ast.Term) *ast.Term { return b.term(ast.NewObject(pairs...)) }

// Value returns the input document as an OPA value, with `time` taken from
// now. It is built directly, without a JSON round trip; the result is
// immutable and may be evaluated concurrently.
func (in *Input) Value(now time.Time) ast.Value { return in.value(now, wholeInput).Value }

// value builds the members of the input document that use names (all of
// them for wholeInput). A member left out is one the policy never reads.
func (in *Input) value(now time.Time, use *inputUse) *ast.Term {
	b := newBuilder()
	var arr [8][2]*ast.Term
	pairs := arr[:0]
	if u := use.get("request"); u != nil {
		pairs = append(pairs, [2]*ast.Term{kRequest, in.Request.term(b, u)})
	}
	if u := use.get("principal"); u != nil {
		pairs = append(pairs, [2]*ast.Term{kPrincipal, in.Principal.term(b, u)})
	}
	if u := use.get("model"); u != nil {
		pairs = append(pairs, [2]*ast.Term{kModel, in.Model.term(b, u)})
	}
	if u := use.get("tokens"); u != nil {
		var arr [2][2]*ast.Term
		tokens := arr[:0]
		if u.has("prompt") {
			tokens = append(tokens, [2]*ast.Term{kPromptTokens, b.int(in.Tokens.Prompt)})
		}
		if u.has("max_completion") {
			tokens = append(tokens, [2]*ast.Term{kMaxCompletion, b.int(in.Tokens.MaxCompletion)})
		}
		pairs = append(pairs, [2]*ast.Term{kTokens, b.object(tokens...)})
	}
	if use.has("cost") {
		pairs = append(pairs, [2]*ast.Term{kCost, costTerm(b, in.Cost)})
	}
	if u := use.get("budgets"); u != nil {
		pairs = append(pairs, [2]*ast.Term{kBudgets, in.Budgets.term(b, u)})
	}
	if u := use.get("time"); u != nil {
		pairs = append(pairs, [2]*ast.Term{kTime, timeTerm(b, now, u)})
	}
	if m := in.Moderation; m != nil && use.has("moderation") {
		pairs = append(pairs, [2]*ast.Term{kModeration, m.term(b)})
	}
	return b.object(pairs...)
}

func (r *Request) term(b *builder, u *inputUse) *ast.Term {
	var arr [20][2]*ast.Term
	pairs := arr[:0]
	if u.has("id") {
		pairs = append(pairs, [2]*ast.Term{kID, b.str(r.ID)})
	}
	if u.has("endpoint") {
		pairs = append(pairs, [2]*ast.Term{kEndpoint, b.str(r.Endpoint)})
	}
	if u.has("model") {
		pairs = append(pairs, [2]*ast.Term{kModel, b.str(r.Model)})
	}
	if u.has("stream") {
		pairs = append(pairs, [2]*ast.Term{kStream, b.bool(r.Stream)})
	}
	if u.has("n") {
		pairs = append(pairs, [2]*ast.Term{kN, b.int(r.N)})
	}
	if u.has("max_tokens") {
		pairs = append(pairs, [2]*ast.Term{kMaxTokens, b.int(r.MaxTokens)})
	}
	if u.has("messages") {
		pairs = append(pairs, [2]*ast.Term{kMessages, b.int(r.Messages)})
	}
	if u.has("tools") {
		pairs = append(pairs, [2]*ast.Term{kTools, stringsTerm(b, r.Tools)})
	}
	if u.has("tool_choice") {
		pairs = append(pairs, [2]*ast.Term{kToolChoice, b.str(r.ToolChoice)})
	}
	if u.has("has_images") {
		pairs = append(pairs, [2]*ast.Term{kHasImages, b.bool(r.HasImages)})
	}
	if u.has("has_audio") {
		pairs = append(pairs, [2]*ast.Term{kHasAudio, b.bool(r.HasAudio)})
	}
	if u.has("response_format") {
		pairs = append(pairs, [2]*ast.Term{kResponseFormat, b.str(r.ResponseFormat)})
	}
	if u.has("reasoning_effort") {
		pairs = append(pairs, [2]*ast.Term{kReasoningEffort, b.str(r.ReasoningEffort)})
	}
	if u.has("service_tier") {
		pairs = append(pairs, [2]*ast.Term{kServiceTier, b.str(r.ServiceTier)})
	}
	if u.has("user") {
		pairs = append(pairs, [2]*ast.Term{kUser, b.str(r.User)})
	}
	if r.Temperature != nil && u.has("temperature") {
		pairs = append(pairs, [2]*ast.Term{kTemperature, b.float(*r.Temperature)})
	}
	if r.TopP != nil && u.has("top_p") {
		pairs = append(pairs, [2]*ast.Term{kTopP, b.float(*r.TopP)})
	}
	if r.Metadata != nil && u.has("metadata") {
		pairs = append(pairs, [2]*ast.Term{kMetadata, stringMapTerm(b, r.Metadata)})
	}
	if r.Prompt != "" && u.has("prompt") {
		pairs = append(pairs, [2]*ast.Term{kPrompt, b.str(r.Prompt)})
	}
	return b.object(pairs...)
}

func (p *Principal) term(b *builder, u *inputUse) *ast.Term {
	var arr [5][2]*ast.Term
	pairs := arr[:0]
	if u.has("key_id") {
		pairs = append(pairs, [2]*ast.Term{kKeyID, b.str(p.KeyID)})
	}
	if u.has("user") {
		pairs = append(pairs, [2]*ast.Term{kUser, b.str(p.User)})
	}
	if u.has("org") {
		pairs = append(pairs, [2]*ast.Term{kOrg, b.str(p.Org)})
	}
	if u.has("tier") {
		pairs = append(pairs, [2]*ast.Term{kTier, b.str(p.Tier)})
	}
	if p.Labels != nil && u.has("labels") {
		pairs = append(pairs, [2]*ast.Term{kLabels, stringMapTerm(b, p.Labels)})
	}
	return b.object(pairs...)
}

func (m *Model) term(b *builder, u *inputUse) *ast.Term {
	var arr [9][2]*ast.Term
	pairs := arr[:0]
	if u.has("name") {
		pairs = append(pairs, [2]*ast.Term{kName, b.str(m.Name)})
	}
	if u.has("known") {
		pairs = append(pairs, [2]*ast.Term{kKnown, b.bool(m.Known)})
	}
	if u.has("encoding") {
		pairs = append(pairs, [2]*ast.Term{kEncoding, b.str(m.Encoding)})
	}
	if m.ContextWindow != nil && u.has("context_window") {
		pairs = append(pairs, [2]*ast.Term{kContextWindow, b.int(*m.ContextWindow)})
	}
	if m.InputPerMTok != nil && u.has("input_per_mtok") {
		pairs = append(pairs, [2]*ast.Term{kInputPrice, b.float(*m.InputPerMTok)})
	}
	if m.CachedInputPerMTok != nil && u.has("cached_input_per_mtok") {
		pairs = append(pairs, [2]*ast.Term{kCachedPrice, b.float(*m.CachedInputPerMTok)})
	}
	if m.OutputPerMTok != nil && u.has("output_per_mtok") {
		pairs = append(pairs, [2]*ast.Term{kOutputPrice, b.float(*m.OutputPerMTok)})
	}
	if m.PricesAsOf != "" && u.has("prices_as_of") {
		pairs = append(pairs, [2]*ast.Term{kPricesAsOf, b.str(m.PricesAsOf)})
	}
	if m.Deprecated != nil && u.has("deprecated") {
		pairs = append(pairs, [2]*ast.Term{kDeprecated, b.bool(*m.Deprecated)})
	}
	return b.object(pairs...)
}

func costTerm(b *builder, c Cost) *ast.Term {
	if c.EstimateUSD == nil {
		return b.object()
	}
	return b.object([2]*ast.Term{kEstimate, b.float(*c.EstimateUSD)})
}

func (bs *Budgets) term(b *builder, u *inputUse) *ast.Term {
	var arr [3][2]*ast.Term
	pairs := arr[:0]
	for _, s := range [...]struct {
		k    *ast.Term
		name string
		v    *Budget
	}{{kKey, "key", bs.Key}, {kUser, "user", bs.User}, {kOrg, "org", bs.Org}} {
		if s.v != nil && u.has(s.name) {
			pairs = append(pairs, [2]*ast.Term{s.k, b.object(
				[2]*ast.Term{kWindow, b.str(s.v.Window)},
				[2]*ast.Term{kSpent, b.float(s.v.SpentUSD)},
				[2]*ast.Term{kBudget, b.float(s.v.BudgetUSD)},
				[2]*ast.Term{kRemaining, b.float(s.v.RemainingUSD)},
			)})
		}
	}
	return b.object(pairs...)
}

func (m *Moderation) term(b *builder) *ast.Term {
	cats := make([][2]*ast.Term, 0, len(m.Categories))
	for k, v := range m.Categories {
		cats = append(cats, [2]*ast.Term{b.str(k), b.bool(v)})
	}
	scores := make([][2]*ast.Term, 0, len(m.Scores))
	for k, v := range m.Scores {
		scores = append(scores, [2]*ast.Term{b.str(k), b.float(v)})
	}
	return b.object(
		[2]*ast.Term{kFlagged, b.bool(m.Flagged)},
		[2]*ast.Term{kCategories, b.object(cats...)},
		[2]*ast.Term{kScores, b.object(scores...)},
	)
}

func timeTerm(b *builder, now time.Time, u *inputUse) *ast.Term {
	var arr [2][2]*ast.Term
	pairs := arr[:0]
	if u.has("rfc3339") {
		pairs = append(pairs, [2]*ast.Term{kRFC3339, b.str(now.UTC().Format(time.RFC3339Nano))})
	}
	if u.has("unix_ns") {
		pairs = append(pairs, [2]*ast.Term{kUnixNS, b.term(ast.Number(strconv.FormatInt(now.UnixNano(), 10)))})
	}
	return b.object(pairs...)
}

func stringsTerm(b *builder, ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = b.str(s)
	}
	return b.term(ast.NewArray(terms...))
}

func stringMapTerm(b *builder, m map[string]string) *ast.Term {
	pairs := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]*ast.Term{b.str(k), b.str(v)})
	}
	return b.object(pairs...)
}

// Map returns the input document as the generic JSON value
// (map[string]any, []any, string, float64, bool) that `opa eval --input`
// would read, with `time` taken from now. It is what the engine evaluates
// when given rego.EvalInput; Value is the faster path. Map is also handy
// to print an input for `opa eval` while writing a policy.
func (in *Input) Map(now time.Time) map[string]any {
	r := &in.Request
	req := map[string]any{
		"id": r.ID, "endpoint": r.Endpoint, "model": r.Model, "stream": r.Stream,
		"n": r.N, "max_tokens": r.MaxTokens, "messages": r.Messages,
		"tools": stringsAny(r.Tools), "tool_choice": r.ToolChoice,
		"has_images": r.HasImages, "has_audio": r.HasAudio,
		"response_format": r.ResponseFormat, "reasoning_effort": r.ReasoningEffort,
		"service_tier": r.ServiceTier, "user": r.User,
	}
	putFloat(req, "temperature", r.Temperature)
	putFloat(req, "top_p", r.TopP)
	if r.Metadata != nil {
		req["metadata"] = stringMapAny(r.Metadata)
	}
	if r.Prompt != "" {
		req["prompt"] = r.Prompt
	}
	p := &in.Principal
	principal := map[string]any{"key_id": p.KeyID, "user": p.User, "org": p.Org, "tier": p.Tier}
	if p.Labels != nil {
		principal["labels"] = stringMapAny(p.Labels)
	}
	m := &in.Model
	model := map[string]any{"name": m.Name, "known": m.Known, "encoding": m.Encoding}
	if m.ContextWindow != nil {
		model["context_window"] = *m.ContextWindow
	}
	putFloat(model, "input_per_mtok", m.InputPerMTok)
	putFloat(model, "cached_input_per_mtok", m.CachedInputPerMTok)
	putFloat(model, "output_per_mtok", m.OutputPerMTok)
	if m.PricesAsOf != "" {
		model["prices_as_of"] = m.PricesAsOf
	}
	if m.Deprecated != nil {
		model["deprecated"] = *m.Deprecated
	}
	cost := map[string]any{}
	putFloat(cost, "estimate_usd", in.Cost.EstimateUSD)
	budgets := map[string]any{}
	for name, b := range map[string]*Budget{"key": in.Budgets.Key, "user": in.Budgets.User, "org": in.Budgets.Org} {
		if b != nil {
			budgets[name] = map[string]any{"window": b.Window, "spent_usd": b.SpentUSD, "budget_usd": b.BudgetUSD, "remaining_usd": b.RemainingUSD}
		}
	}
	doc := map[string]any{
		"request":   req,
		"principal": principal,
		"model":     model,
		"tokens":    map[string]any{"prompt": in.Tokens.Prompt, "max_completion": in.Tokens.MaxCompletion},
		"cost":      cost,
		"budgets":   budgets,
		"time":      map[string]any{"rfc3339": now.UTC().Format(time.RFC3339Nano), "unix_ns": now.UnixNano()},
	}
	if mod := in.Moderation; mod != nil {
		cats := make(map[string]any, len(mod.Categories))
		for k, v := range mod.Categories {
			cats[k] = v
		}
		scores := make(map[string]any, len(mod.Scores))
		for k, v := range mod.Scores {
			scores[k] = v
		}
		doc["moderation"] = map[string]any{"flagged": mod.Flagged, "categories": cats, "scores": scores}
	}
	return doc
}

func putFloat(m map[string]any, k string, f *float64) {
	if f != nil {
		m[k] = *f
	}
}

func stringsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func stringMapAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
