package chunkjson

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// lpEntry is a logprobs entry as OpenAI sends it for top_logprobs: 2.
const lpEntry = `{"token":" river","logprob":-0.25,"bytes":[32,114,105,118,101,114],"top_logprobs":[{"token":" river","logprob":-0.25,"bytes":[32,114,105,118,101,114]},{"token":" a","logprob":-2.5,"bytes":[32,97]}]}`

// fastCases are read without json.Unmarshal: each field, its null, and
// the shapes real servers send.
var fastCases = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"word0 "},"finish_reason":null}]}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","service_tier":"default","choices":[{"index":0,"delta":{"content":"héllo ✓"},"logprobs":null,"finish_reason":"stop"}]}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":300,"completion_tokens":16,"total_tokens":316}}`,
	` { "id" : "c" , "choices" : [ { "index" : 1 , "delta" : { } } , {"index":0,"delta":{"refusal":"no","content":null}} ] , "usage" : null } `,
	`{"choices":[{"index":0,"delta":{"content":"a\nb \"q\" \u00e9"}}]}`,
	` { "id" : "c" , "choices" : [ { "index" : 2 , "delta" : { "content" : "a\n\"b\"\\ \/ \b\f\r\t \u00e9\u20ac\ud83d\ude00" } } ] } `,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{\"tz\":"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"\"CET\"}"}},{"index":null,"function":null},null]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[]},"finish_reason":null}],"choices2":[]}`,
	`{"choices":[{"index":0,"delta":{"refusal":"no","tool_calls":null,"function_call":null},"finish_reason":"stop"}]}`,
	`{"choices":[{"index":0,"delta":{"function_call":{"name":"f","arguments":""}}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","type":"custom","custom":{"name":"apply_patch","input":""}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"custom":{"input":"*** Begin \"Patch\"","x":1}},{"index":1,"custom":null}]}}]}`,
	`{"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}`,
	`{"choices":[],"usage":{"prompt_tokens":31,"completion_tokens":12,"total_tokens":43,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":1},"completion_tokens_details":{"reasoning_tokens":7,"audio_tokens":0,"accepted_prediction_tokens":2,"rejected_prediction_tokens":3,"x":[]}}}`,
	`{"usage":{"prompt_tokens":1,"prompt_tokens_details":null,"completion_tokens_details":null}}`,
	`{"usage":{}}`, `{"choices":null,"usage":{"prompt_tokens":1}}`,
	`{"choices":[{"index":0,"delta":{"content":"x"},"logprobs":{"content":[]}}]}`,
	`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" river"},"logprobs":{"content":[` + lpEntry + `],"refusal":null},"finish_reason":null}]}`,
	`{"choices":[{"index":0,"delta":{"content":"A"},"logprobs":{"content":[{"token":"A","logprob":-0.1,"bytes":[65],"top_logprobs":[{"token":"B","logprob":-2.5e-3,"bytes":null}]},{"token":"\u00e9","logprob":-1E+2,"bytes":[195,169],"top_logprobs":[]}],"refusal":null}}]}`,
	`{"choices":[{"index":0,"delta":{"refusal":"no"},"logprobs":{"content":null,"refusal":[{"token":"no","logprob":0,"bytes":[110,111],"top_logprobs":null,"x":1},null]}}]}`,
	`{"choices":[{"index":0,"logprobs":{"content":[{"token":null,"logprob":null,"bytes":[null,1]}],"x":{}}}]}`,
	`{"choices":[{"index":0,"logprobs":{"content":[{"logprob":-9007199254740993,"bytes":[]},{"logprob":1e-400},{"logprob":-0.0}]}}]}`,
	`{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"Let me think \u2014"}}]}`,
	`{"id":"c","obfuscation":"xY7","x_extra":{"a":[1,-2.5,3e10,true,false,null,"s\u0041"],"b":{}},"choices":[{"index":0,"delta":{"content":"z","x":1},"x":[]}]}`,
	`{"id":null,"object":null,"created":null,"model":null,"system_fingerprint":null,"service_tier":null,"choices":[{"index":null,"delta":null,"finish_reason":null}]}`,
	`{"choices":[null,{"index":1}]}`,
	`{"choices":[{"logprobs":{"content":[{"bytes":[1 ,2]},{"bytes":[ 1,2]},{"bytes":[1,2 ]},{"bytes":[1000,5,0]},{"bytes":[0,-1]},{"bytes":[7]}]}}]}`,
	`{"service_tier":"default","system_fingerprint":"fp","created":-0}`,
	`{"choices":[{"index":0,"delta":{"content":"日本語 ünïcödé"}}]}`,
	"{\"x-odd key!\":\"\xff invalid UTF-8 is not decoded here\",\"id\":\"x\"}",
	`{"created":999999999999999999}`, `{"created":-999999999999999999}`, `{}`, `{"index":"x"}`,
	`{"choices":[{"finish_reason":"length","index":3,"delta":{"role":"assistant"}}]}`,
}

