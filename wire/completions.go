package wire

import (
	"bytes"
	"encoding/json"
)

// CompletionRequest is the body of the legacy POST /v1/completions.
type CompletionRequest struct {
	Model            string             `json:"model"`
	Prompt           Prompt             `json:"prompt"`
	Suffix           string             `json:"suffix,omitempty"`
	MaxTokens        *int               `json:"max_tokens,omitempty"`
	Temperature      *float64           `json:"temperature,omitempty"`
	TopP             *float64           `json:"top_p,omitempty"`
	N                *int               `json:"n,omitempty"`
	Stream           bool               `json:"stream,omitempty"`
	StreamOptions    *StreamOptions     `json:"stream_options,omitempty"`
	Logprobs         *int               `json:"logprobs,omitempty"` // 0–5 alternatives per token
	Echo             bool               `json:"echo,omitempty"`
	Stop             Stop               `json:"stop,omitempty"`
	PresencePenalty  *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64           `json:"frequency_penalty,omitempty"`
	BestOf           *int               `json:"best_of,omitempty"`
	LogitBias        map[string]float64 `json:"logit_bias,omitempty"`
	Seed             *int64             `json:"seed,omitempty"`
	User             string             `json:"user,omitempty"`
}

// Choices returns n, or 1 when n is absent.
func (r *CompletionRequest) Choices() int {
	if r.N == nil {
		return 1
	}
	return *r.N
}

// IncludeUsage reports whether a streamed response ends with a usage chunk.
func (r *CompletionRequest) IncludeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// Prompt is the prompt of a legacy completion: a string, an array of
// strings, an array of token ids or an array of arrays of token ids.
// Exactly one of Texts and Tokens is non-nil once decoded.
type Prompt struct {
	Texts  []string
	Tokens [][]int
	// Nested says Tokens came as an array of arrays ([[1,2]]), so that a
	// token id is prompt[i][j] even when there is one array, and is
	// encoded back that way.
	Nested bool
}

// TextPrompt returns a prompt of one or more strings.
func TextPrompt(s ...string) Prompt { return Prompt{Texts: s} }

// MarshalJSON encodes one string as a string, and the other forms as arrays.
func (p Prompt) MarshalJSON() ([]byte, error) {
	switch {
	case len(p.Tokens) == 1 && !p.Nested:
		return json.Marshal(p.Tokens[0])
	case p.Tokens != nil:
		return json.Marshal(p.Tokens)
	case len(p.Texts) == 1:
		return json.Marshal(p.Texts[0])
	case p.Texts == nil:
		return []byte(`""`), nil
	}
	return json.Marshal(p.Texts)
}

// UnmarshalJSON accepts every prompt form.
func (p *Prompt) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*p = Prompt{}
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "empty", Type: promptType}
	}
	switch b[0] {
	case 'n':
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		p.Texts = []string{s}
		return nil
	case '[':
		inner := bytes.TrimLeft(b[1:], " \t\r\n")
		switch {
		case len(inner) > 0 && inner[0] == ']':
			p.Texts = []string{}
			return nil
		case len(inner) > 0 && inner[0] == '"':
			return json.Unmarshal(b, &p.Texts)
		case len(inner) > 0 && inner[0] == '[':
			p.Nested = true
			return json.Unmarshal(b, &p.Tokens)
		}
		var ids []int
		if err := json.Unmarshal(b, &ids); err != nil {
			return err
		}
		p.Tokens = [][]int{ids}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: promptType}
}

// Completion is the response of a legacy completion, and each event of its
// stream.
type Completion struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"` // "text_completion"
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	SystemFingerprint string             `json:"system_fingerprint,omitempty"`
}

// CompletionChoice is one choice of a legacy completion.
type CompletionChoice struct {
	Index        int                 `json:"index"`
	Text         string              `json:"text"`
	Logprobs     *CompletionLogprobs `json:"logprobs"`
	FinishReason FinishReason        `json:"finish_reason"`
}

// CompletionLogprobs is the legacy logprobs shape: parallel arrays.
type CompletionLogprobs struct {
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []float64            `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
	TextOffset    []int                `json:"text_offset"`
}
