package cache

import (
	"bytes"
	"encoding/json"

	"github.com/llmgate/llmgate/internal/chunkjson"
	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// Servers add members to a message that the wire types do not hold:
// reasoning_content (vLLM, llama.cpp, DeepSeek) or reasoning, annotations
// (OpenAI's URL citations), and more to come. A conversion between a
// stream and a body must carry them over, or a client served from the
// cache would miss what it gets without it. They are read from the raw
// JSON, beside the typed decoding.

// extra is such a member of one choice's message, merged over a stream:
// strings are concatenated, arrays joined and objects merged member by
// member, as deltas extend them; any other value is replaced by the next.
type extra struct {
	name    string   // decoded
	str     []byte   // a string value, decoded and concatenated
	elems   [][]byte // an array's elements
	members []*extra // an object's members, merged one by one
	value   []byte   // a value of another type
	kind    byte     // '"', '[', '{' or 0
}

// choiceExtras are the extra members of the message of the choice index.
type choiceExtras struct {
	index  int
	extras []*extra
}

// known members: those of wire.Delta and wire.Message, which the typed
// conversion carries itself.
var (
	deltaKnown   = []string{"role", "content", "refusal", "tool_calls", "function_call"}
	messageKnown = []string{"role", "content", "name", "refusal", "tool_calls", "tool_call_id", "function_call"}
)

// isKnown reports whether name matches one of known as encoding/json
// matches member names, without regard to case.
func isKnown(name []byte, known []string) bool {
	for _, k := range known {
		if bytes.EqualFold(name, []byte(k)) {
			return true
		}
	}
	return false
}

// extraSet accumulates the extras of the choices of one response.
type extraSet []*choiceExtras

func (s *extraSet) choice(index int) *choiceExtras {
	for _, c := range *s {
		if c.index == index {
			return c
		}
	}
	c := &choiceExtras{index: index}
	*s = append(*s, c)
	return c
}

// add merges member name (decoded) with JSON value v into c.
func (c *choiceExtras) add(name, v []byte) error {
	if hasNull(v, 0) {
		return nil // a null delta member extends nothing
	}
	return extraNamed(&c.extras, name).merge(v, 0)
}

// extraNamed returns the member of xs named name, adding it.
func extraNamed(xs *[]*extra, name []byte) *extra {
	for _, x := range *xs {
		if x.name == string(name) {
			return x
		}
	}
	x := &extra{name: string(name)}
	*xs = append(*xs, x)
	return x
}

// merge extends x with the JSON value v (not null), inside depth
// containers: a string is appended, an array's elements are added, an
// object's members are merged one by one (OpenAI streams audio as
// {"id","data","transcript"} pieces), any other value replaces x's.
func (x *extra) merge(v []byte, depth int) error {
	switch v[0] {
	case '"':
		var s string
		if err := decodeString(v, &s); err != nil {
			return err
		}
		if x.kind != '"' {
			x.kind, x.str = '"', nil
		}
		x.str = append(x.str, s...)
	case '[':
		if x.kind != '[' {
			x.kind, x.elems = '[', nil
		}
		_, err := eachElement(v, 0, depth, func(b []byte, i int) (int, error) {
			j, err := jsonscan.SkipIn(b, i, depth+1)
			if err == nil {
				x.elems = append(x.elems, b[i:j])
			}
			return j, err
		})
		return err
	case '{':
		if x.kind != '{' {
			x.kind, x.members = '{', nil
		}
		_, err := eachMember(v, 0, depth, func(name, b []byte, i int) (int, error) {
			j, err := jsonscan.SkipIn(b, i, depth+1)
			if err == nil && !hasNull(b, i) {
				err = extraNamed(&x.members, name).merge(b[i:j], depth+1)
			}
			return j, err
		})
		return err
	default:
		x.kind, x.value = 0, v
	}
	return nil
}

// appendJSON appends x as a member: ,"name":value.
func (x *extra) appendJSON(b []byte) ([]byte, error) {
	name, err := marshal(x.name)
	if err != nil {
		return nil, err
	}
	b = append(b, ',')
	b = append(b, name...)
	b = append(b, ':')
	switch x.kind {
	case '"':
		s, err := marshal(string(x.str))
		if err != nil {
			return nil, err
		}
		return append(b, s...), nil
	case '[':
		b = append(b, '[')
		for i, e := range x.elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, e...)
		}
		return append(b, ']'), nil
	case '{':
		start := len(b)
		for _, m := range x.members {
			if b, err = m.appendJSON(b); err != nil {
				return nil, err
			}
		}
		if len(b) == start {
			return append(b, "{}"...), nil
		}
		b[start] = '{' // the first member's comma
		return append(b, '}'), nil
	}
	return append(b, x.value...), nil
}

