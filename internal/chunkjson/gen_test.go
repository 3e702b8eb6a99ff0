package chunkjson

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// gen makes random chunks of the shapes servers send — text, refusal and
// reasoning deltas, tool calls in pieces, logprobs, usage with details,
// unknown keys, escapes, odd spacing — and, when mutate is set, now and
// then breaks one in a way only json.Unmarshal may decide.
type gen struct{ rng *rand.Rand }

func (g *gen) pick(opts ...string) string { return opts[g.rng.IntN(len(opts))] }

func (g *gen) ws() string {
	if g.rng.IntN(6) == 0 {
		return g.pick(" ", "\n", "\t ", "\r\n")
	}
	return ""
}

var genTexts = []string{"Hello", " world", "", "a\nb", `quote " and \ back`, "é€😀", "<tag> & more", "\u2028", "\x00", " river", "日本"}

func (g *gen) str() string {
	if g.rng.IntN(10) == 0 {
		return g.pick(`"\u00e9\ud83d\ude00\/"`, `"\t\"x\""`, `"\u0041BC"`)
	}
	b, _ := json.Marshal(genTexts[g.rng.IntN(len(genTexts))])
	return string(b)
}

func (g *gen) float() string {
	return g.pick("-0.25", "0", "-2.5", "-1.2345678901234567e-05", "-9999.5", "-0", "-1E+2", "-3e-7", "null", "-0.000001")
}

// obj writes an object of the members kv (key, value pairs), in random
// order, leaving some out when optional.
func (g *gen) obj(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if g.rng.IntN(8) == 0 {
			continue
		}
		parts = append(parts, g.ws()+fmt.Sprintf("%q", kv[i])+g.ws()+":"+g.ws()+kv[i+1]+g.ws())
	}
	if g.rng.IntN(10) == 0 {
		parts = append(parts, `"x_extra":{"a":[1,2.5e-3,true,null,{"b":"c\n"}]}`)
	}
	g.rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return "{" + strings.Join(parts, ",") + "}"
}

func (g *gen) arr(n int, elem func() string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = elem()
	}
	return "[" + g.ws() + strings.Join(parts, ","+g.ws()) + "]"
}

func (g *gen) bytes() string {
	if g.rng.IntN(8) == 0 {
		return "null"
	}
	return g.arr(g.rng.IntN(5), func() string { return fmt.Sprint(g.rng.IntN(256)) })
}

func (g *gen) entries() string {
	if g.rng.IntN(6) == 0 {
		return "null"
	}
	return g.arr(g.rng.IntN(3), func() string {
		return g.obj("token", g.str(), "logprob", g.float(), "bytes", g.bytes(),
			"top_logprobs", g.arr(g.rng.IntN(4), func() string {
				return g.obj("token", g.str(), "logprob", g.float(), "bytes", g.bytes())
			}))
	})
}

func (g *gen) delta() string {
	switch g.rng.IntN(6) {
	case 0:
		return g.obj("role", `"assistant"`, "content", g.pick(`""`, "null"), "refusal", "null")
	case 1:
		return g.obj("content", g.str())
	case 2:
		return g.obj("refusal", g.str())
	case 3:
		return g.obj("reasoning_content", g.str(), "content", "null")
	case 4:
		return g.obj("tool_calls", g.arr(1+g.rng.IntN(2), func() string {
			return g.obj("index", g.pick("0", "1", "null"), "id", `"call_1"`, "type", `"function"`,
				"function", g.obj("name", g.pick(`"weather"`, `""`), "arguments", g.pick(`"{\"city\":"`, `"\"Paris\"}"`, `""`)))
		}))
	}
	return g.obj("function_call", g.pick("null", g.obj("name", `"f"`, "arguments", `"{\"a\":1}"`)))
}

func (g *gen) chunk() string {
	choices := g.arr(g.rng.IntN(3), func() string {
		lp := "null"
		if g.rng.IntN(2) == 0 {
			lp = g.obj("content", g.entries(), "refusal", g.entries())
		}
		return g.obj("index", fmt.Sprint(g.rng.IntN(3)), "delta", g.delta(),
			"logprobs", lp, "finish_reason", g.pick("null", `"stop"`, `"length"`, `"tool_calls"`))
	})
	usage := "null"
	if g.rng.IntN(3) == 0 {
		usage = g.obj("prompt_tokens", "31", "completion_tokens", "12", "total_tokens", "43",
			"prompt_tokens_details", g.obj("cached_tokens", "4", "audio_tokens", "0"),
			"completion_tokens_details", g.obj("reasoning_tokens", "2", "accepted_prediction_tokens", "1", "rejected_prediction_tokens", "0"))
	}
	return g.ws() + g.obj("id", g.pick(`"chatcmpl-1"`, `"chatcmpl-2"`), "object", `"chat.completion.chunk"`,
		"created", g.pick("1700000000", "0", "-5", "null"), "model", g.pick(`"gpt-4o-mini"`, `"m"`),
		"system_fingerprint", `"fp_1"`, "service_tier", g.pick(`"default"`, "null"), "obfuscation", `"Zx9q"`,
		"choices", choices, "usage", usage) + g.ws()
}

// mutations turn a chunk into one only json.Unmarshal decides (or one it
// refuses).
var mutations = [][2]string{
	{`"model"`, `"Model"`}, {`"index"`, `"INDEX"`}, {`"content"`, `"content":1,"content"`},
	{`"model"`, `"\u006dodel"`}, {`"logprob":`, `"logprob":"x","y":`}, {`"bytes":[`, `"bytes":[1.5,`},
	{`"created":`, `"created":1.0,"z":`}, {`"token":"`, "\"token\":\"\xff"}, {`}`, `,}`}, {`"id"`, `"id" `},
	{`"prompt_tokens":31`, `"prompt_tokens":1e2`}, {`"Hello`, `"\ud800Hello`}, {`[`, `[1,`},
}

func (g *gen) mutate(s string) string {
	m := mutations[g.rng.IntN(len(mutations))]
	return strings.Replace(s, m[0], m[1], 1)
}

// TestDecodeGenerated decodes generated chunks, one in eight mutated, with
// one Decoder per mode (its state carries over from chunk to chunk) and
// wants json.Unmarshal's chunk or error each time; nearly all unmutated
// chunks must take the fast path.
func TestDecodeGenerated(t *testing.T) {
	g := &gen{rng: rand.New(rand.NewPCG(3, 5))}
	decs := []*Decoder{{}, {Alias: true}}
	fast, plain := 0, 0
	for range 3000 {
		data := g.chunk()
		mutated := g.rng.IntN(8) == 0
		if mutated {
			data = g.mutate(data)
		} else {
			plain++
			var ch wire.ChatCompletionChunk
			if decs[0].fast([]byte(data), &ch) {
				fast++
			}
		}
		for _, d := range decs {
			check(t, d, []byte(data))
		}
	}
	if fast != plain {
		t.Errorf("%d of %d unmutated chunks took the fast path", fast, plain)
	}
}

// FuzzDecode checks Decode against json.Unmarshal on any input.
func FuzzDecode(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	for _, c := range slowCases {
		f.Add([]byte(c))
	}
	g := &gen{rng: rand.New(rand.NewPCG(1, 2))}
	for range 40 {
		f.Add([]byte(g.chunk()))
	}
	var d, a Decoder
	a.Alias = true
	f.Fuzz(func(t *testing.T, data []byte) {
		check(t, &d, data)
		check(t, &a, data)
	})
}
