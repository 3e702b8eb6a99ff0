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
	kTools, kToolChoice, kHasImages, kHasAudio, kResponseFormat            = str("tools"), str("tool_choice"), str("has_images"), str("has_audio"), str("response_format")
	kReasoningEffort, kServiceTier, kUser, kMetadata, kPrompt               = str("reasoning_effort"), str("service_tier"), str("user"), str("metadata"), str("prompt")

	kKeyID, kOrg, kTier, kLabels = str("key_id"), str("org"), str("tier"), str("labels")

	kName, kKnown, kEncoding, kContextWindow, kInputPrice, kCachedPrice, kOutputPrice, kPricesAsOf, kDeprecated = str("name"), str("known"), str("encoding"), str("context_window"), str("input_per_mtok"), str("cached_input_per_mtok"), str("output_per_mtok"), str("prices_as_of"), str("deprecated")

	kPromptTokens, kMaxCompletion, kEstimate = str("prompt"), str("max_completion"), str("estimate_usd")

	kKey, kWindow, kSpent, kBudget, kRemaining = str("key"), str("window"), str("spent_usd"), str("budget_usd"), str("remaining_usd")

	kFlagged, kCategories, kScores = str("flagged"), str("categories"), str("scores")

	kRFC3339, kUnixNS = str("rfc3339"), str("unix_ns")
)

func str(s string) *ast.Term { return ast.StringTerm(s) }

func intTerm(i int) *ast.Term { return ast.InternedTerm(i) }

func floatTerm(f float64) *ast.Term {
	if f == float64(int64(f)) && f > -1e15 && f < 1e15 {
		return ast.InternedTerm(int(f))
	}
	return ast.NewTerm(ast.Number(strconv.FormatFloat(f, 'g', -1, 64)))
}

func boolTerm(b bool) *ast.Term { return ast.InternedTerm(b) }

func strTerm(s string) *ast.Term { return ast.InternedTerm(s) }

// Value returns the input document as an OPA value, with `time` taken from
// now. It is built directly, without a JSON round trip; the result is
// immutable and may be evaluated concurrently.
func (in *Input) Value(now time.Time) ast.Value {
	pairs := make([][2]*ast.Term, 0, 8)
	pairs = append(pairs,
		[2]*ast.Term{kRequest, in.Request.term()},
		[2]*ast.Term{kPrincipal, in.Principal.term()},
		[2]*ast.Term{kModel, in.Model.term()},
		[2]*ast.Term{kTokens, ast.ObjectTerm(
			[2]*ast.Term{kPromptTokens, intTerm(in.Tokens.Prompt)},
			[2]*ast.Term{kMaxCompletion, intTerm(in.Tokens.MaxCompletion)},
		)},
		[2]*ast.Term{kCost, costTerm(in.Cost)},
		[2]*ast.Term{kBudgets, in.Budgets.term()},
		[2]*ast.Term{kTime, timeTerm(now)},
	)
	if m := in.Moderation; m != nil {
		pairs = append(pairs, [2]*ast.Term{kModeration, m.term()})
	}
	return ast.NewObject(pairs...)
}

func (r *Request) term() *ast.Term {
	pairs := make([][2]*ast.Term, 0, 20)
	pairs = append(pairs,
		[2]*ast.Term{kID, strTerm(r.ID)},
		[2]*ast.Term{kEndpoint, strTerm(r.Endpoint)},
		[2]*ast.Term{kModel, strTerm(r.Model)},
		[2]*ast.Term{kStream, boolTerm(r.Stream)},
		[2]*ast.Term{kN, intTerm(r.N)},
		[2]*ast.Term{kMaxTokens, intTerm(r.MaxTokens)},
		[2]*ast.Term{kMessages, intTerm(r.Messages)},
		[2]*ast.Term{kTools, stringsTerm(r.Tools)},
		[2]*ast.Term{kToolChoice, strTerm(r.ToolChoice)},
		[2]*ast.Term{kHasImages, boolTerm(r.HasImages)},
		[2]*ast.Term{kHasAudio, boolTerm(r.HasAudio)},
		[2]*ast.Term{kResponseFormat, strTerm(r.ResponseFormat)},
		[2]*ast.Term{kReasoningEffort, strTerm(r.ReasoningEffort)},
		[2]*ast.Term{kServiceTier, strTerm(r.ServiceTier)},
		[2]*ast.Term{kUser, strTerm(r.User)},
	)
	if r.Temperature != nil {
		pairs = append(pairs, [2]*ast.Term{kTemperature, floatTerm(*r.Temperature)})
	}
	if r.TopP != nil {
		pairs = append(pairs, [2]*ast.Term{kTopP, floatTerm(*r.TopP)})
	}
	if r.Metadata != nil {
		pairs = append(pairs, [2]*ast.Term{kMetadata, stringMapTerm(r.Metadata)})
	}
	if r.Prompt != "" {
		pairs = append(pairs, [2]*ast.Term{kPrompt, ast.StringTerm(r.Prompt)})
	}
	return ast.NewTerm(ast.NewObject(pairs...))
}

