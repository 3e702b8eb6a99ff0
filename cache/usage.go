package cache

import (
	"bytes"
	"encoding/json"
	"reflect"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// A conversion writes the usage the upstream sent as it came (compacted),
// not as wire.Usage encodes it: members the wire types lack — DeepSeek's
// prompt_cache_hit_tokens and prompt_cache_miss_tokens, a provider's
// cost — and details that are zero (audio_tokens: 0) would be lost in a
// round trip through wire.Usage.

// topMember returns the span of the value of the top-level member named
// name (plain ASCII) of the JSON object data, or ok false when there is
// none, data is not an object, or encoding/json might read another value
// under that name: the name twice (repeated objects are merged) or a case
// twin ("Usage", or "\u0055sage", or "uſage" with a long s, which folds
// to s). Names are compared decoded, as encoding/json compares them.
func topMember(data []byte, name string) (start, end int, ok bool) {
	i := jsonscan.SkipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		return 0, 0, false
	}
	i = jsonscan.SkipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, 0, false
	}
	seen := false
	for i < len(data) && data[i] == '"' {
		k, err := jsonscan.SkipString(data, i)
		if err != nil {
			return 0, 0, false
		}
		key, err := decodeName(data[i:k])
		if err != nil {
			return 0, 0, false
		}
		match := string(key) == name
		if match && seen || !match && bytes.EqualFold(key, []byte(name)) {
			return 0, 0, false
		}
		i = jsonscan.SkipWS(data, k)
		if i >= len(data) || data[i] != ':' {
			return 0, 0, false
		}
		v := jsonscan.SkipWS(data, i+1)
		e, err := jsonscan.Skip(data, v)
		if err != nil {
			return 0, 0, false
		}
		if match {
			start, end, seen = v, e, true
		}
		i = jsonscan.SkipWS(data, e)
		if i >= len(data) || data[i] != ',' {
			break
		}
		i = jsonscan.SkipWS(data, i+1)
	}
	return start, end, seen
}

// rawUsage returns the compacted usage object of the JSON object data, or
// nil when it has none (or null).
func rawUsage(data []byte) []byte {
	s, e, ok := topMember(data, "usage")
	if !ok || data[s] != '{' {
		return nil
	}
	raw := data[s:e]
	if !bytes.ContainsAny(raw, " \t\r\n") {
		return raw // compact already (the bytes of an event or a body never change)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return nil
	}
	return b.Bytes()
}

// streamRawUsage returns the rawUsage of e's events that u, the usage
// merged from them, was read from: that of the usage chunk, last, or else
// (a server that put usage in another chunk) that of the last chunk with a
// usage object, when it reads as u — a later chunk may hold usage under a
// name only encoding/json reads (escaped, say). Nil when there is none.
func (e *Entry) streamRawUsage(u *wire.Usage) []byte {
	events := e.Events
	if e.StreamUsage {
		return rawUsage(events[len(events)-1])
	}
	for i := len(events) - 1; i >= 0; i-- {
		if mayHoldObject(events[i], `"usage"`) {
			raw := rawUsage(events[i])
			var got wire.Usage
			if raw == nil || u == nil || json.Unmarshal(raw, &got) != nil || !reflect.DeepEqual(got, *u) {
				return nil
			}
			return raw
		}
	}
	return nil
}

// mayHoldObject reports whether some occurrence of name (a quoted member
// name) in data is followed by a colon and an object: without one, data
// has no member of that name whose value is an object, and need not be
// parsed (most chunks of a stream carry "usage":null).
func mayHoldObject(data []byte, name string) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(name))
		if j < 0 {
			return false
		}
		i += j + len(name)
		k := jsonscan.SkipWS(data, i)
		if k < len(data) && data[k] == ':' {
			if k = jsonscan.SkipWS(data, k+1); k < len(data) && data[k] == '{' {
				return true
			}
		}
	}
}

// withRawUsage returns data, a JSON object marshalled from a wire type
// whose usage member follows its choices (as in every response and chunk
// type), with the usage object replaced by raw; data as it is when raw is
// nil or data has no usage object. What follows the choices holds no
// other "usage" name (only strings, where a quote is escaped), so the last
// occurrence is the member.
func withRawUsage(data, raw []byte) []byte {
	const name = `,"usage":`
	if raw == nil {
		return data
	}
	// It is near the end: a usage object and two short strings follow it.
	tail := max(0, len(data)-2048)
	i := bytes.LastIndex(data[tail:], []byte(name))
	if i >= 0 {
		i += tail
	} else {
		i = bytes.LastIndex(data[:min(len(data), tail+len(name)-1)], []byte(name))
	}
	if i < 0 || i+len(name) >= len(data) || data[i+len(name)] != '{' {
		return data
	}
	s := i + len(name)
	e, err := jsonscan.Skip(data, s)
	if err != nil {
		return data
	}
	out := make([]byte, 0, len(data)-(e-s)+len(raw))
	return append(append(append(out, data[:s]...), raw...), data[e:]...)
}
