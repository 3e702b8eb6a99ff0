package chunkjson

import (
	"encoding/json"

	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// Decoder decodes chat stream chunks; see the package doc. It keeps the
// chunk-level strings (id, object, model, system_fingerprint,
// service_tier) of the last chunk, so that a stream, which repeats them,
// allocates them once, and a few buffers it reuses.
//
// The zero value is ready to use and gives strings that own their bytes.
// A Decoder is not safe for concurrent use.
type Decoder struct {
	// Alias makes each string of a decoded choice that holds no escape
	// point into the data given to Decode instead of into a copy, saving
	// that copy: set it only when the data is not modified while the
	// chunk's strings are in use. The chunk-level strings are copies
	// either way. Default: false.
	Alias bool
	// KeepUnknown makes Decode note the members of the chunk, of its
	// choices and of their deltas that no field of
	// wire.ChatCompletionChunk holds (an error beside the choices, vLLM's
	// stop_reason in a choice, reasoning_content in a delta), for
	// Unknown. Default: false.
	KeepUnknown bool

	unknowns   []Member
	unknownsOK bool
	pos        int // the position of the choice being read

	b   []byte // the chunk being read
	i   int    // the offset of the next byte to read in b
	bad bool   // the fast path gave up: json.Unmarshal decides
	ks  int    // the key of the member at hand is b[ks:ke]
	ke  int    // (offsets: storing a slice would cost a write barrier)

	own   []byte    // without Alias: the copy of b[ownAt:] that strings point into
	ownAt int       //
	last  [5]string // the chunk-level strings of the last chunk

	// Reused buffers that arrays are read into before they get a slice
	// of their exact length.
	tokens []wire.TokenLogprob
	tops   []wire.TopLogprob
	ints   []int
	// intSlab is where the bytes arrays of entries are copied to: a
	// free tail of a larger array, so that the several small arrays of a
	// chunk (and of the next chunks) cost one allocation. A part handed
	// out is never written again, whatever is decoded later.
	intSlab []int
}

// Key bits of the chunk object, for the set of keys seen.
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

// Decode decodes data into dst as json.Unmarshal(data, dst) does when dst
// is a zero chunk, and returns json.Unmarshal's error when it fails. It
// overwrites dst but keeps the backing array of dst.Choices (cleared) to
// hold the new choices, so that a stream decoded into one chunk allocates
// none; the previous chunk's choices are gone then. Everything else in
// dst is new or never written again: what a caller keeps of a chunk (its
// Usage, a Logprobs entry, a tool call, a string) stays valid after later
// calls, and, with Alias, as long as data is not modified. (The strings
// of a chunk share one copy of it, and the bytes of logprobs entries
// share 512-byte arrays: a part kept keeps those alive.)
func (d *Decoder) Decode(data []byte, dst *wire.ChatCompletionChunk) error {
	choices := dst.Choices[:cap(dst.Choices)]
	clear(choices)
	*dst = wire.ChatCompletionChunk{Choices: choices[:0]}
	d.unknowns = d.unknowns[:0]
	if d.unknownsOK = d.fast(data, dst); d.unknownsOK {
		return nil
	}
	d.unknowns = d.unknowns[:0]
	clear(choices)
	if c := dst.Choices; cap(c) > cap(choices) {
		choices = c[:cap(c)] // the fast path grew it: keep the larger array
		clear(choices)
	}
	*dst = wire.ChatCompletionChunk{Choices: choices[:0]}
	return json.Unmarshal(data, dst)
}

// Member is a member that no field of wire.ChatCompletionChunk holds.
type Member struct {
	// Choice is the position in Choices of the choice that holds the
	// member, or -1 for a member of the chunk itself.
	Choice int
	// Delta says that the member is in the choice's delta, not in the
	// choice itself.
	Delta bool
	// Name and Value are the member's name (without its quotes; it has
	// no escape) and JSON value, inside the data given to Decode.
	Name, Value []byte
}

// Unknown returns, with KeepUnknown, the unknown members of the chunk,
// of its choices and of their deltas that the last Decode noted, in
// order. ok is false
// when Decode left the chunk to json.Unmarshal, which notes nothing: the
// caller must then find them itself. The slice is reused by the next
// Decode.
func (d *Decoder) Unknown() (members []Member, ok bool) {
	return d.unknowns, d.unknownsOK
}

// extra passes over an unknown member, as unknown does, and with
// KeepUnknown notes it for the choice at position choice (-1: the chunk),
// in its delta when delta is set.
func (d *Decoder) extra(depth, choice int, delta bool) {
	start := d.i
	d.unknown(depth)
	if d.KeepUnknown && !d.bad {
		d.unknowns = append(d.unknowns, Member{Choice: choice, Delta: delta, Name: d.key(), Value: d.b[jsonscan.SkipWS(d.b, start):d.i]})
	}
}

// fast reads data into dst by hand and reports whether it could.
func (d *Decoder) fast(data []byte, dst *wire.ChatCompletionChunk) bool {
	d.b, d.i, d.bad, d.own = data, 0, false, nil
	d.chunk(dst)
	d.ws()
	ok := !d.bad && d.i == len(d.b)
	d.b, d.own = nil, nil
	return ok
}

func (d *Decoder) chunk(c *wire.ChatCompletionChunk) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "id":
			d.once(&seen, keyID)
			d.head(&c.ID, 0)
		case "object":
			d.once(&seen, keyObject)
			d.head(&c.Object, 1)
		case "created":
			d.once(&seen, keyCreated)
			d.int64(&c.Created)
		case "model":
			d.once(&seen, keyModel)
			d.head(&c.Model, 2)
		case "system_fingerprint":
			d.once(&seen, keyFingerprint)
			d.head(&c.SystemFingerprint, 3)
		case "service_tier":
			d.once(&seen, keyServiceTier)
			d.head(&c.ServiceTier, 4)
		case "choices":
			d.once(&seen, keyChoices)
			d.choices(c)
		case "usage":
			d.once(&seen, keyUsage)
			d.usage(&c.Usage)
		default:
			d.extra(1, -1, false)
		}
	}
}