// slowCases are left to json.Unmarshal, which decodes them or fails.
var slowCases = []string{
	`null`, `[]`, `"s"`, ``, `[1]`,
	`{"ID":"upper","Choices":[{"Index":2}]}`,                          // case-folded keys
	`{"id":"a","id":"b"}`,                                             // a key twice
	`{"choices":[{"index":0}],"choices":[{"index":1},{"index":2}]}`,   // and an array twice
	`{"choices":[{"index":0,"index":1}]}`,                             // in a choice
	`{"choices":[{"index":0,"delta":{"content":"a","content":"b"}}]}`, // in a delta
	`{"choices":[{"logprobs":{"content":[{"token":"a","token":"b"}]}}]}`,
	`{"\u0069d":"escaped key"}`, `{"ſervice_tier":"long s folds to s"}`, `{"X_unknown":1}`,
	`{"created":1.5}`, `{"created":1e3}`, `{"created":"1"}`, `{"created":01}`, `{"created":-}`,
	`{"created":9223372036854775808}`, `{"created":18446744073709551617}`, `{"created":-99999999999999999999}`,
	`{"created":-9223372036854775808}`, `{"created":123456789012345678901234}`, `{"created":9223372036854775807}`,
	`{"choices":[{"index":01}]}`, `{"choices":[{"index":0,"finish_reason":5}]}`,
	`{"choices":[{"index":0,"delta":{"content":"lone \ud800 surrogate"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"pair then lone \ud83d\ude00\udc00"}}]}`,
	`{"choices":[{"index":0,"delta":{"content":"bad \x"}}]}`,
	"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"invalid \xff utf-8\"}}]}",
	"{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"control \x01\"}}]}",
	"{\"id\":\"ctl \x01\"}", `{"id":"bad \xff utf8"}`,
	`{"choices":[{"index":0,"delta":"not an object"}]}`, `{"choices":{"index":0}}`, `{"choices":{}}`,
	`{"usage":{"prompt_tokens":"x"}}`, `{"usage":{"prompt_tokens":1.0}}`,
	`{"choices":[{"index":0,"logprobs":{"content":"x"}}]}`,
	`{"choices":[{"logprobs":{"content":[{"logprob":1e400}]}}]}`,
	`{"choices":[{"logprobs":{"content":[{"logprob":"-1"}]}}]}`,
	`{"choices":[{"logprobs":{"content":[{"bytes":[1.5]}]}}]}`,
	`{"choices":[{"logprobs":{"content":[{"top_logprobs":[{"bytes":[256,-1,99999999999999999999]}]}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":"0"}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"custom":{"input":"a","input":"b"}}]}}]}`,
	`{"choices":[{"index":0,"delta":{"tool_calls":[{"custom":{"input":1}}]}}]}`,
	`{"choices":[{"logprobs":{"content":[{"bytes":[1,]}]}}]}`, `{"choices":[{"logprobs":{"content":[{"bytes":[01]}]}}]}`,
	`{"choices":[{"logprobs":{"content":[{"bytes":[1e2]}]}}]}`, `{"choices":[{"logprobs":{"content":[{"bytes":[1`,
	`{"choices":[{"logprobs":{"content":[{"bytes":[1]x}]}}]}`, `{"choices":[{"logprobs":{"content":[{"bytes":[12,"3"]}]}}]}`,
	`{"id":"c",}`, `{"id":"c"} x`, `{"id":"x"} trailing`, `{"id":"c"`, `{"x":[1,]}`, `{"x":tru}`, `{"x":-}`,
	`{"x":1.}`, `{"x":1e}`, `{,}`, `{"id" "c"}`,
	`{"choices":[{"index":0,"delta":{"content":"a"}},]}`, `{"choices":[{"index":0,"delta":{"content":"a"}} {"index":1}]}`,
}

// reused returns a zero chunk around a backing array of choices left over
// from a previous chunk, as the tap passes it.
func reused() wire.ChatCompletionChunk {
	prev := make([]wire.ChunkChoice, 3, 4)
	prev[0].Delta.Content, prev[2].Index = "old", 9
	prev[1].Logprobs = &wire.ChatLogprobs{}
	return wire.ChatCompletionChunk{Choices: prev}
}

