package middleware

import (
	"bytes"
	"fmt"

	"github.com/llmgate/llmgate/wire"
)

// chatBlock holds a chat request and the storage of its optional scalars,
// so that decoding a request costs one allocation instead of one per
// pointer field.
type chatBlock struct {
	req  wire.ChatCompletionRequest
	f    [4]float64 // frequency_penalty, presence_penalty, temperature, top_p
	n    [4]int     // top_logprobs, max_tokens, max_completion_tokens, n
	seed int64
	b    [3]bool // logprobs, parallel_tool_calls, store
	rf   wire.ResponseFormat
	so   wire.StreamOptions
	tc   wire.ToolChoice
	fc   wire.FunctionCallChoice
}

// presence records what the wire types cannot show: whether a member was
// sent at all (an absent model differs from "").
type presence struct {
	model  bool
	prompt bool
	input  bool
}

// decodeChat decodes a /v1/chat/completions body.
func decodeChat(d *scanner) (*wire.ChatCompletionRequest, presence, error) {
	var seen presence
	blk := &chatBlock{}
	r := &blk.req
	if err := d.expectObject(); err != nil {
		return nil, seen, err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return nil, seen, err
		}
		if !more {
			break
		}
		switch key {
		case "model":
			seen.model = true
			r.Model, err = d.reqString()
		case "messages":
			r.Messages, err = decodeMessages(d)
		case "frequency_penalty":
			r.FrequencyPenalty, err = d.floatField(&blk.f[0])
		case "presence_penalty":
			r.PresencePenalty, err = d.floatField(&blk.f[1])
		case "temperature":
			r.Temperature, err = d.floatField(&blk.f[2])
		case "top_p":
			r.TopP, err = d.floatField(&blk.f[3])
		case "top_logprobs":
			r.TopLogprobs, err = d.intField(&blk.n[0])
		case "max_tokens":
			r.MaxTokens, err = d.intField(&blk.n[1])
		case "max_completion_tokens":
			r.MaxCompletionTokens, err = d.intField(&blk.n[2])
		case "n":
			r.N, err = d.intField(&blk.n[3])
		case "seed":
			var v int64
			var ok bool
			if v, ok, err = d.getInt(); ok {
				blk.seed = v
				r.Seed = &blk.seed
			}
		case "logprobs":
			r.Logprobs, err = d.boolField(&blk.b[0])
		case "parallel_tool_calls":
			r.ParallelToolCalls, err = d.boolField(&blk.b[1])
		case "store":
			r.Store, err = d.boolField(&blk.b[2])
		case "logit_bias":
			r.LogitBias, err = d.getLogitBias()
		case "stop":
			r.Stop, err = d.getStop()
		case "stream":
			r.Stream, _, err = d.getBool()
		case "stream_options":
			r.StreamOptions, err = decodeStreamOptions(d, &blk.so)
		case "response_format":
			r.ResponseFormat, err = decodeResponseFormat(d, &blk.rf)
		case "tools":
			r.Tools, err = decodeTools(d)
		case "tool_choice":
			r.ToolChoice, err = decodeToolChoice(d, &blk.tc)
		case "functions":
			r.Functions, err = decodeFunctions(d)
		case "function_call":
			r.FunctionCall, err = decodeFunctionCallChoice(d, &blk.fc)
		case "user":
			r.User, err = d.getString()
		case "reasoning_effort":
			r.ReasoningEffort, err = d.getString()
		case "service_tier":
			r.ServiceTier, err = d.getString()
		case "metadata":
			r.Metadata, err = d.getMetadata()
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, seen, at(err, key)
		}
	}
	return r, seen, nil
}

// floatField reads an optional number into *dst and returns dst, or nil
// for null.
func (d *scanner) floatField(dst *float64) (*float64, error) {
	v, ok, err := d.getFloat()
	if !ok || err != nil {
		return nil, err
	}
	*dst = v
	return dst, nil
}

// intField reads an optional integer into *dst and returns dst, or nil
// for null.
func (d *scanner) intField(dst *int) (*int, error) {
	v, ok, err := d.getInt()
	if !ok || err != nil {
		return nil, err
	}
	*dst = int(v)
	return dst, nil
}

// boolField reads an optional boolean into *dst and returns dst, or nil
// for null.
func (d *scanner) boolField(dst *bool) (*bool, error) {
	v, ok, err := d.getBool()
	if !ok || err != nil {
		return nil, err
	}
	*dst = v
	return dst, nil
}

