package cache

import (
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// chunkReader decodes the chunks of a recorded chat stream for
// mergeChatEvents, giving exactly what json.Unmarshal gives (the same
// chunk, or the same error) at a fraction of its cost. It reads the
// fields of wire.ChatCompletionChunk by hand and passes over unknown keys
// (checking their syntax); usage and logprobs, rare and intricate, are
// handed to json.Unmarshal on their own. Whatever else it does not know
// for sure — a key that differs from a field only in case, a key seen
// twice, a value of an unexpected type, a number that is not a plain
// integer, invalid UTF-8, a lone surrogate, invalid JSON — makes it start
// over with json.Unmarshal on the whole chunk, so the result and the
// error are json.Unmarshal's either way.
//
// Strings of a choice (content, role, tool calls, …) that hold no escape
// are not copied: they point into the event, which an Entry never
// modifies, and live only as long as the merge uses them. The chunk's
// own strings (id, model, …) are copied, once per stream: a string equal
// to the one the previous chunk held is reused.
//
// The zero value is ready to use. A chunkReader is not safe for
// concurrent use.
type chunkReader struct {
	b       []byte
	i       int
	choices []wire.ChunkChoice // the backing array of each chunk's Choices
	last    [5]string          // id, object, model, system_fingerprint, service_tier of the last chunk
}

// Top-level keys, as bits of the set of keys seen.
const (
	keyID = 1 << iota
	keyObject
	keyCreated
	keyModel
	keyFingerprint
	keyServiceTier
	keyChoices
	keyUsage
)

// read decodes data into dst, which it overwrites; dst.Choices shares the
// reader's backing array, valid until the next read.
func (r *chunkReader) read(data []byte, dst *wire.ChatCompletionChunk) error {
	clear(r.choices[:cap(r.choices)])
	*dst = wire.ChatCompletionChunk{}
	r.b, r.i = data, 0
	if r.chunk(dst) && r.end() {
		return nil
	}
	clear(r.choices[:cap(r.choices)])
	*dst = wire.ChatCompletionChunk{}
	return json.Unmarshal(data, dst)
}

func (r *chunkReader) chunk(dst *wire.ChatCompletionChunk) bool {
	return r.members(func(key []byte) (bit int, ok bool) {
		ok = true
		switch string(key) {
		case "id":
			bit, ok = keyID, r.headString(&dst.ID, 0)
		case "object":
			bit, ok = keyObject, r.headString(&dst.Object, 1)
		case "created":
			bit, ok = keyCreated, r.int64(&dst.Created)
		case "model":
			bit, ok = keyModel, r.headString(&dst.Model, 2)
		case "system_fingerprint":
			bit, ok = keyFingerprint, r.headString(&dst.SystemFingerprint, 3)
		case "service_tier":
			bit, ok = keyServiceTier, r.headString(&dst.ServiceTier, 4)
		case "choices":
			bit, ok = keyChoices, r.chunkChoices(dst)
		case "usage":
			bit, ok = keyUsage, raw(r, &dst.Usage)
		}
		return bit, ok
	})
}

func (r *chunkReader) chunkChoices(dst *wire.ChatCompletionChunk) bool {
	if r.null() {
		dst.Choices = nil
		return true
	}
	choices := r.choices[:0]
	ok := r.array(func() bool {
		choices = append(choices, wire.ChunkChoice{})
		return r.chunkChoice(&choices[len(choices)-1])
	})
	if choices == nil {
		choices = []wire.ChunkChoice{} // [] is an empty slice, not nil
	}
	r.choices, dst.Choices = choices, choices
	return ok
}

func (r *chunkReader) chunkChoice(c *wire.ChunkChoice) bool {
	return r.members(func(key []byte) (bit int, ok bool) {
		ok = true
		switch string(key) {
		case "index":
			bit, ok = 1, r.int(&c.Index)
		case "delta":
			bit, ok = 2, r.null() || r.delta(&c.Delta)
		case "finish_reason":
			bit = 4
			var s string
			if ok = r.string(&s); ok && s != "" {
				c.FinishReason = wire.FinishReason(s)
			}
		case "logprobs":
			bit, ok = 8, raw(r, &c.Logprobs)
		}
		return bit, ok
	})
}

func (r *chunkReader) delta(d *wire.Delta) bool {
	return r.members(func(key []byte) (bit int, ok bool) {
		ok = true
		switch string(key) {
		case "role":
			bit, ok = 1, r.string(&d.Role)
		case "content":
			bit, ok = 2, r.string(&d.Content)
		case "refusal":
			bit, ok = 4, r.string(&d.Refusal)
		case "tool_calls":
			bit = 8
			if r.null() {
				d.ToolCalls = nil
				break
			}
			var calls []wire.ToolCall
			ok = r.array(func() bool {
				calls = append(calls, wire.ToolCall{})
				return r.toolCall(&calls[len(calls)-1])
			})
			if calls == nil {
				calls = []wire.ToolCall{}
			}
			d.ToolCalls = calls
		case "function_call":
			bit = 16
			if r.null() {
				d.FunctionCall = nil
				break
			}
			d.FunctionCall = &wire.FunctionCall{}
			ok = r.function(d.FunctionCall)
		}
		return bit, ok
	})
}

func (r *chunkReader) toolCall(tc *wire.ToolCall) bool {
	return r.members(func(key []byte) (bit int, ok bool) {
		ok = true
		switch string(key) {
		case "index":
			bit = 1
			if r.null() {
				tc.Index = nil
				break
			}
			n := new(int)
			ok, tc.Index = r.int(n), n
		case "id":
			bit, ok = 2, r.string(&tc.ID)
		case "type":
			bit, ok = 4, r.string(&tc.Type)
		case "function":
			bit, ok = 8, r.null() || r.function(&tc.Function)
		}
		return bit, ok
	})
}

func (r *chunkReader) function(f *wire.FunctionCall) bool {
	return r.members(func(key []byte) (bit int, ok bool) {
		ok = true
		switch string(key) {
		case "name":
			bit, ok = 1, r.string(&f.Name)
		case "arguments":
			bit, ok = 2, r.string(&f.Arguments)
		}
		return bit, ok
	})
}

// members reads an object with object. member reads the value of a key
// it knows and returns its bit (a power of two), or returns 0 for a key
// it does not know, whose value unknown passes over. A known key seen
// twice is left to json.Unmarshal, which merges the two values.
func (r *chunkReader) members(member func(key []byte) (bit int, ok bool)) bool {
	seen := 0
	return r.object(func(key []byte) bool {
		bit, ok := member(key)
		if bit == 0 {
			return r.unknown(key)
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return ok
	})
}

// unknown passes over the value of a key that is no field. json.Unmarshal
// matches keys without regard to case (with Unicode folding), so only a
// key of lower-case ASCII letters, digits and '_' is known to match none.
func (r *chunkReader) unknown(key []byte) bool {
	for _, c := range key {
		if ('a' > c || c > 'z') && ('0' > c || c > '9') && c != '_' {
			return false
		}
	}
	return r.skip(0)
}

// raw decodes the value at r.i into *dst with json.Unmarshal, after
// checking its syntax; null sets it to nil, as json.Unmarshal does.
func raw[T any](r *chunkReader, dst **T) bool {
	if r.null() {
		*dst = nil
		return true
	}
	start := r.i
	return r.skip(0) && json.Unmarshal(r.b[start:r.i], dst) == nil
}

func (r *chunkReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\r', '\n':
			r.i++
		default:
			return
		}
	}
}