// check decodes data with d into a reused chunk and wants json.Unmarshal's
// chunk or error.
func check(t *testing.T, d *Decoder, data []byte) {
	t.Helper()
	want := wire.ChatCompletionChunk{Choices: make([]wire.ChunkChoice, 0, 4)}
	wantErr := json.Unmarshal(data, &want)
	got := reused()
	gotErr := d.Decode(data, &got)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, json.Unmarshal %v", data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", data, got, want)
	}
}

// TestDecode checks each case against json.Unmarshal, in both string
// modes and read after another chunk, and that the fast cases take the
// fast path and the others do not (the comparison alone would pass if
// every chunk fell back).
func TestDecode(t *testing.T) {
	for _, alias := range []bool{false, true} {
		d := &Decoder{Alias: alias}
		for i, data := range append(fastCases[:len(fastCases):len(fastCases)], slowCases...) {
			t.Run(fmt.Sprintf("alias=%v/%d", alias, i), func(t *testing.T) {
				check(t, d, []byte(data))
				var ch wire.ChatCompletionChunk
				if fast := d.fast([]byte(data), &ch); fast != (i < len(fastCases)) {
					t.Errorf("%s: fast path %v", data, fast)
				}
			})
		}
	}
}

// TestDecodeDepth: an unknown value nested up to encoding/json's limit is
// passed over, one level deeper is json.Unmarshal's error.
func TestDecodeDepth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		depth int // of the unknown value's arrays, inside the chunk and a choice
		fast  bool
	}{{"at the limit", 10000 - 3, true}, {"past the limit", 10000 - 2, false}} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(`{"choices":[{"x":` + strings.Repeat("[", tc.depth) + strings.Repeat("]", tc.depth) + `}]}`)
			var d Decoder
			check(t, &d, data)
			var ch wire.ChatCompletionChunk
			if fast := d.fast(data, &ch); fast != tc.fast {
				t.Errorf("fast path %v", fast)
			}
		})
	}
}

// TestDecodeStringsOwnBytes: without Alias, the strings of a chunk stay
// when its data is overwritten (the tap reuses its buffer); with Alias,
// they point into it.
func TestDecodeStringsOwnBytes(t *testing.T) {
	const in = `{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"hello","tool_calls":[{"id":"t","function":{"name":"f","arguments":"{}"}}]},"logprobs":{"content":[` + lpEntry + `]}}]}`
	for _, tc := range []struct {
		alias, same bool
	}{{false, true}, {true, false}} {
		t.Run(fmt.Sprintf("alias=%v", tc.alias), func(t *testing.T) {
			var want wire.ChatCompletionChunk
			if err := json.Unmarshal([]byte(in), &want); err != nil {
				t.Fatal(err)
			}
			data := []byte(in)
			d := Decoder{Alias: tc.alias}
			var got wire.ChatCompletionChunk
			if err := d.Decode(data, &got); err != nil {
				t.Fatal(err)
			}
			for i := range data {
				if data[i] >= 'a' && data[i] <= 'z' {
					data[i] = 'X'
				}
			}
			if same := reflect.DeepEqual(got, want); same != tc.same {
				t.Errorf("unchanged after overwriting the data: %v\n got %+v", same, got)
			}
		})
	}
}

// TestDecodeKeeps: what a caller keeps of a chunk (usage, logprobs, tool
// calls) is not touched by later chunks decoded into the same target.
func TestDecodeKeeps(t *testing.T) {
	first := `{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]},"logprobs":{"content":[` + lpEntry + `]}}],"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":1}}}`
	second := strings.NewReplacer("river", "delta", "32,", "7,", ":1", ":2", `"{"`, `"}"`).Replace(first)
	var want wire.ChatCompletionChunk
	if err := json.Unmarshal([]byte(first), &want); err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var ch wire.ChatCompletionChunk
	if err := d.Decode([]byte(first), &ch); err != nil {
		t.Fatal(err)
	}
	kept := ch.Choices[0]
	usage := ch.Usage
	if err := d.Decode([]byte(second), &ch); err != nil || ch.Choices[0].Logprobs.Content[0].Token != " delta" {
		t.Fatalf("second chunk: %v %+v", err, ch)
	}
	if !reflect.DeepEqual(kept, want.Choices[0]) || !reflect.DeepEqual(usage, want.Usage) {
		t.Errorf("kept parts changed:\n got %+v %+v\nwant %+v %+v", kept, usage, want.Choices[0], want.Usage)
	}
}

