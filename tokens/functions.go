package tokens

import (
	"encoding/json"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// schemaProperty is what the tool formula reads of one of a function's
// parameters.
type schemaProperty struct {
	Type        json.RawMessage   `json:"type"`
	Description string            `json:"description"`
	Enum        []json.RawMessage `json:"enum"`
}

// namedProperty is a schemaProperty with its name.
type namedProperty struct {
	name string
	schemaProperty
}

// readProperties returns the members of the "properties" object of a
// function's parameters, exactly as json.Unmarshal into
// map[string]schemaProperty would decode them (in input order, not map
// order), and false when that decoding fails or there are none.
//
// It reads the usual schema in one pass over the bytes: member names that
// are plain ASCII, written in the case the fields are matched in, each
// once. Anything else — escapes or other case in a name that matters, a
// repeated "properties" or property, a description that is not plain
// ASCII, a type error — is left to encoding/json, whose rules for those
// (case-insensitive names, merging into the same map, deferred type
// errors) are not worth copying.
func readProperties(raw []byte, props []namedProperty) ([]namedProperty, bool) {
	if p, ok, sure := readPropertiesFast(raw, props); sure {
		return p, ok
	}
	var params struct {
		Properties map[string]schemaProperty `json:"properties"`
	}
	if json.Unmarshal(raw, &params) != nil || len(params.Properties) == 0 {
		return props[:0], false
	}
	props = props[:0]
	for name, p := range params.Properties {
		props = append(props, namedProperty{name, p})
	}
	return props, true
}

// readPropertiesFast is readProperties' one pass; sure is false when it
// met something it leaves to encoding/json.
func readPropertiesFast(b []byte, props []namedProperty) (_ []namedProperty, ok, sure bool) {
	props = props[:0]
	if end, err := jsonscan.Skip(b, 0); err != nil || jsonscan.SkipWS(b, end) != len(b) {
		return props, false, true // json.Unmarshal fails too
	}
	// From here on b is one valid JSON value.
	i := jsonscan.SkipWS(b, 0)
	if b[i] != '{' {
		// null decodes to no properties; anything else is a type error.
		return props, false, true
	}
	seen := false
	_, sure = members(b, i, func(name string, v int) (int, bool) {
		switch {
		case name == "properties":
			if seen {
				return 0, false // decoded into the same map: a merge
			}
			seen = true
			var end int
			var ok bool
			props, end, ok = readPropertyMap(b, v, props)
			return end, ok
		case foldsTo(name, "properties"):
			return 0, false
		}
		end, _ := jsonscan.Skip(b, v)
		return end, true
	})
	if !sure {
		return nil, false, false
	}
	return props, len(props) > 0, true
}

// members calls member for each member of the object that opens at b[i]
// (b is valid JSON) with the member's name and where its value starts;
// member returns where the value ends. members returns where the object
// ends, and false, as soon as a name is not plain ASCII or member returns
// false: something left to encoding/json.
func members(b []byte, i int, member func(name string, v int) (end int, sure bool)) (int, bool) {
	for i = jsonscan.SkipWS(b, i+1); b[i] != '}'; {
		name, j, plain := plainName(b, i)
		if !plain {
			return 0, false
		}
		var sure bool
		if i, sure = member(name, jsonscan.SkipWS(b, jsonscan.SkipWS(b, j)+1)); !sure { // past the ':'
			return 0, false
		}
		if i = jsonscan.SkipWS(b, i); b[i] == ',' {
			i = jsonscan.SkipWS(b, i+1)
		}
	}
	return i + 1, true
}

// readPropertyMap reads the "properties" value at b[i] into props and
// returns where it ends.
func readPropertyMap(b []byte, i int, props []namedProperty) ([]namedProperty, int, bool) {
	if b[i] == 'n' { // null: no properties
		return props, i + 4, true
	}
	if b[i] != '{' {
		return nil, 0, false
	}
	end, sure := members(b, i, func(name string, v int) (int, bool) {
		for k := range props {
			if props[k].name == name {
				return 0, false // a map keeps the last: rare enough to leave
			}
		}
		p, end, sure := readProperty(b, v)
		if !sure {
			return 0, false
		}
		props = append(props, namedProperty{name, p})
		return end, true
	})
	if !sure {
		return nil, 0, false
	}
	return props, end, true
}

// readProperty reads one property's schema at b[i] and returns where it
// ends.
func readProperty(b []byte, i int) (p schemaProperty, end int, sure bool) {
	if b[i] == 'n' { // null leaves the zero property
		return p, i + 4, true
	}
	if b[i] != '{' {
		return p, 0, false // a type error
	}
	end, sure = members(b, i, func(name string, at int) (int, bool) {
		vend, _ := jsonscan.Skip(b, at)
		v := b[at:vend]
		switch name {
		case "type":
			p.Type = json.RawMessage(v)
		case "description":
			switch {
			case v[0] == 'n': // null leaves it as it was
			case v[0] != '"':
				return 0, false // a type error
			default:
				s, ok := plainString(v)
				if !ok {
					return 0, false
				}
				p.Description = s
			}
		case "enum":
			switch v[0] {
			case 'n':
				p.Enum = nil
			case '[':
				p.Enum = rawItems(v, p.Enum[:0])
			default:
				return 0, false // a type error
			}
		default:
			if foldsTo(name, "type") || foldsTo(name, "description") || foldsTo(name, "enum") {
				return 0, false
			}
		}
		return vend, true
	})
	return p, end, sure
}

// rawItems appends the items of the valid JSON array a, as written, to
// items.
func rawItems(a []byte, items []json.RawMessage) []json.RawMessage {
	for i := jsonscan.SkipWS(a, 1); a[i] != ']'; {
		start := i
		i, _ = jsonscan.Skip(a, i)
		items = append(items, json.RawMessage(a[start:i]))
		if i = jsonscan.SkipWS(a, i); a[i] == ',' {
			i = jsonscan.SkipWS(a, i+1)
		}
	}
	return items
}

// plainName returns the name of the member at b[i] when it is plain ASCII
// (no escape), and where its closing quote ends.
func plainName(b []byte, i int) (string, int, bool) {
	end, _ := jsonscan.SkipString(b, i)
	s, ok := plainString(b[i:end])
	return s, end, ok
}

// plainString returns the value of the valid JSON string q when it is
// plain ASCII, which is what it decodes to.
func plainString(q []byte) (string, bool) {
	body := q[1 : len(q)-1]
	for i := jsonscan.PlainText(body, 0); i < len(body); i++ {
		if c := body[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

// foldsTo reports whether the ASCII name would match field as
// encoding/json matches names, case-insensitively, while not being it.
func foldsTo(name, field string) bool {
	if len(name) != len(field) || name == field {
		return false
	}
	for k := 0; k < len(name); k++ {
		if name[k]|0x20 != field[k] {
			return false
		}
	}
	return true
}
