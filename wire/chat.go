package wire

import "encoding/json"

// Message roles.
const (
	RoleSystem    = "system"
	RoleDeveloper = "developer"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
	RoleFunction  = "function"
)

// ChatCompletionRequest is the body of POST /v1/chat/completions.
//
// Optional scalars are pointers so that "absent" and "zero" differ: a
// request without temperature is not a request with temperature 0. Fields
// this type does not know are not kept here; they travel in the raw body.
type ChatCompletionRequest struct {
	Model               string             `json:"model"`
	Messages            []Message          `json:"messages"`
	FrequencyPenalty    *float64           `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]float64 `json:"logit_bias,omitempty"`
	Logprobs            *bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int               `json:"top_logprobs,omitempty"`
	MaxTokens           *int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int               `json:"max_completion_tokens,omitempty"`
	N                   *int               `json:"n,omitempty"`
	PresencePenalty     *float64           `json:"presence_penalty,omitempty"`
	ResponseFormat      *ResponseFormat    `json:"response_format,omitempty"`
	Seed                *int64             `json:"seed,omitempty"`
	Stop                Stop               `json:"stop,omitempty"`
	Stream              bool               `json:"stream,omitempty"`
	StreamOptions       *StreamOptions     `json:"stream_options,omitempty"`
	Temperature         *float64           `json:"temperature,omitempty"`
	TopP                *float64           `json:"top_p,omitempty"`
	Tools               []Tool             `json:"tools,omitempty"`
	ToolChoice          *ToolChoice        `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls,omitempty"`
	User                string             `json:"user,omitempty"`
	ReasoningEffort     string             `json:"reasoning_effort,omitempty"`
	ServiceTier         string             `json:"service_tier,omitempty"`
	Store               *bool              `json:"store,omitempty"`
	Metadata            map[string]string  `json:"metadata,omitempty"`

	// Functions and FunctionCall are the legacy forms of Tools and ToolChoice.
	Functions    []FunctionDefinition `json:"functions,omitempty"`
	FunctionCall *FunctionCallChoice  `json:"function_call,omitempty"`
}

// MaxOutputTokens returns max_completion_tokens, else max_tokens, else 0
// (no limit was asked for).
func (r *ChatCompletionRequest) MaxOutputTokens() int {
	switch {
	case r.MaxCompletionTokens != nil:
		return *r.MaxCompletionTokens
	case r.MaxTokens != nil:
		return *r.MaxTokens
	}
	return 0
}

// Choices returns n, or 1 when n is absent.
func (r *ChatCompletionRequest) Choices() int {
	if r.N == nil {
		return 1
	}
	return *r.N
}

// IncludeUsage reports whether a streamed response ends with a usage chunk.
func (r *ChatCompletionRequest) IncludeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// Message is one entry of messages, and the message of a response choice.
type Message struct {
	Role    string  `json:"role"`
	Content Content `json:"content,omitzero"`
	Name    string  `json:"name,omitempty"`
	Refusal string  `json:"refusal,omitempty"`
	// ToolCalls are the calls an assistant message issued.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID is the call a tool message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	// FunctionCall is the legacy form of ToolCalls.
	FunctionCall *FunctionCall `json:"function_call,omitempty"`
}

// Tool types.
const (
	ToolFunction = "function"
	ToolCustom   = "custom"
)

// Tool is one entry of tools. Type is "function", with Function set, or
// "custom", with Custom set (a tool that takes free-form text, optionally
// constrained by a grammar).
type Tool struct {
	Type     string             `json:"type"`
	Function FunctionDefinition `json:"function,omitzero"`
	Custom   *CustomTool        `json:"custom,omitempty"`
}

// Name returns the name of the function or custom tool.
func (t *Tool) Name() string {
	if t.Custom != nil {
		return t.Custom.Name
	}
	return t.Function.Name
}

// CustomTool describes a custom tool: the model calls it with text
// (ToolCall.Custom.Input) in the format Format says; nil Format means
// unconstrained text.
type CustomTool struct {
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Format      *CustomFormat `json:"format,omitempty"`
}

// Custom tool input formats.
const (
	CustomFormatText    = "text"
	CustomFormatGrammar = "grammar"
)

// CustomFormat is the format of a custom tool: {"type":"text"} or
// {"type":"grammar","grammar":{…}}.
type CustomFormat struct {
	Type    string   `json:"type"`
	Grammar *Grammar `json:"grammar,omitempty"`
}

// Grammar is the grammar of a custom tool's input. Syntax is "lark" or
// "regex".
type Grammar struct {
	Definition string `json:"definition"`
	Syntax     string `json:"syntax"`
}