// chunk adds to s the extra members of the deltas of the chunk data,
// just decoded by dec (with KeepUnknown) into choices, and refuses a
// chunk that carries an error. The decoder noted the members; when it
// left the chunk to json.Unmarshal, the chunk is walked again.
func (s *extraSet) chunk(dec *chunkjson.Decoder, data []byte, choices []wire.ChunkChoice) error {
	members, ok := dec.Unknown()
	if !ok {
		if err := chunkError(data); err != nil {
			return err
		}
		return choicesOf(data, "delta", deltaKnown, func(index int, name, v []byte) error {
			return s.choice(index).add(name, v)
		})
	}
	for _, m := range members {
		if m.Choice < 0 {
			if bytes.EqualFold(m.Name, []byte("error")) && !hasNull(m.Value, 0) {
				return errChunkError
			}
			continue
		}
		if err := s.choice(choices[m.Choice].Index).add(m.Name, m.Value); err != nil {
			return err
		}
	}
	return nil
}

// bodyExtras returns the extra members of the messages of a stored body.
func bodyExtras(body []byte) (extraSet, error) {
	var s extraSet
	err := choicesOf(body, "message", messageKnown, func(index int, name, v []byte) error {
		return s.choice(index).add(name, v)
	})
	return s, err
}

// choicesOf calls f for each member not in known of the object named
// field ("delta" or "message") of each choice of the response data, with
// the choice's index: name decoded, v the member's JSON value. Most
// chunks have none, and cost one pass that allocates nothing.
func choicesOf(data []byte, field string, known []string, f func(index int, name, v []byte) error) error {
	type member struct{ name, v []byte }
	var members []member
	_, err := eachMember(data, jsonscan.SkipWS(data, 0), 0, func(name, b []byte, i int) (int, error) {
		if !bytes.EqualFold(name, []byte("choices")) {
			return -1, nil
		}
		return eachElement(b, i, 1, func(b []byte, i int) (int, error) {
			index := 0
			members = members[:0]
			end, err := eachMember(b, i, 2, func(name, b []byte, i int) (int, error) {
				switch {
				case bytes.EqualFold(name, []byte("index")):
					return readIndex(b, i, &index)
				case bytes.EqualFold(name, []byte(field)):
					return eachMember(b, i, 3, func(name, b []byte, i int) (int, error) {
						if isKnown(name, known) {
							return -1, nil
						}
						j, err := jsonscan.SkipIn(b, i, 4)
						if err == nil {
							members = append(members, member{name: name, v: b[i:j]})
						}
						return j, err
					})
				}
				return -1, nil
			})
			for _, m := range members { // the index may follow the delta
				if err == nil {
					err = f(index, m.name, m.v)
				}
			}
			return end, err
		})
	})
	return err
}

// readIndex reads a choice index at b[i] as json.Unmarshal into an int
// does, and returns the index just after it.
func readIndex(b []byte, i int, dst *int) (int, error) {
	j := i
	for j < len(b) && j-i < 9 && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	if j > i && (j == i+1 || b[i] != '0') && j < len(b) && (b[j] == ',' || b[j] == '}' || b[j] <= ' ') {
		n := 0
		for _, c := range b[i:j] {
			n = n*10 + int(c-'0')
		}
		*dst = n
		return j, nil // a plain small integer, as every server writes it
	}
	j, err := jsonscan.SkipIn(b, i, 3)
	if err != nil {
		return 0, err
	}
	return j, json.Unmarshal(b[i:j], dst)
}

// spliceMessages inserts the extras of each choice into the "message"
// objects of body, a merged completion, and returns the new body.
func spliceMessages(body []byte, extras extraSet) ([]byte, error) {
	if len(extras) == 0 {
		return body, nil
	}
	var at []int // where each choice's message closes, and its index
	var idx []int
	_, err := eachMember(body, 0, 0, func(name, b []byte, i int) (int, error) {
		if string(name) != "choices" {
			return -1, nil
		}
		return eachElement(b, i, 1, func(b []byte, i int) (int, error) {
			index, end := 0, -1
			j, err := eachMember(b, i, 2, func(name, b []byte, i int) (int, error) {
				switch string(name) {
				case "index":
					return readIndex(b, i, &index)
				case "message":
					j, err := jsonscan.SkipIn(b, i, 3)
					end = j - 1
					return j, err
				}
				return -1, nil
			})
			if end >= 0 {
				at, idx = append(at, end), append(idx, index)
			}
			return j, err
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+256)
	from := 0
	for k, end := range at {
		out = append(out, body[from:end]...)
		for _, c := range extras {
			if c.index != idx[k] {
				continue
			}
			for _, x := range c.extras {
				if out, err = x.appendJSON(out); err != nil {
					return nil, err
				}
			}
		}
		from = end
	}
	return append(out, body[from:]...), nil
}
