package policy

// Input is the input document a policy sees as `input`. Its JSON shape is
// documented in README.md for Rego authors; the field tags below give each
// name. The engine adds `time` from its clock, so Input has no time field.
//
// The middleware builds one Input per request from the Call (request,
// principal, model, token counts) and from the billing and moderation
// layers (cost, budgets, moderation). Every field is optional: a zero
// value is sent as its zero ("" / 0 / false), a nil pointer or map is left
// out of the document, so `input.moderation` is undefined in Rego when no
// moderator ran.
//
// An Input is read, never modified, by Decide; it may be reused after
// Decide returns.
type Input struct {
	Request    Request     `json:"request"`
	Principal  Principal   `json:"principal"`
	Model      Model       `json:"model"`
	Tokens     Tokens      `json:"tokens"`
	Cost       Cost        `json:"cost"`
	Budgets    Budgets     `json:"budgets"`
	Moderation *Moderation `json:"moderation,omitempty"`
}

// Request summarises the request: what it asks for, not its content.
type Request struct {
	// ID is the request's x-request-id.
	ID string `json:"id"`
	// Endpoint is the URL path, such as "/v1/chat/completions".
	Endpoint string `json:"endpoint"`
	// Model is the model as the client sent it, before alias resolution.
	Model string `json:"model"`
	// Stream reports a request for a streamed response.
	Stream bool `json:"stream"`
	// N is the number of choices asked for (1 when absent).
	N int `json:"n"`
	// MaxTokens is max_completion_tokens, else max_tokens; 0 when absent.
	MaxTokens int `json:"max_tokens"`
	// Temperature and TopP are nil when absent.
	Temperature *float64 `json:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty"`
	// Messages is the number of chat messages (0 for other endpoints).
	Messages int `json:"messages"`
	// Tools lists the names of the tools (functions and custom tools, and
	// legacy functions) offered.
	Tools []string `json:"tools"`
	// ToolChoice is "auto", "none", "required", a function or custom tool
	// name, or "". An allowed_tools choice gives its mode, "auto" or
	// "required".
	ToolChoice string `json:"tool_choice"`
	// HasImages and HasAudio report image and audio content parts.
	HasImages bool `json:"has_images"`
	HasAudio  bool `json:"has_audio"`
	// ResponseFormat is "text", "json_object", "json_schema" or "".
	ResponseFormat string `json:"response_format"`
	// ReasoningEffort and ServiceTier are passed through as sent.
	ReasoningEffort string `json:"reasoning_effort"`
	ServiceTier     string `json:"service_tier"`
	// User is the request's `user` field (end-user id), as sent.
	User string `json:"user"`
	// Metadata is the request's metadata map; nil when absent.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Prompt is the prompt text, when the middleware is configured to pass
	// it; "" otherwise. The decision log masks it by default.
	Prompt string `json:"prompt,omitempty"`
}

// Principal is who the request acts for. KeyID is an identifier, never key
// material.
type Principal struct {
	KeyID  string            `json:"key_id"`
	User   string            `json:"user"`
	Org    string            `json:"org"`
	Tier   string            `json:"tier"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Model is what the catalog knows about the resolved model. Fields the
// catalog has no data for are nil and left out of the document.
type Model struct {
	// Name is the model the request will use, after alias resolution.
	Name string `json:"name"`
	// Known reports whether the catalog knows the model.
	Known bool `json:"known"`
	// Encoding is the tokenizer encoding, such as "o200k_base".
	Encoding string `json:"encoding"`
	// ContextWindow is the model's context window in tokens.
	ContextWindow *int `json:"context_window,omitempty"`
	// Prices per 1M tokens in USD.
	InputPerMTok       *float64 `json:"input_per_mtok,omitempty"`
	CachedInputPerMTok *float64 `json:"cached_input_per_mtok,omitempty"`
	OutputPerMTok      *float64 `json:"output_per_mtok,omitempty"`
	// PricesAsOf is the date the prices were taken, "2006-01-02".
	PricesAsOf string `json:"prices_as_of,omitempty"`
	// Deprecated reports a model marked deprecated; nil when unknown.
	Deprecated *bool `json:"deprecated,omitempty"`
}

// Tokens are the token counts of the request.
type Tokens struct {
	// Prompt is the exact prompt token count.
	Prompt int `json:"prompt"`
	// MaxCompletion is the completion tokens reserved: max_tokens × n, or
	// what is left of the context window when max_tokens is absent.
	MaxCompletion int `json:"max_completion"`
}

// Cost is the cost estimate of the request.
type Cost struct {
	// EstimateUSD is the worst case: prompt tokens at the input price plus
	// max completion tokens at the output price. Nil when the model has no
	// price; the document then has no estimate_usd.
	EstimateUSD *float64 `json:"estimate_usd,omitempty"`
}

// Budgets holds the spend and budget of each scope the request is billed
// to. A nil scope has no budget and is left out.
type Budgets struct {
	Key  *Budget `json:"key,omitempty"`
	User *Budget `json:"user,omitempty"`
	Org  *Budget `json:"org,omitempty"`
}

// Budget is one scope's budget in its current window.
type Budget struct {
	// Window names the window: "day", "month", or "7d" for rolling days.
	Window string `json:"window"`
	// SpentUSD is the spend so far in the window, reservations included.
	SpentUSD float64 `json:"spent_usd"`
	// BudgetUSD is the budget of the window.
	BudgetUSD float64 `json:"budget_usd"`
	// RemainingUSD is BudgetUSD - SpentUSD, never below 0.
	RemainingUSD float64 `json:"remaining_usd"`
}

// Moderation is the input moderation result, keyed by category name
// ("harassment", "pii/email", ... as in wire.ModerationResult).
type Moderation struct {
	Flagged    bool               `json:"flagged"`
	Categories map[string]bool    `json:"categories"`
	Scores     map[string]float64 `json:"scores"`
}