// FunctionDefinition describes a function the model may call. Parameters is
// a JSON Schema object, kept raw.
type FunctionDefinition struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolCall is a call issued by the model: of a function (Type
// "function", Function set) or of a custom tool (Type "custom", Custom
// set). In a stream delta Index says which call a fragment extends, and
// ID, Type and Name arrive only in the first fragment.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function,omitzero"`
	Custom   *CustomCall  `json:"custom,omitempty"`
}

// Name returns the name of the function or custom tool called.
func (c *ToolCall) Name() string {
	if c.Custom != nil {
		return c.Custom.Name
	}
	return c.Function.Name
}

// Input returns what the tool is called with: the function's arguments,
// or the custom tool's input. A call that carries both, which no valid
// call does, returns both on two lines, so that neither escapes a reader
// (a content filter, a token count) that looks at one call as one text.
func (c *ToolCall) Input() string {
	switch {
	case c.Custom == nil || c.Custom.Input == "":
		return c.Function.Arguments
	case c.Function.Arguments == "":
		return c.Custom.Input
	}
	return c.Function.Arguments + "\n" + c.Custom.Input
}

// CustomCall is a custom tool's name with the text it is called with.
type CustomCall struct {
	Name  string `json:"name,omitempty"`
	Input string `json:"input"`
}

// FunctionCall is a function name with its arguments as a JSON string.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// Response formats.
const (
	FormatText       = "text"
	FormatJSONObject = "json_object"
	FormatJSONSchema = "json_schema"
)

// ResponseFormat is response_format.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is the json_schema member of a json_schema response format.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// StreamOptions is stream_options; it is only valid when stream is true.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Finish reasons.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
	FinishFunctionCall  FinishReason = "function_call"
)

// FinishReason says why a choice ended. The empty value, used in stream
// chunks before the last, is encoded as null.
type FinishReason string

// MarshalJSON encodes the empty reason as null.
func (f FinishReason) MarshalJSON() ([]byte, error) {
	if f == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(f))
}

// ChatCompletion is the response of a non-streamed chat completion.
type ChatCompletion struct {
	ID                string       `json:"id"`
	Object            string       `json:"object"` // "chat.completion"
	Created           int64        `json:"created"`
	Model             string       `json:"model"`
	Choices           []ChatChoice `json:"choices"`
	Usage             *Usage       `json:"usage,omitempty"`
	SystemFingerprint string       `json:"system_fingerprint,omitempty"`
	ServiceTier       string       `json:"service_tier,omitempty"`
}

// ChatChoice is one choice of a chat completion.
type ChatChoice struct {
	Index        int           `json:"index"`
	Message      Message       `json:"message"`
	FinishReason FinishReason  `json:"finish_reason"`
	Logprobs     *ChatLogprobs `json:"logprobs"`
}

// ChatLogprobs holds the log-probabilities of the generated tokens.
type ChatLogprobs struct {
	Content []TokenLogprob `json:"content"`
	Refusal []TokenLogprob `json:"refusal,omitempty"`
}

// TokenLogprob is one generated token with its log-probability and the most
// likely alternatives at that position.
type TokenLogprob struct {
	Token       string       `json:"token"`
	Logprob     float64      `json:"logprob"`
	Bytes       []int        `json:"bytes"`
	TopLogprobs []TopLogprob `json:"top_logprobs"`
}

// TopLogprob is one alternative of a TokenLogprob.
type TopLogprob struct {
	Token   string  `json:"token"`
	Logprob float64 `json:"logprob"`
	Bytes   []int   `json:"bytes"`
}

// ChatCompletionChunk is one event of a streamed chat completion. The final
// usage chunk has no choices and a non-nil Usage.
type ChatCompletionChunk struct {
	ID                string        `json:"id"`
	Object            string        `json:"object"` // "chat.completion.chunk"
	Created           int64         `json:"created"`
	Model             string        `json:"model"`
	SystemFingerprint string        `json:"system_fingerprint,omitempty"`
	ServiceTier       string        `json:"service_tier,omitempty"`
	Choices           []ChunkChoice `json:"choices"`
	Usage             *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is the part of one choice carried by a chunk.
type ChunkChoice struct {
	Index        int           `json:"index"`
	Delta        Delta         `json:"delta"`
	FinishReason FinishReason  `json:"finish_reason"`
	Logprobs     *ChatLogprobs `json:"logprobs,omitempty"`
}

// Delta is the increment of a message carried by a chunk.
type Delta struct {
	Role         string        `json:"role,omitempty"`
	Content      string        `json:"content,omitempty"`
	Refusal      string        `json:"refusal,omitempty"`
	ToolCalls    []ToolCall    `json:"tool_calls,omitempty"`
	FunctionCall *FunctionCall `json:"function_call,omitempty"`
}

// Object names.
const (
	ObjectChatCompletion      = "chat.completion"
	ObjectChatCompletionChunk = "chat.completion.chunk"
	ObjectTextCompletion      = "text_completion"
)
