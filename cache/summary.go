package cache

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// summary is what storing a non-streamed response needs to know of its
// body.
type summary struct {
	object, model string
	usage         *wire.Usage
	reasons       []wire.FinishReason
}

// readSummary checks that body is one JSON object, valid as json.Valid
// has it, and reads its object, model, usage and each choice's
// finish_reason as json.Unmarshal into wire.ChatCompletion (or
// wire.Completion, the same members) would: member names matched without
// regard to case, the last of duplicates winning, null leaving a string
// empty, a value of the wrong type an error. The rest of the body is
// checked for syntax only, so a body whose other members have unexpected
// types is read where json.Unmarshal would refuse it; such a body is
// stored as the upstream sent it, and serving it is what would have been
// served without the cache.
//
// It passes over what it does not need eight string bytes at a time,
// which makes it several times cheaper than json.Unmarshal, whose cost is
// mostly in the message content it decodes only to drop.
func readSummary(body []byte) (summary, error) {
	var s summary
	choice := func(name, b []byte, i int) (int, error) {
		if bytes.EqualFold(name, nameFinishReason) {
			return readString(b, i, 3, (*string)(&s.reasons[len(s.reasons)-1]))
		}
		return -1, nil
	}
	end, err := eachMember(body, jsonscan.SkipWS(body, 0), 0, func(name, b []byte, i int) (int, error) {
		switch {
		case bytes.EqualFold(name, nameObject):
			return readString(b, i, 1, &s.object)
		case bytes.EqualFold(name, nameModel):
			return readString(b, i, 1, &s.model)
		case bytes.EqualFold(name, nameUsage):
			j, err := jsonscan.SkipIn(b, i, 1)
			if err != nil {
				return 0, err
			}
			return j, json.Unmarshal(b[i:j], &s.usage)
		case bytes.EqualFold(name, nameChoices):
			s.reasons = s.reasons[:0]
			return eachElement(b, i, 1, func(b []byte, i int) (int, error) {
				s.reasons = append(s.reasons, "")
				return eachMember(b, i, 2, choice)
			})
		}
		return -1, nil
	})
	if err != nil {
		return summary{}, err
	}
	if rest := jsonscan.SkipWS(body, end); rest != len(body) {
		return summary{}, fmt.Errorf("cache: data after the JSON value at byte offset %d", rest)
	}
	return s, nil
}

// A memberFunc reads the value of member name, whose value starts at b[i], and
// returns the index just after it, or -1 to have it passed over.
type memberFunc func(name, b []byte, i int) (end int, err error)

// eachMember calls f for each member of the JSON object that starts at
// b[i], in order, and returns the index just after the object. null
// stands for an object without members. The object is inside depth
// containers. It checks the object's syntax as it goes, and the syntax of
// the values f passes over.
func eachMember(b []byte, i, depth int, f memberFunc) (int, error) {
	if hasNull(b, i) {
		return i + 4, nil
	}
	if i >= len(b) || b[i] != '{' {
		return 0, fmt.Errorf("cache: want a JSON object at byte offset %d", i)
	}
	if i = jsonscan.SkipWS(b, i+1); i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, fmt.Errorf("cache: want a member name at byte offset %d", i)
		}
		j, err := jsonscan.SkipString(b, i)
		if err != nil {
			return 0, err
		}
		name, err := decodeName(b[i:j])
		if err != nil {
			return 0, err
		}
		if i = jsonscan.SkipWS(b, j); i >= len(b) || b[i] != ':' {
			return 0, fmt.Errorf("cache: want ':' at byte offset %d", i)
		}
		i = jsonscan.SkipWS(b, i+1)
		if j, err = f(name, b, i); err == nil && j < 0 {
			j, err = jsonscan.SkipIn(b, i, depth+1)
		}
		if err != nil {
			return 0, err
		}
		switch i = jsonscan.SkipWS(b, j); {
		case i < len(b) && b[i] == ',':
			i = jsonscan.SkipWS(b, i+1)
		case i < len(b) && b[i] == '}':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("cache: want ',' or '}' at byte offset %d", i)
		}
	}
}

// eachElement calls f for each element of the JSON array that starts at
// b[i], in order; f reads the element at b[i] and returns the index just
// after it. It returns the index just after the array. null stands for an
// array without elements. The array is inside depth containers.
func eachElement(b []byte, i, depth int, f func(b []byte, i int) (int, error)) (int, error) {
	if hasNull(b, i) {
		return i + 4, nil
	}
	if i >= len(b) || b[i] != '[' {
		return 0, fmt.Errorf("cache: want a JSON array at byte offset %d", i)
	}
	if i = jsonscan.SkipWS(b, i+1); i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for {
		j, err := f(b, i)
		if err != nil {
			return 0, err
		}
		switch i = jsonscan.SkipWS(b, j); {
		case i < len(b) && b[i] == ',':
			i = jsonscan.SkipWS(b, i+1)
		case i < len(b) && b[i] == ']':
			return i + 1, nil
		default:
			return 0, fmt.Errorf("cache: want ',' or ']' at byte offset %d", i)
		}
	}
}

// readString reads the JSON value at b[i], inside depth containers, into
// dst as json.Unmarshal does for a string (null leaves dst as it is, any
// other type is an error), and returns the index just after it.
func readString(b []byte, i, depth int, dst *string) (int, error) {
	j, err := jsonscan.SkipIn(b, i, depth)
	if err != nil {
		return 0, err
	}
	return j, decodeString(b[i:j], dst)
}

// The member names readSummary reads, matched as encoding/json does,
// without regard to case.
var (
	nameObject       = []byte("object")
	nameModel        = []byte("model")
	nameUsage        = []byte("usage")
	nameChoices      = []byte("choices")
	nameFinishReason = []byte("finish_reason")
)

// decodeName decodes a member name q (quotes included) of valid JSON; a
// name without escapes is its own body in q.
func decodeName(q []byte) ([]byte, error) {
	if body := q[1 : len(q)-1]; isPlain(body) {
		return body, nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return []byte(s), err
}

// decodeString stores the JSON value v (valid JSON) in dst as
// json.Unmarshal does for a string.
func decodeString(v []byte, dst *string) error {
	if len(v) >= 2 && v[0] == '"' {
		if body := v[1 : len(v)-1]; isPlain(body) {
			*dst = string(body)
			return nil
		}
	}
	return json.Unmarshal(v, dst)
}

// isPlain reports whether a string body holds only bytes that decode to
// themselves: ASCII other than control bytes, quotes and backslashes.
func isPlain(body []byte) bool {
	for _, c := range body[jsonscan.PlainText(body, 0):] {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// hasNull reports whether b[i:] starts with null.
func hasNull(b []byte, i int) bool {
	return len(b)-i >= 4 && string(b[i:i+4]) == "null"
}
