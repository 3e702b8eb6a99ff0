package middleware

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/llmgate/llmgate/wire"
)

const supportedRoles = "'system', 'developer', 'user', 'assistant', 'tool' and 'function'"

// validateChat checks a chat completion request; schemas validates tool
// and response format schemas.
func validateChat(r *wire.ChatCompletionRequest, seen presence, cache *schemaCache) *wire.Error {
	schemas := newSchemaCheck(cache)
	if e := checkModel(r.Model, seen.model); e != nil {
		return e
	}
	if e := checkMessages(r.Messages); e != nil {
		return e
	}
	s := sampling{r.Temperature, r.TopP, r.FrequencyPenalty, r.PresencePenalty, r.N, r.Stop, r.LogitBias, r.Stream, r.StreamOptions}
	if e := s.check(); e != nil {
		return e
	}
	if e := intRange("max_tokens", r.MaxTokens, 1, maxOutputTokens); e != nil {
		return e
	}
	if e := intRange("max_completion_tokens", r.MaxCompletionTokens, 1, maxOutputTokens); e != nil {
		return e
	}
	if e := intRange("top_logprobs", r.TopLogprobs, 0, maxTopLogprobs); e != nil {
		return e
	}
	if r.TopLogprobs != nil && (r.Logprobs == nil || !*r.Logprobs) {
		return badValue("top_logprobs", "Invalid 'top_logprobs': 'logprobs' must be set to true when 'top_logprobs' is used.")
	}
	if e := checkTools(r.Tools, schemas); e != nil {
		return e
	}
	if e := checkToolChoice(r); e != nil {
		return e
	}
	if e := checkFunctions(r.Functions, schemas); e != nil {
		return e
	}
	if e := checkFunctionCall(r); e != nil {
		return e
	}
	return checkResponseFormat(r.ResponseFormat, schemas)
}

// partRoles says which content part types each role may send.
func partAllowed(role, typ string) bool {
	switch role {
	case wire.RoleUser:
		return typ == wire.PartText || typ == wire.PartImageURL || typ == wire.PartInputAudio || typ == wire.PartFile
	case wire.RoleAssistant:
		return typ == wire.PartText || typ == wire.PartRefusal
	}
	return typ == wire.PartText
}

func partsFor(role string) string {
	switch role {
	case wire.RoleUser:
		return "'text', 'image_url', 'input_audio' and 'file'"
	case wire.RoleAssistant:
		return "'text' and 'refusal'"
	}
	return "'text'"
}

// checkMessages checks roles, content per role, and that every tool
// message answers a call an earlier assistant message issued.
func checkMessages(msgs []wire.Message) *wire.Error {
	if msgs == nil {
		return missingParam("messages")
	}
	if len(msgs) == 0 {
		return badValue("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	var stack [16]string
	issued := callIDs{list: stack[:0]} // tool call ids issued so far
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case "":
			return missingParam(fmt.Sprintf("messages[%d].role", i))
		case wire.RoleSystem, wire.RoleDeveloper, wire.RoleUser, wire.RoleTool, wire.RoleFunction:
			if m.Content.IsZero() {
				return missingParam(fmt.Sprintf("messages[%d].content", i))
			}
		case wire.RoleAssistant:
			if m.Content.IsZero() && len(m.ToolCalls) == 0 && m.FunctionCall == nil && m.Refusal == "" {
				return badValue(fmt.Sprintf("messages[%d].content", i),
					"Invalid 'messages[%d].content': an assistant message needs 'content', 'tool_calls', 'function_call' or 'refusal'.", i)
			}
		default:
			param := fmt.Sprintf("messages[%d].role", i)
			return badValue(param, "Invalid value for '%s': %s. Supported values are: %s.", param, quoteValue(m.Role), supportedRoles)
		}
		for j := range m.Content.Parts {
			p := &m.Content.Parts[j]
			if !partAllowed(m.Role, p.Type) {
				param := fmt.Sprintf("messages[%d].content[%d].type", i, j)
				return badValue(param, "Invalid value for '%s': %s is not allowed in a '%s' message. Supported values are: %s.",
					param, quoteValue(p.Type), m.Role, partsFor(m.Role))
			}
			if e := checkPart(fmt.Sprintf("messages[%d].content[%d]", i, j), p); e != nil {
				return e
			}
		}
		switch m.Role {
		case wire.RoleAssistant:
			for j := range m.ToolCalls {
				c := &m.ToolCalls[j]
				param := fmt.Sprintf("messages[%d].tool_calls[%d]", i, j)
				switch {
				case c.ID == "":
					return missingParam(param + ".id")
				case c.Type == wire.ToolFunction && c.Function.Name == "":
					return missingParam(param + ".function.name")
				case c.Type == wire.ToolFunction && c.Custom != nil:
					return unknownParam(param + ".custom")
				case c.Type == wire.ToolCustom && c.Custom == nil:
					return missingParam(param + ".custom")
				case c.Type == wire.ToolCustom && c.Custom.Name == "":
					return missingParam(param + ".custom.name")
				case c.Type == wire.ToolCustom && c.Function != (wire.FunctionCall{}):
					return unknownParam(param + ".function")
				case c.Type != wire.ToolFunction && c.Type != wire.ToolCustom:
					return badValue(param+".type", "Invalid value for '%s.type': %s. Supported values are: 'function' and 'custom'.", param, quoteValue(c.Type))
				}
				issued.add(c.ID) // custom calls are answered by tool messages too
			}
		case wire.RoleTool:
			param := fmt.Sprintf("messages[%d].tool_call_id", i)
			if m.ToolCallID == "" {
				return missingParam(param)
			}
			if !issued.has(m.ToolCallID) {
				return badValue(param, "Invalid '%s': %s does not answer a tool call issued by an earlier assistant message.",
					param, quoteValue(m.ToolCallID))
			}
		case wire.RoleFunction:
			if m.Name == "" {
				return missingParam(fmt.Sprintf("messages[%d].name", i))
			}
		}
	}
	return nil
}