var roleKey = []byte(`"role"`)

const minMessageBytes = 24 // {"role":"user","content":""} and a comma is more

func decodeMessages(d *scanner) ([]wire.Message, error) {
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	// Size the slice once: every message has a "role" key, so counting
	// them bounds the number of messages. An over-count (unknown members
	// or strings spelling "role") only costs spare capacity, and that is
	// capped by the bytes left: a message with a role and content takes
	// at least minMessageBytes.
	rest := d.b[d.i:]
	msgs := make([]wire.Message, 0, max(1, min(bytes.Count(rest, roleKey), len(rest)/minMessageBytes)))
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return nil, err
		}
		if !more {
			return msgs, nil
		}
		msgs = append(msgs, wire.Message{})
		if err := decodeMessage(d, &msgs[n]); err != nil {
			return nil, atIdx(err, n)
		}
	}
}

func decodeMessage(d *scanner, m *wire.Message) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "role":
			m.Role, err = d.reqString()
			m.Role = internRole(m.Role)
		case "content":
			m.Content, err = decodeContent(d)
		case "name":
			m.Name, err = d.getString()
		case "refusal":
			m.Refusal, err = d.getString()
		case "tool_call_id":
			m.ToolCallID, err = d.getString()
		case "tool_calls":
			m.ToolCalls, err = decodeToolCalls(d)
		case "function_call":
			if null, e := d.isNull(); null || e != nil {
				err = e
				break
			}
			m.FunctionCall = &wire.FunctionCall{}
			err = decodeFunctionCall(d, m.FunctionCall)
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}

// internRole returns the package constant for a known role, so that a
// role string does not keep the request's body string alive.
func internRole(s string) string {
	switch s {
	case wire.RoleSystem:
		return wire.RoleSystem
	case wire.RoleDeveloper:
		return wire.RoleDeveloper
	case wire.RoleUser:
		return wire.RoleUser
	case wire.RoleAssistant:
		return wire.RoleAssistant
	case wire.RoleTool:
		return wire.RoleTool
	case wire.RoleFunction:
		return wire.RoleFunction
	}
	return s
}

// decodeContent reads null, a string or an array of parts.
func decodeContent(d *scanner) (wire.Content, error) {
	switch d.peek() {
	case 'n':
		return wire.Content{}, d.word("null")
	case '"':
		s, err := d.str()
		return wire.TextContent(s), err
	case '[':
		parts := make([]wire.ContentPart, 0, 2)
		for n := 0; ; n++ {
			more, err := d.arr(n)
			if err != nil {
				return wire.Content{}, err
			}
			if !more {
				return wire.PartsContent(parts...), nil
			}
			parts = append(parts, wire.ContentPart{})
			if err := decodePart(d, &parts[n]); err != nil {
				return wire.Content{}, atIdx(err, n)
			}
		}
	}
	return wire.Content{}, d.typeError("a string or an array of objects")
}

// partTypes lists the content part types of chat messages.
const partTypes = "'text', 'image_url', 'input_audio', 'file' and 'refusal'"

