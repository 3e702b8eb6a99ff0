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

// Servers add members to the response object and to its choices too:
// vLLM's stop_reason and token_ids in a choice, its prompt_token_ids
// beside the choices, OpenRouter's provider, Groq's x_groq, llama.cpp's
// timings, Azure's content filter results in both places. These are
// carried over as well, with one difference: a message's members grow
// delta by delta, while a chunk's or a choice's are restated in each chunk
// or come once: of those, the last value wins, except that objects are
// merged member by member and the arrays of a choice are joined (vLLM's
// token_ids come a chunk's worth at a time). A member that is only ever
// null is kept as null, as vLLM writes stop_reason.

// extra is such a member, merged over a stream (see merge).
type extra struct {
	name    string   // decoded
	str     []byte   // a string value, decoded (and concatenated in a message)
	elems   [][]byte // an array's elements
	members []*extra // an object's members, merged one by one
	value   []byte   // a value of another type
	kind    byte     // '"', '[', '{' or 0
}

// choiceExtras are the extra members of the choice index and of its
// message.
type choiceExtras struct {
	index   int
	choice  []*extra
	message []*extra
}

// extraSet accumulates the extra members of one response: those of the
// response object itself (of its chunks, in a stream) and, per choice,
// those of the choice and of its message (of its deltas).
type extraSet struct {
	top     []*extra
	choices []*choiceExtras
}

// empty reports whether s holds no member.
func (s *extraSet) empty() bool {
	if len(s.top) > 0 {
		return false
	}
	for _, c := range s.choices {
		if len(c.choice) > 0 || len(c.message) > 0 {
			return false
		}
	}
	return true
}

// shape names the members of one kind of response that the typed
// conversion carries itself (or drops): those of the response object, of
// its choices and, when field is not "", of each choice's member field.
type shape struct {
	response, choice []string
	field            string
	fieldKnown       []string
}