// callIDs is the set of tool call ids issued so far: a list while it is
// short, as in most requests, and a map once it grows, so that a body with
// thousands of calls is not checked in time quadratic in their number.
type callIDs struct {
	list []string
	set  map[string]struct{}
}

func (s *callIDs) add(id string) {
	switch {
	case s.set != nil:
		s.set[id] = struct{}{}
	case len(s.list) < 16:
		s.list = append(s.list, id)
	default:
		s.set = make(map[string]struct{}, 4*len(s.list))
		for _, v := range s.list {
			s.set[v] = struct{}{}
		}
		s.set[id] = struct{}{}
	}
}

func (s *callIDs) has(id string) bool {
	if s.set != nil {
		_, ok := s.set[id]
		return ok
	}
	return slices.Contains(s.list, id)
}

// checkPart checks the values inside a part (its type and required members
// were checked by the decoder).
func checkPart(param string, p *wire.ContentPart) *wire.Error {
	switch p.Type {
	case wire.PartImageURL:
		return checkImageURL(param+".image_url", p.ImageURL)
	case wire.PartInputAudio:
		if f := p.InputAudio.Format; f != "wav" && f != "mp3" {
			param += ".input_audio.format"
			return badValue(param, "Invalid value for '%s': %s. Supported values are: 'wav' and 'mp3'.", param, quoteValue(f))
		}
	}
	return nil
}

// checkDefinitions checks names (pattern, uniqueness) and parameter
// schemas of function definitions; param(i) names the i-th function, and
// def(i) returns it, or nil for an entry that is not a function.
func checkDefinitions(n int, def func(i int) *wire.FunctionDefinition, param func(i int) string, schemas *schemaCheck) *wire.Error {
	for i := 0; i < n; i++ {
		f := def(i)
		if f == nil {
			continue // not a function
		}
		if !validName(f.Name) {
			return badName(param(i)+".name", f.Name)
		}
		for j := 0; j < i; j++ {
			if g := def(j); g != nil && g.Name == f.Name {
				p := param(i) + ".name"
				return badValue(p, "Invalid '%s': function name %s is already used by %s.", p, quoteValue(f.Name), param(j))
			}
		}
		if f.Parameters != nil {
			if err := schemas.check(f.Parameters); err != nil {
				p := param(i) + ".parameters"
				return badValue(p, "Invalid schema for function '%s' in '%s': %s", f.Name, p, schemaProblem(err))
			}
		}
	}
	return nil
}

// checkTools checks function tools as checkDefinitions does, and custom
// tools: their names as function names are (pattern, and unique among all
// tools: a call names the tool it calls) and their grammar's syntax.
func checkTools(tools []wire.Tool, schemas *schemaCheck) *wire.Error {
	if len(tools) > maxTools {
		return badValue("tools", "Invalid 'tools': array too long. Expected an array with maximum length %d, but got an array with length %d instead.",
			maxTools, len(tools))
	}
	custom := false
	e := checkDefinitions(len(tools),
		func(i int) *wire.FunctionDefinition {
			if tools[i].Custom != nil {
				custom = true
				return nil
			}
			return &tools[i].Function
		},
		func(i int) string { return fmt.Sprintf("tools[%d].function", i) },
		schemas)
	if e != nil || !custom {
		return e
	}
	param := func(i int) string {
		if tools[i].Custom != nil {
			return fmt.Sprintf("tools[%d].custom", i)
		}
		return fmt.Sprintf("tools[%d].function", i)
	}
	for i := range tools {
		c := tools[i].Custom
		if c != nil {
			if !validName(c.Name) {
				return badName(param(i)+".name", c.Name)
			}
			if f := c.Format; f != nil && f.Type == wire.CustomFormatGrammar {
				if s := f.Grammar.Syntax; s != "lark" && s != "regex" {
					p := param(i) + ".format.grammar.syntax"
					return badValue(p, "Invalid value for '%s': %s. Supported values are: 'lark' and 'regex'.", p, quoteValue(s))
				}
			}
		}
		for j := 0; j < i; j++ {
			if (c != nil || tools[j].Custom != nil) && tools[j].Name() == tools[i].Name() {
				p := param(i) + ".name"
				return badValue(p, "Invalid '%s': tool name %s is already used by %s.", p, quoteValue(tools[i].Name()), param(j))
			}
		}
	}
	return nil
}