func (r *chunkReader) peek() byte {
	r.ws()
	if r.i == len(r.b) {
		return 0
	}
	return r.b[r.i]
}

func (r *chunkReader) end() bool { r.ws(); return r.i == len(r.b) }

// null consumes a null, if one is next.
func (r *chunkReader) null() bool {
	if r.peek() == 'n' && len(r.b)-r.i >= 4 && string(r.b[r.i:r.i+4]) == "null" {
		r.i += 4
		return true
	}
	return false
}

// object reads an object, calling member with each key (without escapes)
// when r.i is at its value; member must consume the value.
func (r *chunkReader) object(member func(key []byte) bool) bool {
	if r.peek() != '{' {
		return false
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return true
	}
	for {
		if r.peek() != '"' {
			return false
		}
		start := r.i + 1
		end := jsonscan.PlainRun(r.b, start)
		for end < len(r.b) && r.b[end] != '"' && r.b[end] >= 0x20 && r.b[end] < 0x80 && r.b[end] != '\\' {
			end++
		}
		if end >= len(r.b) || r.b[end] != '"' {
			return false // an escape, a control or non-ASCII byte: json.Unmarshal decides
		}
		r.i = end + 1
		if r.peek() != ':' {
			return false
		}
		r.i++
		if !member(r.b[start:end]) {
			return false
		}
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return true
		default:
			return false
		}
	}
}

// array reads an array, calling elem when r.i is at each element.
func (r *chunkReader) array(elem func() bool) bool {
	if r.peek() != '[' {
		return false
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return true
		default:
			return false
		}
	}
}

// headString reads a top-level string field: null leaves it, and a value
// equal to the last chunk's is taken from it rather than copied.
func (r *chunkReader) headString(dst *string, slot int) bool {
	if r.null() {
		return true
	}
	var s string
	if !r.string(&s) {
		return false
	}
	if s != r.last[slot] {
		r.last[slot] = strings.Clone(s) // s may point into the event
	}
	*dst = r.last[slot]
	return true
}

