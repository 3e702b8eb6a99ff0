package middleware

import (
	"fmt"

	"github.com/llmgate/llmgate/wire"
)

// decodeStreamOptions reads stream_options: null or {include_usage}.
func decodeStreamOptions(d *scanner, so *wire.StreamOptions) (*wire.StreamOptions, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectObject(); err != nil {
		return nil, err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return nil, err
		}
		if !more {
			return so, nil
		}
		switch key {
		case "include_usage":
			so.IncludeUsage, _, err = d.getBool()
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, at(err, key)
		}
	}
}

// decodeResponseFormat reads response_format: null or {type, json_schema}.
func decodeResponseFormat(d *scanner, rf *wire.ResponseFormat) (*wire.ResponseFormat, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectObject(); err != nil {
		return nil, err
	}
	hasType := false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return nil, err
		}
		if !more {
			break
		}
		switch key {
		case "type":
			hasType = true
			rf.Type, err = d.reqString()
		case "json_schema":
			if null, e := d.isNull(); null || e != nil {
				err = e
				break
			}
			rf.JSONSchema = &wire.JSONSchema{}
			err = decodeJSONSchema(d, rf.JSONSchema)
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, at(err, key)
		}
	}
	if !hasType {
		return nil, at(missing(), "type")
	}
	return rf, nil
}

func decodeJSONSchema(d *scanner, js *wire.JSONSchema) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "name":
			js.Name, err = d.reqString()
		case "description":
			js.Description, err = d.getString()
		case "schema":
			js.Schema, err = d.schemaObject()
		case "strict":
			var v, ok bool
			if v, ok, err = d.getBool(); ok {
				js.Strict = &v
			}
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}

// schemaObject reads a JSON Schema that must be an object (or null, which
// reads as absent). Its meta-schema validity is checked by validation.
func (d *scanner) schemaObject() ([]byte, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectObject(); err != nil {
		return nil, err
	}
	return d.raw()
}

// decodeTools reads tools: an array of {type, function} and
// {type, custom}.
func decodeTools(d *scanner) ([]wire.Tool, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	tools := []wire.Tool{}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return nil, err
		}
		if !more {
			return tools, nil
		}
		tools = append(tools, wire.Tool{})
		if err := decodeTool(d, &tools[n]); err != nil {
			return nil, atIdx(err, n)
		}
	}
}

func decodeTool(d *scanner, t *wire.Tool) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasType, hasFunc := false, false
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
			t.Type, err = d.reqString()
		case "function":
			var null bool // null reads as absent, as encoding/json reads it
			if null, err = d.isNull(); !null && err == nil {
				hasFunc = true
				err = decodeFunctionDef(d, &t.Function)
			}
		case "custom":
			var null bool
			if null, err = d.isNull(); !null && err == nil {
				t.Custom = &wire.CustomTool{}
				err = decodeCustomTool(d, t.Custom)
			}
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
	case t.Type == wire.ToolFunction && !hasFunc:
		return at(missing(), "function")
	case t.Type == wire.ToolFunction && t.Custom != nil:
		// Which one counts? The gateway would check one tool, the
		// upstream might offer the other.
		return at(unexpectedMember(), "custom")
	case t.Type == wire.ToolFunction:
		t.Type = wire.ToolFunction
	case t.Type == wire.ToolCustom && t.Custom == nil:
		return at(missing(), "custom")
	case t.Type == wire.ToolCustom && hasFunc:
		return at(unexpectedMember(), "function")
	case t.Type == wire.ToolCustom:
		t.Type = wire.ToolCustom
	default:
		return at(invalidEnum(t.Type, "'function' and 'custom'"), "type")
	}
	return nil
}

// unexpectedMember is a member that the object's type does not take.
func unexpectedMember() *fieldError {
	return newFieldError(wire.CodeUnknownParameter, func(p string) string {
		return fmt.Sprintf("Unrecognized request argument supplied: %s.", p)
	})
}

