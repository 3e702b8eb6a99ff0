package middleware

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// PolicyConfig configures Policy.
type PolicyConfig struct {
	// Engine evaluates the decision. Required. Its DecisionLog, when set,
	// logs every decision.
	Engine *policy.Engine
	// Budgets, when set, puts the spend and budget of the principal's
	// scopes into input.budgets; give Policy and Budget the same value.
	// Default: nil, input.budgets is empty.
	Budgets *Budgets
	// Catalog resolves the model a decision rewrites the request to; use
	// Count's catalog. Default: models.Builtin().
	Catalog *models.Catalog
	// Chat tunes the chat token formula when a model rewrite changes the
	// encoding and the prompt is counted again; use Count's. Default: nil.
	Chat *tokens.ChatOptions
	// Prompt passes the prompt text (the messages' text, or the
	// completion prompt) as input.request.prompt. Default: false, policies
	// never see request content.
	Prompt bool
	// ChatMaxTokensParam is the member a max_tokens cap sets on a chat
	// request that sets neither max_tokens nor max_completion_tokens (a
	// request that sets one has that one capped). Default:
	// "max_completion_tokens", as OpenAI's current API names it; set
	// "max_tokens" for upstreams that know only that.
	ChatMaxTokensParam string
	// Input, when set, is called with the input document just before each
	// evaluation, to add to it or to look at it. Default: none.
	Input func(c *Call, in *policy.Input)
	// Limit, when set, is the Limit layer that follows: a denial then
	// carries the rate-limit headers the request's limits would have
	// sent (read from the buckets, nothing taken), as every response of a
	// limited route does. Default: nil, denials carry none.
	Limit *Limit
	// Logger receives evaluation errors (the cause of a 500), with the
	// request id. Default: slog.Default().
	Logger *slog.Logger
}

// Policy is the layer that asks the policy engine about each chat,
// completions and embeddings request and applies the decision: see
// NewPolicy.
//
// A Policy is immutable and safe for concurrent use.
type Policy struct {
	cfg PolicyConfig
}

// NewPolicy returns the Policy layer. For each chat, completions or
// embeddings request it builds the policy.Input from the Call — a summary
// of the request (no prompt text unless PolicyConfig.Prompt), the
// principal, the model from Call.ModelInfo, the token counts and
// worst-case cost from Count, the spend and budget of each scope from
// Budgets, and the input moderation result — evaluates the engine once,
// stores the decision in Call.Decision and applies it:
//
//   - a denial is sent with policy.Deny's envelope: 404 model_not_found,
//     429 insufficient_quota (with x-should-retry: false), 400
//     content_policy_violation, 403 permission_error;
//   - an undefined, ambiguous or failing decision is a 500 that names only
//     the request id (the cause goes to the Logger);
//   - an allowed decision's model replaces the request's (body, Call.Model,
//     Call.ModelInfo; the prompt is counted again when the encoding
//     changes, the completion reservation is bounded by the new model),
//     and its max_tokens caps the request's (body and
//     Call.MaxCompletionTokens). Limits, cache and redact are left in
//     Call.Decision for the layers that use them.
//
// An embeddings request is decided like the others, with endpoint
// "/v1/embeddings", its input's tokens as tokens.prompt, 0 as
// tokens.max_completion and the input's cost as the estimate; a model
// rewrite applies to it, a max_tokens cap does not (it has no completion).
// With PolicyConfig.Prompt its input texts are the prompt.
//
// Place it after Count and Moderate(in), before Limit and Budget. It fails
// when cfg.Engine is nil or ChatMaxTokensParam is neither name.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	if cfg.Engine == nil {
		return nil, errors.New("middleware: PolicyConfig.Engine is nil")
	}
	if cfg.Catalog == nil {
		cfg.Catalog = models.Builtin()
	}
	switch cfg.ChatMaxTokensParam {
	case "":
		cfg.ChatMaxTokensParam = "max_completion_tokens"
	case "max_completion_tokens", "max_tokens":
	default:
		return nil, fmt.Errorf("middleware: PolicyConfig.ChatMaxTokensParam %q (want max_completion_tokens or max_tokens)", cfg.ChatMaxTokensParam)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Policy{cfg: cfg}, nil
}