func checkFunctions(fns []wire.FunctionDefinition, schemas *schemaCheck) *wire.Error {
	if len(fns) > maxTools {
		return badValue("functions", "Invalid 'functions': array too long. Expected an array with maximum length %d, but got an array with length %d instead.",
			maxTools, len(fns))
	}
	return checkDefinitions(len(fns),
		func(i int) *wire.FunctionDefinition { return &fns[i] },
		func(i int) string { return fmt.Sprintf("functions[%d]", i) },
		schemas)
}

func checkToolChoice(r *wire.ChatCompletionRequest) *wire.Error {
	tc := r.ToolChoice
	if tc == nil {
		return nil
	}
	if tc.Type == "" {
		switch tc.Mode {
		case wire.ToolChoiceNone:
			return nil
		case wire.ToolChoiceAuto, wire.ToolChoiceRequired:
		default:
			return badValue("tool_choice", "Invalid value for 'tool_choice': %s. Supported values are: 'none', 'auto', 'required' or an object naming a function.",
				quoteValue(tc.Mode))
		}
	}
	if len(r.Tools) == 0 {
		return badValue("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
	}
	if tc.Type == "" {
		return nil
	}
	if a := tc.Allowed; a != nil {
		if a.Mode != wire.ToolChoiceAuto && a.Mode != wire.ToolChoiceRequired {
			return badValue("tool_choice.allowed_tools.mode", "Invalid value for 'tool_choice.allowed_tools.mode': %s. Supported values are: 'auto' and 'required'.",
				quoteValue(a.Mode))
		}
		for k := range a.Tools {
			if e := checkNamedTool(r.Tools, &a.Tools[k], fmt.Sprintf("tool_choice.allowed_tools.tools[%d]", k)); e != nil {
				return e
			}
		}
		return nil
	}
	return checkNamedTool(r.Tools, tc, "tool_choice")
}

// checkNamedTool checks that the function or custom tool a choice object
// names is in tools.
func checkNamedTool(tools []wire.Tool, tc *wire.ToolChoice, param string) *wire.Error {
	if tc.Type == wire.ToolChoiceCustom {
		for i := range tools {
			if c := tools[i].Custom; c != nil && c.Name == tc.Custom {
				return nil
			}
		}
		param += ".custom.name"
		return badValue(param, "Invalid '%s': no custom tool named %s is in 'tools'.", param, quoteValue(tc.Custom))
	}
	for i := range tools {
		if tools[i].Custom == nil && tools[i].Function.Name == tc.Function {
			return nil
		}
	}
	param += ".function.name"
	return badValue(param, "Invalid '%s': no tool named %s is in 'tools'.", param, quoteValue(tc.Function))
}

func checkFunctionCall(r *wire.ChatCompletionRequest) *wire.Error {
	fc := r.FunctionCall
	if fc == nil {
		return nil
	}
	if fc.Name == "" {
		switch fc.Mode {
		case "none":
			return nil
		case "auto":
		default:
			return badValue("function_call", "Invalid value for 'function_call': %s. Supported values are: 'none', 'auto' or an object naming a function.",
				quoteValue(fc.Mode))
		}
	}
	if len(r.Functions) == 0 {
		return badValue("function_call", "Invalid value for 'function_call': 'function_call' is only allowed when 'functions' are specified.")
	}
	if fc.Name != "" {
		for i := range r.Functions {
			if r.Functions[i].Name == fc.Name {
				return nil
			}
		}
		return badValue("function_call.name", "Invalid 'function_call.name': no function named %s is in 'functions'.", quoteValue(fc.Name))
	}
	return nil
}

func checkResponseFormat(rf *wire.ResponseFormat, schemas *schemaCheck) *wire.Error {
	if rf == nil {
		return nil
	}
	switch rf.Type {
	case wire.FormatText, wire.FormatJSONObject:
		return nil
	case wire.FormatJSONSchema:
	default:
		return badValue("response_format.type", "Invalid value for 'response_format.type': %s. Supported values are: 'text', 'json_object' and 'json_schema'.",
			quoteValue(rf.Type))
	}
	js := rf.JSONSchema
	switch {
	case js == nil:
		return missingParam("response_format.json_schema")
	case js.Name == "":
		return missingParam("response_format.json_schema.name")
	case !validName(js.Name):
		return badName("response_format.json_schema.name", js.Name)
	case js.Schema == nil:
		return nil // optional, as in OpenAI's API and openai-go
	}
	if err := schemas.check(js.Schema); err != nil {
		return badValue("response_format.json_schema.schema", "Invalid schema for response_format %s in 'response_format.json_schema.schema': %s",
			quoteValue(js.Name), schemaProblem(err))
	}
	return nil
}

// unknownParam is a member the object's type does not take.
func unknownParam(param string) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeUnknownParameter, param,
		"Unrecognized request argument supplied: %s.", param)
}