// decodeCustomTool reads {name, description, format}; name is required.
func decodeCustomTool(d *scanner, c *wire.CustomTool) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasName := false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "name":
			hasName = true
			c.Name, err = d.reqString()
		case "description":
			c.Description, err = d.getString()
		case "format":
			if null, e := d.isNull(); null || e != nil {
				err = e
				break
			}
			c.Format = &wire.CustomFormat{}
			err = decodeCustomFormat(d, c.Format)
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	if !hasName {
		return at(missing(), "name")
	}
	return nil
}

// decodeCustomFormat reads {type: "text"} or {type: "grammar", grammar}.
func decodeCustomFormat(d *scanner, f *wire.CustomFormat) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasType := false
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
			f.Type, err = d.reqString()
		case "grammar":
			if null, e := d.isNull(); null || e != nil {
				err = e
				break
			}
			f.Grammar = &wire.Grammar{}
			err = decodeGrammar(d, f.Grammar)
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
	case f.Type == wire.CustomFormatText:
		f.Type = wire.CustomFormatText
	case f.Type == wire.CustomFormatGrammar && f.Grammar == nil:
		return at(missing(), "grammar")
	case f.Type == wire.CustomFormatGrammar:
		f.Type = wire.CustomFormatGrammar
	default:
		return at(invalidEnum(f.Type, "'text' and 'grammar'"), "type")
	}
	return nil
}

// decodeGrammar reads {definition, syntax}; both are required.
func decodeGrammar(d *scanner, g *wire.Grammar) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasDef, hasSyntax := false, false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "definition":
			hasDef = true
			g.Definition, err = d.reqString()
		case "syntax":
			hasSyntax = true
			g.Syntax, err = d.reqString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	switch {
	case !hasDef:
		return at(missing(), "definition")
	case !hasSyntax:
		return at(missing(), "syntax")
	}
	return nil
}

// decodeFunctions reads the legacy functions: an array of definitions.
func decodeFunctions(d *scanner) ([]wire.FunctionDefinition, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	fns := []wire.FunctionDefinition{}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return nil, err
		}
		if !more {
			return fns, nil
		}
		fns = append(fns, wire.FunctionDefinition{})
		if err := decodeFunctionDef(d, &fns[n]); err != nil {
			return nil, atIdx(err, n)
		}
	}
}

// decodeFunctionDef reads {name, description, parameters, strict}; name is
// required.
func decodeFunctionDef(d *scanner, f *wire.FunctionDefinition) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasName := false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "name":
			hasName = true
			f.Name, err = d.reqString()
		case "description":
			f.Description, err = d.getString()
		case "parameters":
			f.Parameters, err = d.schemaObject()
		case "strict":
			var v, ok bool
			if v, ok, err = d.getBool(); ok {
				f.Strict = &v
			}
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	if !hasName {
		return at(missing(), "name")
	}
	return nil
}

// decodeToolChoice reads tool_choice: null, a mode string or an object
// (see decodeChoiceObject).
func decodeToolChoice(d *scanner, tc *wire.ToolChoice) (*wire.ToolChoice, error) {
	switch d.peek() {
	case 'n':
		return nil, d.word("null")
	case '"':
		var err error
		tc.Mode, err = d.str()
		return tc, err
	case '{':
	default:
		return nil, d.typeError("a string or an object")
	}
	if err := decodeChoiceObject(d, tc, true); err != nil {
		return nil, err
	}
	return tc, nil
}