// TestDecodeReusesChoices: a stream decoded into one chunk allocates no
// choices after the first.
func TestDecodeReusesChoices(t *testing.T) {
	data := []byte(fastCases[0])
	var d Decoder
	var ch wire.ChatCompletionChunk
	if err := d.Decode(data, &ch); err != nil {
		t.Fatal(err)
	}
	p := &ch.Choices[:1][0]
	if err := d.Decode(data, &ch); err != nil || &ch.Choices[0] != p {
		t.Fatalf("choices not reused: %v", err)
	}
	// A chunk that falls back keeps the array too.
	if err := d.Decode([]byte(`{"choices":[{"Index":1}]}`), &ch); err != nil || &ch.Choices[0] != p || ch.Choices[0].Index != 1 {
		t.Fatalf("fallback: choices not reused: %v %+v", err, ch)
	}
}

// TestExactFloat compares exactFloat with strconv.ParseFloat, bit for
// bit, on numbers of every shape it takes or declines.
func TestExactFloat(t *testing.T) {
	nums := []string{"0", "-0", "0.0", "-0.0", "1", "-0.25", "-2.5", "1E+2", "-1e-2", "2.5e-3", "0.000001", "-0.000001",
		"123456789012345", "1234567890123456", "0.1234567890123456", "9007199254740993", "1e22", "1e23", "1e-22", "1e-23",
		"-9999.5", "1.2345678901234567e-05", "100e-24", "0.0000000000000000000000001", "5e-324", "1e308", "1.7976931348623157e308", "0e400"}
	rng := rand.New(rand.NewPCG(9, 9))
	for range 20000 {
		var sb strings.Builder
		if rng.IntN(2) == 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(strconv.Itoa(rng.IntN(1000)))
		if rng.IntN(3) > 0 {
			sb.WriteString("." + strings.Repeat("0", rng.IntN(4)) + strconv.FormatUint(rng.Uint64N(1<<uint(rng.IntN(55))), 10))
		}
		if rng.IntN(3) == 0 {
			sb.WriteString(fmt.Sprintf("e%+d", rng.IntN(60)-30))
		}
		nums = append(nums, sb.String())
	}
	for _, x := range []float64{-0.25, -1.2345678e-5, -3.0517578125e-05, -20.723265, -1e-10} {
		nums = append(nums, strconv.FormatFloat(x, 'g', -1, 64), strconv.FormatFloat(x, 'f', -1, 64))
	}
	exact := 0
	for _, n := range nums {
		want, err := strconv.ParseFloat(n, 64)
		got, ok := exactFloat([]byte(n))
		if !ok {
			continue
		}
		exact++
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("%s: %v (%x), strconv %v (%x) %v", n, got, math.Float64bits(got), want, math.Float64bits(want), err)
		}
	}
	if exact < len(nums)/2 {
		t.Errorf("only %d of %d numbers converted", exact, len(nums))
	}
}

// TestDecodeUnknown: with KeepUnknown, the members of the chunk, of its
// choices and of their deltas that no field holds are noted with the
// position of their choice, in order; members elsewhere (logprobs') are
// not.
// A chunk json.Unmarshal reads notes nothing and says so.
func TestDecodeUnknown(t *testing.T) {
	d := Decoder{KeepUnknown: true}
	var ch wire.ChatCompletionChunk
	data := []byte(`{"id":"c","error":null,"choices":[` +
		`{"index":1,"delta":{"reasoning_content":"Think.","content":"a","annotations": [1, 2]},"stop_reason":null},` +
		`{"delta":{"x":{"y":[true]}},"index":0,"logprobs":{"content":[],"z":1}}],"obfuscation":"Zx"}`)
	if err := d.Decode(data, &ch); err != nil {
		t.Fatal(err)
	}
	got, ok := d.Unknown()
	var s []string
	for _, m := range got {
		where := ""
		if m.Delta {
			where = "delta "
		}
		s = append(s, fmt.Sprintf("%d %s%s=%s", m.Choice, where, m.Name, m.Value))
	}
	want := []string{"-1 error=null", `0 delta reasoning_content="Think."`, "0 delta annotations=[1, 2]",
		"0 stop_reason=null", `1 delta x={"y":[true]}`, `-1 obfuscation="Zx"`}
	if !ok || !reflect.DeepEqual(s, want) {
		t.Errorf("Unknown() = %q, %v; want %q", s, ok, want)
	}
	if err := d.Decode([]byte(`{"id":"c","Model":"m","choices":[{"index":0,"delta":{"reasoning":"r"}}]}`), &ch); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.Unknown(); ok || len(got) != 0 {
		t.Errorf("after json.Unmarshal: Unknown() = %v, %v; want none, false", got, ok)
	}
	d.KeepUnknown = false
	if err := d.Decode(data, &ch); err != nil {
		t.Fatal(err)
	}
	if got, ok := d.Unknown(); !ok || len(got) != 0 {
		t.Errorf("without KeepUnknown: Unknown() = %v, %v; want none, true", got, ok)
	}
}