// The known members. A message's are those of wire.Delta, which is all a
// converted stream can carry in its typed fields: a message's name or
// tool_call_id goes over as an extra. A chat choice's include both
// delta and message, so that neither form's field comes out twice in the
// other. Of a response's, error is refused where it is not null (see
// chunkError) and OpenAI's obfuscation, random padding of each chunk, is
// no part of the answer; wire.Completion has no service_tier.
var (
	deltaKnown        = []string{"role", "content", "refusal", "tool_calls", "function_call"}
	chatResponseKnown = []string{"id", "object", "created", "model", "choices", "usage",
		"system_fingerprint", "service_tier", "error", "obfuscation"}
	textResponseKnown = []string{"id", "object", "created", "model", "choices", "usage",
		"system_fingerprint", "error", "obfuscation"}

	chatChunkShape = shape{chatResponseKnown, []string{"index", "delta", "message", "finish_reason", "logprobs"}, "delta", deltaKnown}
	chatBodyShape  = shape{chatResponseKnown, chatChunkShape.choice, "message", deltaKnown}
	textShape      = shape{textResponseKnown, []string{"index", "text", "finish_reason", "logprobs"}, "", nil}
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

// choice returns the extras of the choice index, adding them.
func (s *extraSet) choice(index int) *choiceExtras {
	for _, c := range s.choices {
		if c.index == index {
			return c
		}
	}
	c := &choiceExtras{index: index}
	s.choices = append(s.choices, c)
	return c
}

// where an extra member is: see extraSet.
type level uint8

const (
	levelTop level = iota
	levelChoice
	levelMessage
)

// add merges member name (decoded) with JSON value v into the members at
// lv (of choice index, unless at the top).
func (s *extraSet) add(lv level, index int, name, v []byte) error {
	switch lv {
	case levelTop:
		return restate(&s.top, name, v, 0, false)
	case levelChoice:
		return restate(&s.choice(index).choice, name, v, 0, true)
	}
	if hasNull(v, 0) {
		return nil // a null delta member extends nothing
	}
	return extraNamed(&s.choice(index).message, name).merge(v, 0, true)
}

// restate merges member name with value v, inside depth containers,
// into xs, the members of a chunk or of a choice or of an object in
// them: the value replaces the member's, except that objects are merged,
// an array is joined to the member's when join is set, and null is taken
// only by a member that has no value yet.
func restate(xs *[]*extra, name, v []byte, depth int, join bool) error {
	x := extraNamed(xs, name)
	if hasNull(v, 0) {
		if x.kind == 0 && x.value == nil {
			x.value = []byte("null")
		}
		return nil
	}
	grow := join && v[0] == '[' // merge's growing, for the array alone
	return x.merge(v, depth, grow)
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
// containers. When grow is set (in a message's deltas), a string is
// appended and an array's elements are added; otherwise both replace x's.
// An object's members are merged one by one either way (OpenAI streams
// audio as {"id","data","transcript"} pieces; Groq restates x_groq with
// its usage added), and any other value replaces x's.
func (x *extra) merge(v []byte, depth int, grow bool) error {
	switch v[0] {
	case '"':
		var s string
		if err := decodeString(v, &s); err != nil {
			return err
		}
		if x.kind != '"' || !grow {
			x.kind, x.str = '"', x.str[:0]
		}
		x.str = append(x.str, s...)
	case '[':
		if x.kind != '[' || !grow {
			x.kind, x.elems = '[', x.elems[:0]
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
			switch {
			case err != nil:
			case !grow:
				err = restate(&x.members, name, b[i:j], depth+1, false)
			case !hasNull(b, i): // a null delta member extends nothing
				err = extraNamed(&x.members, name).merge(b[i:j], depth+1, true)
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

// chunk adds to s the extra members of the chunk data, of its choices
// and of their deltas, just decoded by dec (with KeepUnknown) into
// choices, and refuses a chunk that carries an error. The decoder noted
// the members; when it left the chunk to json.Unmarshal, the chunk is
// walked again.
func (s *extraSet) chunk(dec *chunkjson.Decoder, data []byte, choices []wire.ChunkChoice) error {
	members, ok := dec.Unknown()
	if !ok {
		if err := chunkError(data); err != nil {
			return err
		}
		return unknownMembers(data, chatChunkShape, s.add)
	}
	for _, m := range members {
		var err error
		switch {
		case m.Choice < 0:
			if bytes.EqualFold(m.Name, []byte("error")) && !hasNull(m.Value, 0) {
				return errChunkError
			}
			if !isKnown(m.Name, chatResponseKnown) {
				err = s.add(levelTop, 0, m.Name, m.Value)
			}
		case m.Delta:
			err = s.add(levelMessage, choices[m.Choice].Index, m.Name, m.Value)
		case !isKnown(m.Name, chatChunkShape.choice): // a "message" beside the delta is dropped
			err = s.add(levelChoice, choices[m.Choice].Index, m.Name, m.Value)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// bodyExtras returns the extra members of a stored chat completion.
func bodyExtras(body []byte) (extraSet, error) {
	var s extraSet
	err := unknownMembers(body, chatBodyShape, s.add)
	return s, err
}

// unknownMembers calls f for each member of the response data (a
// completion or a chunk) that sh does not know: of the response object
// itself, of each choice and of each choice's sh.field. f gets the
// member's level, its choice's index (0 at the top), its name decoded and
// its JSON value. As encoding/json, it reads only the last of members of
// one name (choices, or a choice's field) whose value is taken whole.
// Most responses have none, and cost one pass that allocates nothing.
func unknownMembers(data []byte, sh shape, f func(lv level, index int, name, v []byte) error) error {
	type member struct {
		lv      level
		index   int
		name, v []byte
	}
	var members []member // of the choices: f is called once they are read
	_, err := eachMember(data, jsonscan.SkipWS(data, 0), 0, func(name, b []byte, i int) (int, error) {
		if !bytes.EqualFold(name, []byte("choices")) {
			if isKnown(name, sh.response) {
				return -1, nil
			}
			j, err := jsonscan.SkipIn(b, i, 1)
			if err == nil {
				err = f(levelTop, 0, name, b[i:j])
			}
			return j, err
		}
		members = members[:0] // a later "choices" replaces the earlier
		return eachElement(b, i, 1, func(b []byte, i int) (int, error) {
			index, first := 0, len(members)
			end, err := eachMember(b, i, 2, func(name, b []byte, i int) (int, error) {
				switch {
				case bytes.EqualFold(name, []byte("index")):
					return readIndex(b, i, &index)
				case sh.field != "" && bytes.EqualFold(name, []byte(sh.field)):
					kept := members[:first] // a later field replaces the earlier
					for _, m := range members[first:] {
						if m.lv != levelMessage {
							kept = append(kept, m)
						}
					}
					members = kept
					return eachMember(b, i, 3, func(name, b []byte, i int) (int, error) {
						if isKnown(name, sh.fieldKnown) {
							return -1, nil
						}
						j, err := jsonscan.SkipIn(b, i, 4)
						if err == nil {
							members = append(members, member{levelMessage, 0, name, b[i:j]})
						}
						return j, err
					})
				case isKnown(name, sh.choice):
					return -1, nil
				}
				j, err := jsonscan.SkipIn(b, i, 3)
				if err == nil {
					members = append(members, member{levelChoice, 0, name, b[i:j]})
				}
				return j, err
			})
			for k := first; k < len(members); k++ { // the index may follow the members
				members[k].index = index
			}
			return end, err
		})
	})
	for _, m := range members {
		if err == nil {
			err = f(m.lv, m.index, m.name, m.v)
		}
	}
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

// splice inserts extra members into body, a response object as marshal
// writes it (a completion, or one chunk): top before the object's closing
// brace and, for each choice of body that has an entry in choices, the
// entry's choice members before the choice's closing brace and, when
// field is not "", its message members before the closing brace of the
// choice's member field ("message" or "delta"). It returns the new body.
func splice(body []byte, top []*extra, choices []*choiceExtras, field string) ([]byte, error) {
	type insert struct {
		at int
		xs []*extra
	}
	var ins []insert // in the order of at
	end, err := eachMember(body, 0, 0, func(name, b []byte, i int) (int, error) {
		if string(name) != "choices" || len(choices) == 0 {
			return -1, nil
		}
		return eachElement(b, i, 1, func(b []byte, i int) (int, error) {
			index, fieldEnd := 0, -1
			j, err := eachMember(b, i, 2, func(name, b []byte, i int) (int, error) {
				switch {
				case string(name) == "index":
					return readIndex(b, i, &index)
				case field != "" && string(name) == field:
					j, err := jsonscan.SkipIn(b, i, 3)
					fieldEnd = j - 1
					return j, err
				}
				return -1, nil
			})
			if err != nil {
				return j, err
			}
			for _, c := range choices {
				if c.index != index {
					continue
				}
				if fieldEnd >= 0 {
					ins = append(ins, insert{fieldEnd, c.message})
				}
				ins = append(ins, insert{j - 1, c.choice})
			}
			return j, nil
		})
	})
	if err != nil {
		return nil, err
	}
	ins = append(ins, insert{end - 1, top})
	out := make([]byte, 0, len(body)+256)
	from := 0
	for _, in := range ins {
		if len(in.xs) == 0 {
			continue
		}
		out = append(out, body[from:in.at]...)
		first := len(out)
		for _, x := range in.xs {
			if out, err = x.appendJSON(out); err != nil {
				return nil, err
			}
		}
		if body[in.at-1] == '{' { // an empty object: no comma before its first member
			out = append(out[:first], out[first+1:]...)
		}
		from = in.at
	}
	return append(out, body[from:]...), nil
}