// decodeChoiceObject reads {type: "function", function: {name}},
// {type: "custom", custom: {name}} or, when top is set (tool_choice
// itself, not an entry of its allowed_tools), {type: "allowed_tools",
// allowed_tools: {mode, tools}}. The members the type needs are required,
// and a member of another type is refused: the gateway would check one
// tool, the upstream might call another.
func decodeChoiceObject(d *scanner, tc *wire.ToolChoice, top bool) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasFunc, hasCustom := false, false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch {
		case key == "type":
			tc.Type, err = d.reqString()
		case (key == "function" || key == "custom") && d.peek() == 'n':
			err = d.word("null") // absent, as encoding/json reads it
		case key == "function":
			hasFunc = true
			var fc wire.FunctionCallChoice
			err = decodeNamed(d, &fc)
			tc.Function = fc.Name
		case key == "custom":
			hasCustom = true
			var fc wire.FunctionCallChoice
			err = decodeNamed(d, &fc)
			tc.Custom = fc.Name
		case key == "allowed_tools" && top:
			tc.Allowed = &wire.AllowedTools{}
			err = decodeAllowedTools(d, tc.Allowed)
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	types := "'function', 'custom' and 'allowed_tools'"
	if !top {
		types = "'function' and 'custom'"
	}
	switch tc.Type {
	case "":
		return at(missing(), "type")
	case wire.ToolChoiceFunction:
		switch {
		case !hasFunc:
			return at(missing(), "function")
		case tc.Function == "":
			return at(at(missing(), "name"), "function")
		case hasCustom:
			return at(unexpectedMember(), "custom")
		case tc.Allowed != nil:
			return at(unexpectedMember(), "allowed_tools")
		}
		tc.Type = wire.ToolChoiceFunction
	case wire.ToolChoiceCustom:
		switch {
		case !hasCustom:
			return at(missing(), "custom")
		case tc.Custom == "":
			return at(at(missing(), "name"), "custom")
		case hasFunc:
			return at(unexpectedMember(), "function")
		case tc.Allowed != nil:
			return at(unexpectedMember(), "allowed_tools")
		}
		tc.Type = wire.ToolChoiceCustom
	case wire.ToolChoiceAllowedTools:
		if !top {
			return at(invalidEnum(tc.Type, types), "type")
		}
		switch {
		case tc.Allowed == nil:
			return at(missing(), "allowed_tools")
		case hasFunc:
			return at(unexpectedMember(), "function")
		case hasCustom:
			return at(unexpectedMember(), "custom")
		}
		tc.Type = wire.ToolChoiceAllowedTools
	default:
		return at(invalidEnum(tc.Type, types), "type")
	}
	return nil
}

// decodeAllowedTools reads {mode, tools}; both are required, and each of
// tools names one function or custom tool.
func decodeAllowedTools(d *scanner, a *wire.AllowedTools) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	hasMode, hasTools := false, false
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch key {
		case "mode":
			hasMode = true
			a.Mode, err = d.reqString()
		case "tools":
			hasTools = true
			a.Tools, err = decodeAllowedList(d)
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
	switch {
	case !hasMode:
		return at(missing(), "mode")
	case !hasTools:
		return at(missing(), "tools")
	}
	return nil
}

func decodeAllowedList(d *scanner) ([]wire.ToolChoice, error) {
	if err := d.expectArray(); err != nil {
		return nil, err
	}
	list := []wire.ToolChoice{}
	for n := 0; ; n++ {
		more, err := d.arr(n)
		if err != nil {
			return nil, err
		}
		if !more {
			return list, nil
		}
		list = append(list, wire.ToolChoice{})
		if err := decodeChoiceObject(d, &list[n], false); err != nil {
			return nil, atIdx(err, n)
		}
	}
}

// decodeFunctionCallChoice reads the legacy function_call: null, a mode
// string or {name}.
func decodeFunctionCallChoice(d *scanner, fc *wire.FunctionCallChoice) (*wire.FunctionCallChoice, error) {
	switch d.peek() {
	case 'n':
		return nil, d.word("null")
	case '"':
		var err error
		fc.Mode, err = d.str()
		return fc, err
	case '{':
		if err := decodeNamed(d, fc); err != nil {
			return nil, err
		}
		if fc.Name == "" {
			return nil, at(missing(), "name")
		}
		return fc, nil
	}
	return nil, d.typeError("a string or an object")
}

// decodeNamed reads {name} into fc.Name.
func decodeNamed(d *scanner, fc *wire.FunctionCallChoice) error {
	if err := d.expectObject(); err != nil {
		return err
	}
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil || !more {
			return err
		}
		switch key {
		case "name":
			fc.Name, err = d.reqString()
		default:
			err = d.other(key)
		}
		if err != nil {
			return at(err, key)
		}
	}
}
