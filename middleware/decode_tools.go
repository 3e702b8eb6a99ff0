package middleware

import "github.com/llmgate/llmgate/wire"

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

// decodeTools reads tools: an array of {type, function}.
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
			hasFunc = true
			err = decodeFunctionDef(d, &t.Function)
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
	case t.Type != "function":
		return at(invalidEnum(t.Type, "'function'"), "type")
	case !hasFunc:
		return at(missing(), "function")
	}
	t.Type = "function"
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

// decodeToolChoice reads tool_choice: null, a mode string or
// {type, function: {name}}.
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
	hasFunc := false
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
			tc.Type, err = d.reqString()
		case "function":
			hasFunc = true
			var fc wire.FunctionCallChoice
			err = decodeNamed(d, &fc)
			tc.Function = fc.Name
		default:
			err = d.other(key)
		}
		if err != nil {
			return nil, at(err, key)
		}
	}
	switch {
	case tc.Type == "":
		return nil, at(missing(), "type")
	case tc.Type != "function":
		return nil, at(invalidEnum(tc.Type, "'function'"), "type")
	case !hasFunc:
		return nil, at(missing(), "function")
	case tc.Function == "":
		return nil, at(at(missing(), "name"), "function")
	}
	return tc, nil
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