// choices reads the choices into the backing array of c.Choices.
func (d *Decoder) choices(c *wire.ChatCompletionChunk) {
	if d.null() {
		c.Choices = nil
		return
	}
	if !d.enter('[') {
		return
	}
	cs := c.Choices[:0]
	for n := 0; d.elem(n); n++ {
		cs = append(cs, wire.ChunkChoice{})
		if !d.null() {
			d.pos = len(cs) - 1
			d.choice(&cs[len(cs)-1])
		}
	}
	if cs == nil {
		cs = []wire.ChunkChoice{} // [] is an empty slice, not nil
	}
	c.Choices = cs
}

func (d *Decoder) choice(ch *wire.ChunkChoice) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "index":
			d.once(&seen, 1)
			d.int(&ch.Index)
		case "delta":
			d.once(&seen, 2)
			if !d.null() {
				d.delta(&ch.Delta)
			}
		case "finish_reason":
			d.once(&seen, 4)
			s := string(ch.FinishReason)
			d.word(&s)
			ch.FinishReason = wire.FinishReason(s)
		case "logprobs":
			d.once(&seen, 8)
			d.logprobs(&ch.Logprobs)
		default:
			// vLLM's stop_reason and the like: no field of wire.ChunkChoice
			d.extra(3, d.pos, false)
		}
	}
}

func (d *Decoder) delta(dl *wire.Delta) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "role":
			d.once(&seen, 1)
			d.word(&dl.Role)
		case "content":
			d.once(&seen, 2)
			d.str(&dl.Content)
		case "refusal":
			d.once(&seen, 4)
			d.str(&dl.Refusal)
		case "tool_calls":
			d.once(&seen, 8)
			d.toolCalls(&dl.ToolCalls)
		case "function_call":
			d.once(&seen, 16)
			if d.null() {
				dl.FunctionCall = nil
				break
			}
			dl.FunctionCall = &wire.FunctionCall{}
			d.call("arguments", &dl.FunctionCall.Name, &dl.FunctionCall.Arguments, 5)
		default:
			// reasoning_content and the like: no field of wire.Delta
			d.extra(4, d.pos, true)
		}
	}
}