// string reads a string into *dst, or a null that leaves it. A string
// without escapes points into r.b.
func (r *chunkReader) string(dst *string) bool {
	if r.null() {
		return true
	}
	if r.peek() != '"' {
		return false
	}
	start := r.i + 1
	ascii := true
	for j := jsonscan.PlainRun(r.b, start); j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			s := r.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return false // json.Unmarshal replaces the invalid bytes
			}
			r.i = j + 1
			if len(s) > 0 {
				*dst = unsafe.String(&s[0], len(s))
			} else {
				*dst = ""
			}
			return true
		case c == '\\':
			return r.escaped(dst, start)
		case c < 0x20:
			return false
		case c >= 0x80:
			ascii = false
		}
	}
	return false
}

// escaped decodes a string with escapes that starts at r.b[start].
func (r *chunkReader) escaped(dst *string, start int) bool {
	out := make([]byte, 0, 64)
	j := start
	for j < len(r.b) {
		c := r.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(r.b[start:j]) {
				return false
			}
			r.i = j + 1
			*dst = string(out)
			return true
		case c < 0x20:
			return false
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(r.b) {
			return false
		}
		switch e := r.b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := chunkHex4(r.b[j+2:])
			if !ok {
				return false
			}
			j += 6
			if utf16.IsSurrogate(c1) {
				if len(r.b)-j < 6 || r.b[j] != '\\' || r.b[j+1] != 'u' {
					return false // a lone surrogate: json.Unmarshal makes it U+FFFD
				}
				c2, ok := chunkHex4(r.b[j+2:])
				if c1 = utf16.DecodeRune(c1, c2); !ok || c1 == utf8.RuneError {
					return false
				}
				j += 6
			}
			out = utf8.AppendRune(out, c1)
			continue
		default:
			return false
		}
		j += 2
	}
	return false
}

// chunkHex4 reads the four hex digits of a \u escape.
func chunkHex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var v rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	return v, true
}

// int64 reads an integer into *dst, or a null that leaves it. Only a
// plain integer that fits is read: json.Unmarshal refuses a fraction or
// an exponent, and decides about the rest.
func (r *chunkReader) int64(dst *int64) bool {
	if r.null() {
		return true
	}
	r.ws()
	j, neg := r.i, false
	if j < len(r.b) && r.b[j] == '-' {
		j, neg = j+1, true
	}
	digits := j
	var v uint64
	for ; j < len(r.b) && '0' <= r.b[j] && r.b[j] <= '9'; j++ {
		if v > (1<<63-1)/10 {
			return false
		}
		v = v*10 + uint64(r.b[j]-'0')
	}
	switch {
	case j == digits, j-digits > 1 && r.b[digits] == '0', v > 1<<63-1: // 2^63 itself is left to json.Unmarshal
		return false
	case j < len(r.b) && (r.b[j] == '.' || r.b[j] == 'e' || r.b[j] == 'E'):
		return false
	}
	r.i = j
	if *dst = int64(v); neg {
		*dst = -int64(v)
	}
	return true
}

// int is int64 for an int (64 bits wide wherever llmgate runs).
func (r *chunkReader) int(dst *int) bool {
	var v int64
	if r.null() {
		return true
	}
	if !r.int64(&v) || int64(int(v)) != v {
		return false
	}
	*dst = int(v)
	return true
}

// skip passes over one value, checking its syntax as json.Unmarshal does.
// Deep nesting is left to json.Unmarshal.
func (r *chunkReader) skip(depth int) bool {
	if depth > 64 {
		return false
	}
	switch c := r.peek(); {
	case c == '{':
		return r.object(func([]byte) bool { return r.skip(depth + 1) })
	case c == '[':
		return r.array(func() bool { return r.skip(depth + 1) })
	case c == '"':
		var s string
		return r.string(&s) // an escaped string is decoded: rare in unknown fields
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.null()
	case c == '-' || '0' <= c && c <= '9':
		return r.number()
	}
	return false
}

func (r *chunkReader) literal(lit string) bool {
	if len(r.b)-r.i >= len(lit) && string(r.b[r.i:r.i+len(lit)]) == lit {
		r.i += len(lit)
		return true
	}
	return false
}

// number passes over a JSON number.
func (r *chunkReader) number() bool {
	j := r.i
	digits := func() int {
		n := 0
		for ; j < len(r.b) && '0' <= r.b[j] && r.b[j] <= '9'; j++ {
			n++
		}
		return n
	}
	if r.b[j] == '-' {
		j++
	}
	first := j
	if n := digits(); n == 0 || n > 1 && r.b[first] == '0' {
		return false
	}
	if j < len(r.b) && r.b[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(r.b) && (r.b[j] == 'e' || r.b[j] == 'E') {
		j++
		if j < len(r.b) && (r.b[j] == '+' || r.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	r.i = j
	return true
}
