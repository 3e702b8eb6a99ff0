package policy

import (
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Keys of moderation's members, built once: the terms are immutable and
// shared by every input value. The other objects' keys are built from
// their names (requestKeys, ...).
var kFlagged, kCategories, kScores = str("flagged"), str("categories"), str("scores")

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

func (b *builder) float(f float64) *ast.Term { return b.term(floatValue(f)) }

func (b *builder) bool(v bool) *ast.Term { return ast.InternedTerm(v) }

func (b *builder) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedTerm("")
	}
	return b.term(ast.String(s))
}

func intValue(i int) ast.Value {
	if ast.HasInternedIntNumberTerm(i) {
		return ast.InternedTerm(i).Value
	}
	return ast.Number(strconv.Itoa(i))
}

func floatValue(f float64) ast.Value {
	if f == float64(int64(f)) && f > -1e15 && f < 1e15 {
		return intValue(int(f))
	}
	return ast.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

func floatPtrValue(f *float64) (ast.Value, bool) {
	if f == nil {
		return nil, false
	}
	return floatValue(*f), true
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
	var arr [len(rootNames)][2]*ast.Term
	pairs := arr[:0]
	for i, name := range rootNames {
		if u := use.get(name); u != nil {
			if t := in.member(b, now, name, u); t != nil {
				pairs = append(pairs, [2]*ast.Term{rootKeys[i], t})
			}
		}
	}
	return b.object(pairs...)
}

// rootNames are the members of the input document, in document order.
var (
	rootNames = [...]string{"request", "principal", "model", "tokens", "cost", "budgets", "time", "moderation"}
	rootKeys  = keyTerms(rootNames[:])
)

// member builds the part u of the input document's member k; nil when
// the document has no such member.
func (in *Input) member(b *builder, now time.Time, k string, u *inputUse) *ast.Term {
	switch k {
	case "request":
		return in.Request.term(b, u)
	case "principal":
		return in.Principal.term(b, u)
	case "model":
		return in.Model.term(b, u)
	case "tokens":
		return objectTerm(b, &in.Tokens, tokensNames[:], tokensKeys, u)
	case "cost":
		return objectTerm(b, &in.Cost, costNames[:], costKeys, u)
	case "budgets":
		return objectTerm(b, &in.Budgets, budgetsNames[:], budgetsKeys, u)
	case "time":
		return objectTerm(b, inputTime(now), timeNames[:], timeKeys, u)
	case "moderation":
		if in.Moderation != nil {
			return in.Moderation.term(b)
		}
	}
	return nil
}

// The members of request, principal and model, in document order: names
// and their keys. member (below) gives each one's value.
var (
	requestNames = [...]string{"id", "endpoint", "model", "stream", "n", "max_tokens", "messages",
		"tools", "tool_choice", "has_images", "has_audio", "response_format", "reasoning_effort",
		"service_tier", "user", "temperature", "top_p", "metadata", "prompt"}
	principalNames = [...]string{"key_id", "user", "org", "tier", "labels"}
	modelNames     = [...]string{"name", "known", "encoding", "context_window", "input_per_mtok",
		"cached_input_per_mtok", "output_per_mtok", "prices_as_of", "deprecated"}

	tokensNames  = [...]string{"prompt", "max_completion"}
	costNames    = [...]string{"estimate_usd"}
	budgetsNames = [...]string{"key", "user", "org"}
	budgetNames  = [...]string{"window", "spent_usd", "budget_usd", "remaining_usd"}
	timeNames    = [...]string{"rfc3339", "unix_ns"}

	requestKeys, principalKeys, modelKeys = keyTerms(requestNames[:]), keyTerms(principalNames[:]), keyTerms(modelNames[:])
	tokensKeys, costKeys, budgetsKeys     = keyTerms(tokensNames[:]), keyTerms(costNames[:]), keyTerms(budgetsNames[:])
	budgetKeys, timeKeys                  = keyTerms(budgetNames[:]), keyTerms(timeNames[:])
)

func keyTerms(names []string) []*ast.Term {
	out := make([]*ast.Term, len(names))
	for i, n := range names {
		out[i] = str(n)
	}
	return out
}

// memberSource is a part of the input whose members are built one by one:
// member returns the value of member k, false when the document has no
// such member.
type memberSource interface {
	member(k string) (ast.Value, bool)
}

// objectTerm builds the object of src's members that u uses, in the order
// of names.
func objectTerm(b *builder, src memberSource, names []string, keys []*ast.Term, u *inputUse) *ast.Term {
	var arr [len(requestNames)][2]*ast.Term
	pairs := arr[:0]
	for i, name := range names {
		if !u.has(name) {
			continue
		}
		if v, ok := src.member(name); ok {
			pairs = append(pairs, [2]*ast.Term{keys[i], b.term(v)})
		}
	}
	return b.object(pairs...)
}

func (r *Request) term(b *builder, u *inputUse) *ast.Term {
	return objectTerm(b, r, requestNames[:], requestKeys, u)
}

func (r *Request) member(k string) (ast.Value, bool) {
	switch k {
	case "id":
		return ast.String(r.ID), true
	case "endpoint":
		return ast.String(r.Endpoint), true
	case "model":
		return ast.String(r.Model), true
	case "stream":
		return ast.Boolean(r.Stream), true
	case "n":
		return intValue(r.N), true
	case "max_tokens":
		return intValue(r.MaxTokens), true
	case "messages":
		return intValue(r.Messages), true
	case "tools":
		return stringsValue(r.Tools), true
	case "tool_choice":
		return ast.String(r.ToolChoice), true
	case "has_images":
		return ast.Boolean(r.HasImages), true
	case "has_audio":
		return ast.Boolean(r.HasAudio), true
	case "response_format":
		return ast.String(r.ResponseFormat), true
	case "reasoning_effort":
		return ast.String(r.ReasoningEffort), true
	case "service_tier":
		return ast.String(r.ServiceTier), true
	case "user":
		return ast.String(r.User), true
	case "temperature":
		return floatPtrValue(r.Temperature)
	case "top_p":
		return floatPtrValue(r.TopP)
	case "metadata":
		if r.Metadata != nil {
			return stringMapValue(r.Metadata), true
		}
	case "prompt":
		if r.Prompt != "" {
			return ast.String(r.Prompt), true
		}
	}
	return nil, false
}

func (p *Principal) term(b *builder, u *inputUse) *ast.Term {
	return objectTerm(b, p, principalNames[:], principalKeys, u)
}

func (p *Principal) member(k string) (ast.Value, bool) {
	switch k {
	case "key_id":
		return ast.String(p.KeyID), true
	case "user":
		return ast.String(p.User), true
	case "org":
		return ast.String(p.Org), true
	case "tier":
		return ast.String(p.Tier), true
	case "labels":
		if p.Labels != nil {
			return stringMapValue(p.Labels), true
		}
	}
	return nil, false
}

func (m *Model) term(b *builder, u *inputUse) *ast.Term {
	return objectTerm(b, m, modelNames[:], modelKeys, u)
}

func (m *Model) member(k string) (ast.Value, bool) {
	switch k {
	case "name":
		return ast.String(m.Name), true
	case "known":
		return ast.Boolean(m.Known), true
	case "encoding":
		return ast.String(m.Encoding), true
	case "context_window":
		if m.ContextWindow != nil {
			return intValue(*m.ContextWindow), true
		}
	case "input_per_mtok":
		return floatPtrValue(m.InputPerMTok)
	case "cached_input_per_mtok":
		return floatPtrValue(m.CachedInputPerMTok)
	case "output_per_mtok":
		return floatPtrValue(m.OutputPerMTok)
	case "prices_as_of":
		if m.PricesAsOf != "" {
			return ast.String(m.PricesAsOf), true
		}
	case "deprecated":
		if m.Deprecated != nil {
			return ast.Boolean(*m.Deprecated), true
		}
	}
	return nil, false
}

func (t *Tokens) member(k string) (ast.Value, bool) {
	switch k {
	case "prompt":
		return intValue(t.Prompt), true
	case "max_completion":
		return intValue(t.MaxCompletion), true
	}
	return nil, false
}

func (c *Cost) member(k string) (ast.Value, bool) {
	if k == "estimate_usd" {
		return floatPtrValue(c.EstimateUSD)
	}
	return nil, false
}

// scope returns the budget of scope k ("key", "user", "org"); nil when
// there is none.
func (bs *Budgets) scope(k string) *Budget {
	switch k {
	case "key":
		return bs.Key
	case "user":
		return bs.User
	case "org":
		return bs.Org
	}
	return nil
}

func (bs *Budgets) member(k string) (ast.Value, bool) {
	if b := bs.scope(k); b != nil {
		return objectTerm(&builder{}, b, budgetNames[:], budgetKeys, wholeInput).Value, true
	}
	return nil, false
}

func (b *Budget) member(k string) (ast.Value, bool) {
	switch k {
	case "window":
		return ast.String(b.Window), true
	case "spent_usd":
		return floatValue(b.SpentUSD), true
	case "budget_usd":
		return floatValue(b.BudgetUSD), true
	case "remaining_usd":
		return floatValue(b.RemainingUSD), true
	}
	return nil, false
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

// inputTime is the `time` member: the evaluation's instant.
type inputTime time.Time

func (t inputTime) member(k string) (ast.Value, bool) {
	switch k {
	case "rfc3339":
		return ast.String(time.Time(t).UTC().Format(time.RFC3339Nano)), true
	case "unix_ns":
		return ast.Number(strconv.FormatInt(time.Time(t).UnixNano(), 10)), true
	}
	return nil, false
}

func stringsValue(ss []string) ast.Value {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.NewTerm(ast.String(s))
	}
	return ast.NewArray(terms...)
}

func stringMapValue(m map[string]string) ast.Value {
	pairs := make([][2]*ast.Term, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]*ast.Term{ast.StringTerm(k), ast.NewTerm(ast.String(v))})
	}
	return ast.NewObject(pairs...)
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