func (p *Principal) term() *ast.Term {
	pairs := make([][2]*ast.Term, 0, 5)
	pairs = append(pairs,
		[2]*ast.Term{kKeyID, strTerm(p.KeyID)},
		[2]*ast.Term{kUser, strTerm(p.User)},
		[2]*ast.Term{kOrg, strTerm(p.Org)},
		[2]*ast.Term{kTier, strTerm(p.Tier)},
	)
	if p.Labels != nil {
		pairs = append(pairs, [2]*ast.Term{kLabels, stringMapTerm(p.Labels)})
	}
	return ast.NewTerm(ast.NewObject(pairs...))
}

func (m *Model) term() *ast.Term {
	pairs := make([][2]*ast.Term, 0, 9)
	pairs = append(pairs,
		[2]*ast.Term{kName, strTerm(m.Name)},
		[2]*ast.Term{kKnown, boolTerm(m.Known)},
		[2]*ast.Term{kEncoding, strTerm(m.Encoding)},
	)
	if m.ContextWindow != nil {
		pairs = append(pairs, [2]*ast.Term{kContextWindow, intTerm(*m.ContextWindow)})
	}
	if m.InputPerMTok != nil {
		pairs = append(pairs, [2]*ast.Term{kInputPrice, floatTerm(*m.InputPerMTok)})
	}
	if m.CachedInputPerMTok != nil {
		pairs = append(pairs, [2]*ast.Term{kCachedPrice, floatTerm(*m.CachedInputPerMTok)})
	}
	if m.OutputPerMTok != nil {
		pairs = append(pairs, [2]*ast.Term{kOutputPrice, floatTerm(*m.OutputPerMTok)})
	}
	if m.PricesAsOf != "" {
		pairs = append(pairs, [2]*ast.Term{kPricesAsOf, strTerm(m.PricesAsOf)})
	}
	if m.Deprecated != nil {
		pairs = append(pairs, [2]*ast.Term{kDeprecated, boolTerm(*m.Deprecated)})
	}
	return ast.NewTerm(ast.NewObject(pairs...))
}

func costTerm(c Cost) *ast.Term {
	if c.EstimateUSD == nil {
		return ast.ObjectTerm()
	}
	return ast.ObjectTerm([2]*ast.Term{kEstimate, floatTerm(*c.EstimateUSD)})
}

func (b *Budgets) term() *ast.Term {
	pairs := make([][2]*ast.Term, 0, 3)
	for _, s := range [...]struct {
		k *ast.Term
		b *Budget
	}{{kKey, b.Key}, {kUser, b.User}, {kOrg, b.Org}} {
		if s.b != nil {
			pairs = append(pairs, [2]*ast.Term{s.k, ast.ObjectTerm(
				[2]*ast.Term{kWindow, strTerm(s.b.Window)},
				[2]*ast.Term{kSpent, floatTerm(s.b.SpentUSD)},
				[2]*ast.Term{kBudget, floatTerm(s.b.BudgetUSD)},
				[2]*ast.Term{kRemaining, floatTerm(s.b.RemainingUSD)},
			)})
		}
	}
	return ast.NewTerm(ast.NewObject(pairs...))
}

func (m *Moderation) term() *ast.Term {
	cats := make([][2]*ast.Term, 0, len(m.Categories))
	for k, v := range m.Categories {
		cats = append(cats, [2]*ast.Term{strTerm(k), boolTerm(v)})
	}
	scores := make([][2]*ast.Term, 0, len(m.Scores))
	for k, v := range m.Scores {
		scores = append(scores, [2]*ast.Term{strTerm(k), floatTerm(v)})
	}
	return ast.ObjectTerm(
		[2]*ast.Term{kFlagged, boolTerm(m.Flagged)},
		[2]*ast.Term{kCategories, ast.ObjectTerm(cats...)},
		[2]*ast.Term{kScores, ast.ObjectTerm(scores...)},
	)
}

func timeTerm(now time.Time) *ast.Term {
	return ast.ObjectTerm(
		[2]*ast.Term{kRFC3339, ast.StringTerm(now.UTC().Format(time.RFC3339Nano))},
		[2]*ast.Term{kUnixNS, ast.NewTerm(ast.Number(strconv.FormatInt(now.UnixNano(), 10)))},
	)
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = strTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func stringMapTerm(m map[string]string) *ast.Term {
	pairs := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]*ast.Term{strTerm(k), strTerm(v)})
	}
	return ast.ObjectTerm(pairs...)
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
