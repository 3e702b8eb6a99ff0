package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
)

var (
	contentType      = reflect.TypeFor[Content]()
	stopType         = reflect.TypeFor[Stop]()
	toolChoiceType   = reflect.TypeFor[ToolChoice]()
	functionCallType = reflect.TypeFor[FunctionCallChoice]()
	promptType       = reflect.TypeFor[Prompt]()
	modInputType     = reflect.TypeFor[ModerationInput]()
)

// Stop is the stop parameter: one string or up to four. A single string is
// stored as a one-element slice and encoded back as a string.
type Stop []string

// MarshalJSON encodes one stop sequence as a string, several as an array.
func (s Stop) MarshalJSON() ([]byte, error) {
	if len(s) == 1 {
		return json.Marshal(s[0])
	}
	return json.Marshal([]string(s))
}

// UnmarshalJSON accepts null, a string or an array of strings.
func (s *Stop) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "empty", Type: stopType}
	}
	switch b[0] {
	case 'n':
		*s = nil
		return nil
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Stop{v}
		return nil
	case '[':
		var v []string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		if v == nil {
			v = []string{}
		}
		*s = v
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: stopType}
}

// Tool choice modes.
const (
	ToolChoiceNone     = "none"
	ToolChoiceAuto     = "auto"
	ToolChoiceRequired = "required"
)

// Tool choice object types (ToolChoice.Type).
const (
	ToolChoiceFunction     = "function"
	ToolChoiceCustom       = "custom"
	ToolChoiceAllowedTools = "allowed_tools"
)

// ToolChoice is tool_choice: a mode string ("none", "auto", "required") or
// an object: {"type":"function","function":{"name":…}} naming one
// function, {"type":"custom","custom":{"name":…}} naming one custom tool,
// or {"type":"allowed_tools","allowed_tools":{"mode":…,"tools":[…]}}
// restricting the model to some of the tools.
type ToolChoice struct {
	// Mode is "none", "auto" or "required" when the choice was a string.
	Mode string
	// Type is the object's type ("function", "custom" or
	// "allowed_tools") when the choice was an object.
	Type string
	// Function is the name of the function the model must call.
	Function string
	// Custom is the name of the custom tool the model must call.
	Custom string
	// Allowed is the allowed_tools member of an allowed_tools choice.
	Allowed *AllowedTools
}

// Name returns the name of the function or custom tool the choice names,
// or "".
func (t *ToolChoice) Name() string {
	if t.Function != "" {
		return t.Function
	}
	return t.Custom
}

// AllowedTools restricts the tools a model may call to some of those in
// tools. Mode is "auto" or "required"; each of Tools names one tool, as a
// ToolChoice object does ({"type":"function","function":{"name":…}} or
// {"type":"custom","custom":{"name":…}}).
type AllowedTools struct {
	Mode  string       `json:"mode"`
	Tools []ToolChoice `json:"tools"`
}

type namedObject struct {
	Name string `json:"name"`
}

type toolChoiceObject struct {
	Type         string        `json:"type"`
	Function     *namedObject  `json:"function,omitempty"`
	Custom       *namedObject  `json:"custom,omitempty"`
	AllowedTools *AllowedTools `json:"allowed_tools,omitempty"`
}

type functionCallObject struct {
	Name string `json:"name"`
}

// MarshalJSON encodes the mode string or the object form.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	if t.Function == "" && t.Custom == "" && t.Allowed == nil && t.Type == "" {
		return json.Marshal(t.Mode)
	}
	o := toolChoiceObject{Type: t.Type, AllowedTools: t.Allowed}
	if o.Type == "" {
		o.Type = ToolChoiceFunction
	}
	if t.Function != "" || o.Type == ToolChoiceFunction {
		o.Function = &namedObject{Name: t.Function}
	}
	if t.Custom != "" || o.Type == ToolChoiceCustom {
		o.Custom = &namedObject{Name: t.Custom}
	}
	return json.Marshal(o)
}

// UnmarshalJSON accepts a mode string or the object form.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "empty", Type: toolChoiceType}
	}
	switch b[0] {
	case '"':
		*t = ToolChoice{}
		return json.Unmarshal(b, &t.Mode)
	case '{':
		var o toolChoiceObject
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*t = ToolChoice{Type: o.Type, Allowed: o.AllowedTools}
		if o.Function != nil {
			t.Function = o.Function.Name
		}
		if o.Custom != nil {
			t.Custom = o.Custom.Name
		}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: toolChoiceType}
}

// FunctionCallChoice is the legacy function_call parameter: a mode string
// ("none", "auto") or {"name": …} naming one function.
type FunctionCallChoice struct {
	// Mode is "none" or "auto" when the choice was a string.
	Mode string
	// Name is the function the model must call when the choice was an object.
	Name string
}

// MarshalJSON encodes the mode string or the object form.
func (f FunctionCallChoice) MarshalJSON() ([]byte, error) {
	if f.Name == "" {
		return json.Marshal(f.Mode)
	}
	return json.Marshal(functionCallObject{Name: f.Name})
}

// UnmarshalJSON accepts a mode string or {"name": …}.
func (f *FunctionCallChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return &json.UnmarshalTypeError{Value: "empty", Type: functionCallType}
	}
	switch b[0] {
	case '"':
		*f = FunctionCallChoice{}
		return json.Unmarshal(b, &f.Mode)
	case '{':
		var o functionCallObject
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*f = FunctionCallChoice{Name: o.Name}
		return nil
	}
	return &json.UnmarshalTypeError{Value: jsonKind(b[0]), Type: functionCallType}
}