// decodePart reads one content part and checks that its type is known and
// that the members its type requires are present.
func decodePart(d *scanner, p *wire.ContentPart) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	var hasType, hasText, hasRefusal bool
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "type":
			hasType = true
			p.Type, err = d.reqString()
		case "text":
			hasText = true
			p.Text, err = d.reqString()
		case "refusal":
			hasRefusal = true
			p.Refusal, err = d.reqString()
		case "image_url":
			p.ImageURL = &wire.ImageURL{}
			err = decodeImageURL(d, p.ImageURL)
		case "input_audio":
			p.InputAudio = &wire.InputAudio{}
			err = decodeInputAudio(d, p.InputAudio)
		case "file":
			p.File = &wire.File{}
			err = decodeFile(d, p.File)
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	switch {
	case !hasType:
		return at(missing(), "type")
	case p.Type == wire.PartText && !hasText:
		return at(missing(), "text")
	case p.Type == wire.PartRefusal && !hasRefusal:
		return at(missing(), "refusal")
	case p.Type == wire.PartImageURL && p.ImageURL == nil:
		return at(missing(), "image_url")
	case p.Type == wire.PartImageURL && p.ImageURL.URL == "":
		return at(at(missing(), "url"), "image_url")
	case p.Type == wire.PartInputAudio && p.InputAudio == nil:
		return at(missing(), "input_audio")
	case p.Type == wire.PartInputAudio && p.InputAudio.Data == "":
		return at(at(missing(), "data"), "input_audio")
	case p.Type == wire.PartInputAudio && p.InputAudio.Format == "":
		return at(at(missing(), "format"), "input_audio")
	case p.Type == wire.PartFile && p.File == nil:
		return at(missing(), "file")
	case p.Type == wire.PartFile && p.File.FileID == "" && p.File.FileData == "":
		return at(newFieldError(wire.CodeMissingRequired, func(param string) string {
			return fmt.Sprintf("Missing required parameter: '%s' needs 'file_id' or 'file_data'.", param)
		}), "file")
	case p.Type != wire.PartText && p.Type != wire.PartRefusal && p.Type != wire.PartImageURL &&
		p.Type != wire.PartInputAudio && p.Type != wire.PartFile:
		return at(invalidEnum(p.Type, partTypes), "type")
	}
	p.Type = internPart(p.Type)
	return nil
}

func internPart(s string) string {
	switch s {
	case wire.PartText:
		return wire.PartText
	case wire.PartImageURL:
		return wire.PartImageURL
	case wire.PartRefusal:
		return wire.PartRefusal
	case wire.PartInputAudio:
		return wire.PartInputAudio
	case wire.PartFile:
		return wire.PartFile
	}
	return s
}

// invalidEnum is a value outside a fixed set.
func invalidEnum(v, supported string) *fieldError {
	return newFieldError(wire.CodeInvalidValue, func(p string) string {
		return fmt.Sprintf("Invalid value for '%s': %s. Supported values are: %s.", p, quoteValue(v), supported)
	})
}

func decodeImageURL(d *scanner, u *wire.ImageURL) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "url":
			u.URL, err = d.reqString()
		case "detail":
			u.Detail, err = d.getString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}

func decodeInputAudio(d *scanner, a *wire.InputAudio) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "data":
			a.Data, err = d.reqString()
		case "format":
			a.Format, err = d.reqString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}

func decodeFile(d *scanner, f *wire.File) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "file_id":
			f.FileID, err = d.getString()
		case "filename":
			f.Filename, err = d.getString()
		case "file_data":
			f.FileData, err = d.getString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}

func decodeToolCalls(d *scanner) ([]wire.ToolCall, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	calls := []wire.ToolCall{}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return nil, err
		}
		if !more {
			return calls, nil
		}
		calls = append(calls, wire.ToolCall{})
		if err := decodeToolCall(d, &calls[n]); err != nil {
			return nil, atIdx(err, n)
		}
	}
}

func decodeToolCall(d *scanner, c *wire.ToolCall) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "id":
			c.ID, err = d.reqString()
		case "type":
			c.Type, err = d.reqString()
		case "function":
			err = decodeFunctionCall(d, &c.Function)
		case "custom":
			var null bool // null reads as absent, as encoding/json reads it
			if null, err = d.isNull(); !null && err == nil {
				c.Custom = &wire.CustomCall{}
				err = decodeCustomCall(d, c.Custom)
			}
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}

// decodeCustomCall reads a custom tool call's {name, input}; input is
// required (its name is checked by validation, as a function's is).
func decodeCustomCall(d *scanner, c *wire.CustomCall) error {
	hasInput, err := decodeCall(d, "input", &c.Name, &c.Input)
	if err == nil && !hasInput {
		return at(missing(), "input")
	}
	return err
}

// decodeFunctionCall reads a function call's {name, arguments}.
func decodeFunctionCall(d *scanner, f *wire.FunctionCall) error {
	_, err := decodeCall(d, "arguments", &f.Name, &f.Arguments)
	return err
}

// decodeCall reads a call object {name, <text>}, the text a function
// call's "arguments" or a custom tool call's "input", and reports whether
// the text was there.
func decodeCall(d *scanner, text string, name, val *string) (has bool, err error) {
	if err := d.expectObject(); err != nil {
		return false, err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return has, err
		}
		switch key {
		case "name":
			*name, err = d.reqString()
		case text:
			has = true
			*val, err = d.reqString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return has, at(err, key)
		}
	}
}
