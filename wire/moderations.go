package wire

import (
	"bytes"
	"encoding/json"
)

// ModerationRequest is the body of POST /v1/moderations.
type ModerationRequest struct {
	Input ModerationInput `json:"input"`
	Model string          `json:"model,omitempty"`
}

// ModerationInput is a string, an array of strings, or an array of
// multi-modal parts. Each string gets its own result; an array of parts is
// one input and gets one result.
type ModerationInput struct {
	Texts []string
	Parts []ModerationPart
}

// ModerationPart is a text or image_url part of a multi-modal input.
type ModerationPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// Len returns the number of results the input asks for.
func (in ModerationInput) Len() int {
	if in.Parts != nil {
		return 1
	}
	return len(in.Texts)
}

// MarshalJSON encodes one string as a string, and the other forms as arrays.
func (in ModerationInput) MarshalJSON() ([]byte, error) {
	switch {
	case in.Parts != nil:
		return json.Marshal(in.Parts)
	case len(in.Texts) == 1:
		return json.Marshal(in.Texts[0])
	}
	return json.Marshal(in.Texts)
}

// UnmarshalJSON accepts every input form.
func (in *ModerationInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*in = ModerationInput{}
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "empty", Type: modInputType}
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		in.Texts = []string{s}
		return nil
	case '[':
		inner := bytes.TrimLeft(b[1:], " \t\r\n")
		if len(inner) > 0 && inner[0] == '{' {
			return json.Unmarshal(b, &in.Parts)
		}
		if err := json.Unmarshal(b, &in.Texts); err != nil {
			return err
		}
		if in.Texts == nil {
			in.Texts = []string{}
		}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: modInputType}
}

// ModerationResponse is the response of POST /v1/moderations.
type ModerationResponse struct {
	ID      string             `json:"id"`
	Model   string             `json:"model"`
	Results []ModerationResult `json:"results"`
}

// ModerationResult is the verdict on one input, keyed by category name
// ("harassment", "self-harm/intent", … and llmgate's extra categories).
type ModerationResult struct {
	Flagged                   bool                `json:"flagged"`
	Categories                map[string]bool     `json:"categories"`
	CategoryScores            map[string]float64  `json:"category_scores"`
	CategoryAppliedInputTypes map[string][]string `json:"category_applied_input_types,omitempty"`
}