// Handler is the middleware: it decides every chat, completions and
// embeddings request before next sees it. Requests without a Call and
// other endpoints pass through.
func (p *Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := CallFrom(r.Context())
		if c == nil || (c.Chat == nil && c.Completion == nil && c.Embedding == nil) {
			next.ServeHTTP(w, r)
			return
		}
		var in policy.Input
		p.buildInput(r, c, &in)
		if p.cfg.Input != nil {
			p.cfg.Input(c, &in)
		}
		d, err := p.cfg.Engine.Decide(r.Context(), &in)
		if err != nil {
			c.Decision = nil
			p.cfg.Logger.ErrorContext(r.Context(), "middleware: policy decision failed", "request_id", c.RequestID, "err", err)
		} else {
			c.Decision = &d
		}
		if e := policy.Deny(d, err, c.RequestID); e != nil {
			if e.Status == http.StatusTooManyRequests {
				w.Header().Set("x-should-retry", "false")
			}
			if p.cfg.Limit != nil && err == nil {
				p.cfg.Limit.SetHeaders(r, w.Header())
			}
			wire.WriteError(w, e)
			return
		}
		if e := p.apply(r, c, &d); e != nil {
			wire.WriteError(w, e)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// buildInput fills in from the Call (and Budgets).
func (p *Policy) buildInput(r *http.Request, c *Call, in *policy.Input) {
	in.Request = requestSummary(c, p.cfg.Prompt)
	if pr := c.Principal; pr != nil {
		in.Principal = policy.Principal{KeyID: pr.KeyID, User: pr.User, Org: pr.Org, Tier: pr.Tier, Labels: pr.Labels}
	}
	in.Model = modelInput(c)
	in.Tokens = policy.Tokens{Prompt: c.PromptTokens, MaxCompletion: c.MaxCompletionTokens}
	if prices := c.ModelInfo.Prices; prices.Known() {
		usd := billing.WorstCase(prices, c.PromptTokens, c.MaxCompletionTokens).USD()
		in.Cost.EstimateUSD = &usd
	}
	if p.cfg.Budgets != nil {
		bals, err := p.cfg.Budgets.Balances(r.Context(), c.Principal)
		if err != nil {
			// The Budget layer enforces budgets; the policy sees none.
			p.cfg.Logger.WarnContext(r.Context(), "middleware: policy input without budgets", "request_id", c.RequestID, "err", err)
		}
		in.Budgets = budgetsInput(bals)
	}
	if m := c.InputModeration; m != nil {
		in.Moderation = &policy.Moderation{Flagged: m.Flagged, Categories: m.Categories, Scores: m.CategoryScores}
	}
}

// modelInput is what the catalog knows about the call's model.
func modelInput(c *Call) policy.Model {
	m := c.ModelInfo
	out := policy.Model{Name: m.Name, Known: m.Entry != "", Encoding: m.Encoding}
	if out.Name == "" {
		out.Name = c.Model
	}
	if m.ContextWindow > 0 {
		out.ContextWindow = &m.ContextWindow
	}
	if m.Prices.Known() {
		in, cached, output := priceUSD(m.Prices.Input), priceUSD(m.Prices.CachedInput), priceUSD(m.Prices.Output)
		out.InputPerMTok, out.CachedInputPerMTok, out.OutputPerMTok = &in, &cached, &output
		out.PricesAsOf = m.Prices.AsOf
	}
	if out.Known {
		out.Deprecated = &m.Deprecated
	}
	return out
}

// priceUSD converts a models.Price (micro-USD per 1M tokens) to dollars.
func priceUSD(p models.Price) float64 { return float64(p) / 1e6 }

// budgetsInput turns balances into input.budgets: per scope, the window
// with the least remaining when a scope has two.
func budgetsInput(bals []billing.Balance) policy.Budgets {
	var out policy.Budgets
	for _, b := range bals {
		var dst **policy.Budget
		switch {
		case len(b.Scope) > 4 && b.Scope[:4] == "key:":
			dst = &out.Key
		case len(b.Scope) > 5 && b.Scope[:5] == "user:":
			dst = &out.User
		case len(b.Scope) > 4 && b.Scope[:4] == "org:":
			dst = &out.Org
		default:
			continue
		}
		nb := &policy.Budget{Window: b.Window.String(), SpentUSD: (b.Spent + b.Reserved).USD(),
			BudgetUSD: b.Budget.USD(), RemainingUSD: b.Remaining().USD()}
		if *dst == nil || nb.RemainingUSD < (*dst).RemainingUSD {
			*dst = nb
		}
	}
	return out
}

// requestSummary describes what the request asks for.
func requestSummary(c *Call, prompt bool) policy.Request {
	req := policy.Request{ID: c.RequestID, Endpoint: c.Endpoint.Path(), Model: c.Model, Stream: c.Stream}
	if c.RequestedModel != "" {
		req.Model = c.RequestedModel // as the client sent it; input.model.name is the resolved one
	}
	if er := c.Embedding; er != nil {
		if prompt {
			req.Prompt = strings.Join(er.Input.Texts, "\n")
		}
		return req
	}
	if cr := c.Completion; cr != nil {
		req.N, req.MaxTokens = cr.Choices(), derefInt(cr.MaxTokens)
		req.Temperature, req.TopP, req.User = cr.Temperature, cr.TopP, cr.User
		if prompt {
			for i, t := range cr.Prompt.Texts {
				if i > 0 {
					req.Prompt += "\n"
				}
				req.Prompt += t
			}
		}
		return req
	}
	ch := c.Chat
	req.N, req.MaxTokens = ch.Choices(), ch.MaxOutputTokens()
	req.Temperature, req.TopP = ch.Temperature, ch.TopP
	req.Messages = len(ch.Messages)
	req.User, req.ReasoningEffort, req.ServiceTier, req.Metadata = ch.User, ch.ReasoningEffort, ch.ServiceTier, ch.Metadata
	req.Tools = make([]string, 0, len(ch.Tools)+len(ch.Functions))
	for i := range ch.Tools {
		req.Tools = append(req.Tools, ch.Tools[i].Name()) // a function's or a custom tool's
	}
	for _, f := range ch.Functions {
		req.Tools = append(req.Tools, f.Name)
	}
	switch tc := ch.ToolChoice; {
	case tc != nil && tc.Name() != "":
		req.ToolChoice = tc.Name() // a function or custom tool
	case tc != nil && tc.Allowed != nil:
		req.ToolChoice = tc.Allowed.Mode // "auto" or "required", among the allowed tools
	case tc != nil:
		req.ToolChoice = tc.Mode
	case ch.FunctionCall != nil && ch.FunctionCall.Name != "":
		req.ToolChoice = ch.FunctionCall.Name
	case ch.FunctionCall != nil:
		req.ToolChoice = ch.FunctionCall.Mode
	}
	if rf := ch.ResponseFormat; rf != nil {
		req.ResponseFormat = rf.Type
	}
	var text []byte
	for i := range ch.Messages {
		m := &ch.Messages[i]
		for _, part := range m.Content.Parts {
			switch {
			case part.ImageURL != nil || part.Type == "image_url":
				req.HasImages = true
			case part.InputAudio != nil || part.Type == "input_audio":
				req.HasAudio = true
			}
		}
		if prompt {
			if s := m.Content.String(); s != "" {
				if len(text) > 0 {
					text = append(text, '\n')
				}
				text = append(text, s...)
			}
		}
	}
	req.Prompt = string(text)
	return req
}
