package middleware

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// decodeChatChunk decodes a chat stream chunk into dst as
// json.Unmarshal(data, dst) does, dst being a zero chunk whose Choices may
// hold a cleared backing array to reuse. It takes a fast path for the
// chunks servers send nearly always — the known keys spelled exactly, each
// once; strings without escapes; integers; content, role and refusal
// deltas; finish_reason a string or null; usage with the three counts —
// and hands anything else (tool calls, logprobs, usage details, escapes,
// unknown keys, invalid JSON) to json.Unmarshal, starting over from the
// same zero chunk, so the result and the error are json.Unmarshal's
// either way.
func decodeChatChunk(data []byte, dst *wire.ChatCompletionChunk) error {
	choices := dst.Choices
	p := chunkParser{b: data}
	if p.chunk(dst) && p.end() {
		return nil
	}
	clear(choices[:cap(choices)])
	*dst = wire.ChatCompletionChunk{Choices: choices[:0]}
	return json.Unmarshal(data, dst)
}

// chunkParser is the fast path of decodeChatChunk: each method returns
// false as soon as the input leaves the shapes it knows.
type chunkParser struct {
	b []byte
	i int
}

func (p *chunkParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte, or 0 at the end.
func (p *chunkParser) peek() byte {
	p.ws()
	if p.i == len(p.b) {
		return 0
	}
	return p.b[p.i]
}

func (p *chunkParser) end() bool { return p.peek() == 0 && p.i == len(p.b) }

func (p *chunkParser) lit(s string) bool {
	if p.peek() == 0 || len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// raw returns the bytes of a string without escapes, control characters
// or invalid UTF-8 (which json.Unmarshal would rewrite).
func (p *chunkParser) raw() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	start := p.i + 1
	ascii := true
	for j := jsonscan.PlainRun(p.b, start); j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			s := p.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

func (p *chunkParser) str(dst *string) bool {
	s, ok := p.raw()
	if ok {
		*dst = internChunkString(s)
	}
	return ok
}

// internChunkString returns the values every chunk repeats without an
// allocation.
func internChunkString(s []byte) string {
	switch string(s) {
	case "":
		return ""
	case wire.ObjectChatCompletionChunk:
		return wire.ObjectChatCompletionChunk
	case "assistant":
		return "assistant"
	case "stop":
		return "stop"
	case "length":
		return "length"
	}
	return string(s)
}

// int64 reads an integer: an optional minus and digits, without a
// fraction or exponent (which json.Unmarshal refuses for an int) and
// without overflow.
func (p *chunkParser) int64(dst *int64) bool {
	p.ws()
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		neg = true
		j++
	}
	start := j
	var n int64
	for ; j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9'; j++ {
		if j-start >= 18 {
			return false // possibly out of range: let encoding/json decide
		}
		n = n*10 + int64(p.b[j]-'0')
	}
	if j == start || (p.b[start] == '0' && j-start > 1) {
		return false
	}
	if j < len(p.b) {
		switch p.b[j] {
		case '.', 'e', 'E':
			return false
		}
	}
	if neg {
		n = -n
	}
	p.i, *dst = j, n
	return true
}

func (p *chunkParser) int(dst *int) bool {
	var n int64
	if !p.int64(&n) {
		return false
	}
	*dst = int(n)
	return true
}

// object parses the members of an object, calling member for each key
// with the parser at its value; keys must be distinct and member must
// know them (it returns false otherwise).
func (p *chunkParser) object(member func(key []byte) bool) bool {
	if !p.lit("{") {
		return false
	}
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		k, ok := p.raw()
		if !ok || !p.lit(":") || !member(k) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// once marks bit in seen and reports whether it was clear: a repeated key
// leaves the fast path (json.Unmarshal merges repeated keys).
func once(seen *uint16, bit uint16) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (p *chunkParser) chunk(c *wire.ChatCompletionChunk) bool {
	var seen uint16
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "id":
			return once(&seen, 1) && p.str(&c.ID)
		case "object":
			return once(&seen, 2) && p.str(&c.Object)
		case "created":
			return once(&seen, 4) && p.int64(&c.Created)
		case "model":
			return once(&seen, 8) && p.str(&c.Model)
		case "system_fingerprint":
			return once(&seen, 16) && p.str(&c.SystemFingerprint)
		case "service_tier":
			return once(&seen, 32) && p.str(&c.ServiceTier)
		case "choices":
			return once(&seen, 64) && p.choices(c)
		case "usage":
			return once(&seen, 128) && p.usage(c)
		}
		return false
	})
}

func (p *chunkParser) choices(c *wire.ChatCompletionChunk) bool {
	if !p.lit("[") {
		return false
	}
	if c.Choices == nil {
		c.Choices = []wire.ChunkChoice{} // json.Unmarshal makes [] an empty, non-nil slice
	}
	if p.peek() == ']' {
		p.i++
		return true
	}
	for {
		c.Choices = append(c.Choices, wire.ChunkChoice{})
		if !p.choice(&c.Choices[len(c.Choices)-1]) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}

func (p *chunkParser) choice(ch *wire.ChunkChoice) bool {
	var seen uint16
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "index":
			return once(&seen, 1) && p.int(&ch.Index)
		case "delta":
			return once(&seen, 2) && p.delta(&ch.Delta)
		case "finish_reason":
			if !once(&seen, 4) {
				return false
			}
			if p.lit("null") {
				return true
			}
			var s string
			ok := p.str(&s)
			ch.FinishReason = wire.FinishReason(s)
			return ok
		case "logprobs":
			return once(&seen, 8) && p.lit("null")
		}
		return false
	})
}

func (p *chunkParser) delta(d *wire.Delta) bool {
	var seen uint16
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "role":
			return once(&seen, 1) && p.str(&d.Role)
		case "content":
			return once(&seen, 2) && (p.lit("null") || p.str(&d.Content))
		case "refusal":
			return once(&seen, 4) && (p.lit("null") || p.str(&d.Refusal))
		}
		return false
	})
}

func (p *chunkParser) usage(c *wire.ChatCompletionChunk) bool {
	if p.lit("null") {
		return true
	}
	u := &wire.Usage{}
	var seen uint16
	ok := p.object(func(k []byte) bool {
		switch string(k) {
		case "prompt_tokens":
			return once(&seen, 1) && p.int(&u.PromptTokens)
		case "completion_tokens":
			return once(&seen, 2) && p.int(&u.CompletionTokens)
		case "total_tokens":
			return once(&seen, 4) && p.int(&u.TotalTokens)
		}
		return false
	})
	c.Usage = u
	return ok
}