// toolCalls reads tool_calls, usually one call (or a piece of one) per
// chunk.
func (d *Decoder) toolCalls(dst *[]wire.ToolCall) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('[') {
		return
	}
	calls := []wire.ToolCall{}
	for n := 0; d.elem(n); n++ {
		calls = append(calls, wire.ToolCall{})
		if !d.null() {
			d.toolCall(&calls[len(calls)-1])
		}
	}
	*dst = calls
}

func (d *Decoder) toolCall(tc *wire.ToolCall) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "index":
			d.once(&seen, 1)
			if d.null() {
				tc.Index = nil
				break
			}
			tc.Index = new(int)
			d.int(tc.Index)
		case "id":
			d.once(&seen, 2)
			d.str(&tc.ID)
		case "type":
			d.once(&seen, 4)
			d.word(&tc.Type)
		case "function":
			d.once(&seen, 8)
			if !d.null() {
				d.call("arguments", &tc.Function.Name, &tc.Function.Arguments, 7)
			}
		case "custom":
			d.once(&seen, 16)
			if d.null() {
				tc.Custom = nil
				break
			}
			tc.Custom = &wire.CustomCall{}
			d.call("input", &tc.Custom.Name, &tc.Custom.Input, 7)
		default:
			d.unknown(6)
		}
	}
}

// call reads a call object, depth containers deep: {name, <text>}, the
// text a function call's "arguments" or a custom tool call's "input".
func (d *Decoder) call(text string, name, val *string, depth int) {
	if !d.enter('{') {
		return
	}
	var seen uint
	for n := 0; d.member(n); n++ {
		switch k := string(d.key()); {
		case k == "name":
			d.once(&seen, 1)
			d.str(name)
		case k == text:
			d.once(&seen, 2)
			d.str(val)
		default:
			d.unknown(depth)
		}
	}
}

func (d *Decoder) usage(dst **wire.Usage) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('{') {
		return
	}
	u := &wire.Usage{}
	*dst = u
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "prompt_tokens":
			d.once(&seen, 1)
			d.int(&u.PromptTokens)
		case "completion_tokens":
			d.once(&seen, 2)
			d.int(&u.CompletionTokens)
		case "total_tokens":
			d.once(&seen, 4)
			d.int(&u.TotalTokens)
		case "prompt_tokens_details":
			d.once(&seen, 8)
			d.promptDetails(&u.PromptTokensDetails)
		case "completion_tokens_details":
			d.once(&seen, 16)
			d.completionDetails(&u.CompletionTokensDetails)
		default:
			d.unknown(2)
		}
	}
}

func (d *Decoder) promptDetails(dst **wire.PromptTokensDetails) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('{') {
		return
	}
	p := &wire.PromptTokensDetails{}
	*dst = p
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "cached_tokens":
			d.once(&seen, 1)
			d.int(&p.CachedTokens)
		case "audio_tokens":
			d.once(&seen, 2)
			d.int(&p.AudioTokens)
		default:
			d.unknown(3)
		}
	}
}

func (d *Decoder) completionDetails(dst **wire.CompletionTokensDetails) {
	if d.null() {
		*dst = nil
		return
	}
	if !d.enter('{') {
		return
	}
	c := &wire.CompletionTokensDetails{}
	*dst = c
	var seen uint
	for n := 0; d.member(n); n++ {
		switch string(d.key()) {
		case "reasoning_tokens":
			d.once(&seen, 1)
			d.int(&c.ReasoningTokens)
		case "audio_tokens":
			d.once(&seen, 2)
			d.int(&c.AudioTokens)
		case "accepted_prediction_tokens":
			d.once(&seen, 4)
			d.int(&c.AcceptedPredictionTokens)
		case "rejected_prediction_tokens":
			d.once(&seen, 8)
			d.int(&c.RejectedPredictionTokens)
		default:
			d.unknown(3)
		}
	}
}
