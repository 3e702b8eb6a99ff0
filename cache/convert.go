package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/llmgate/llmgate/internal/chunkjson"
	"github.com/llmgate/llmgate/internal/jsonscan"
	"github.com/llmgate/llmgate/wire"
)

// JSON returns the entry as the body of a non-streamed response: the
// stored body itself, or the recorded stream merged into one completion
// (chat.completion or text_completion) with the content of each choice
// concatenated, tool calls merged by index (arguments concatenated),
// logprobs joined, the last finish_reason and the usage. The merged body
// is made once per entry and then kept with it.
//
// The returned slice is shared with the entry; do not modify it.
func (e *Entry) JSON() ([]byte, error) {
	if !e.Stream {
		return e.Body, nil
	}
	m := memoize(e, &e.memoJSON, func() (*memoBody, int) {
		b, err := e.mergeJSON()
		return &memoBody{b: b, err: err}, 48 + len(b)
	})
	return m.b, m.err
}

// memoize returns the conversion *p of e, making it with conv (which
// also says what keeping it adds to e) when there is none, and keeping it
// when e's store lets it (Entry.grew): too big to keep, it is made again
// for the next request.
func memoize[T any](e *Entry, p *atomic.Pointer[T], conv func() (*T, int)) *T {
	if m := p.Load(); m != nil {
		return m
	}
	m, size := conv()
	if !p.CompareAndSwap(nil, m) {
		if kept := p.Load(); kept != nil { // made at the same time by another hit
			return kept
		}
		return m // that one was not kept either
	}
	if !e.grew(size) {
		p.CompareAndSwap(m, nil)
	}
	return m
}

// mergeJSON merges a recorded stream into the body of a non-streamed
// response.
func (e *Entry) mergeJSON() ([]byte, error) {
	var (
		v      any
		usage  **wire.Usage
		extras extraSet
		field  string // where a choice's text is
	)
	switch e.Kind {
	case KindCompletion:
		c, x, err := mergeCompletionEvents(e.Events)
		if err != nil {
			return nil, err
		}
		v, usage, extras = c, &c.Usage, x
	default:
		c, x, err := mergeChatEvents(e.Events)
		if err != nil {
			return nil, err
		}
		v, usage, extras, field = c, &c.Usage, x, "message"
	}
	var raw []byte
	if *usage == nil {
		*usage = e.Usage
	} else {
		raw = e.streamRawUsage(*usage)
	}
	b, err := marshal(v)
	if err != nil {
		return nil, err
	}
	// The upstream's usage goes in before the extras, which may hold a
	// member named usage of their own (Groq's x_groq does).
	b = withRawUsage(b, raw)
	if extras.empty() {
		return b, nil
	}
	return splice(b, extras.top, extras.choices, field)
}

// StreamEvents returns the entry as the data of the events of a streamed
// response, [DONE] excluded. A recorded stream is returned with its
// original chunk boundaries; its usage chunk is dropped when includeUsage
// is false, and one is added from Usage when includeUsage is true and the
// stream had none. A stored body becomes the chunks a stream of the same
// answer would have held: per choice a role chunk, content (one chunk per
// token when logprobs were asked for, else one), refusal, tool call and
// finish chunks, then the usage chunk when includeUsage.
//
// Conversions are made once per entry and includeUsage and then kept with
// it. The returned slice may share memory with the entry; do not modify it.
func (e *Entry) StreamEvents(includeUsage bool) ([][]byte, error) {
	if e.Stream && (!includeUsage || e.StreamUsage || e.Usage == nil || len(e.Events) == 0) {
		return e.streamEvents(includeUsage) // a slice of Events: nothing to keep
	}
	i := 0
	if includeUsage {
		i = 1
	}
	m := memoize(e, &e.memoEvents[i], func() (*memoStream, int) {
		events, err := e.streamEvents(includeUsage)
		return &memoStream{events: events, err: err}, e.memoSize(events)
	})
	return m.events, m.err
}

func (e *Entry) streamEvents(includeUsage bool) ([][]byte, error) {
	if !e.Stream {
		var (
			events [][]byte
			extras extraSet
			err    error
		)
		switch e.Kind {
		case KindCompletion:
			var c wire.Completion
			if err := json.Unmarshal(e.Body, &c); err != nil {
				return nil, fmt.Errorf("cache: stored body: %w", err)
			}
			if c.Usage == nil {
				c.Usage = e.Usage // counted by the tap when the body had none
			}
			if err := unknownMembers(e.Body, textShape, extras.add); err != nil {
				return nil, fmt.Errorf("cache: stored body: %w", err)
			}
			events, err = completionEvents(&c, includeUsage, extras)
		default:
			var c wire.ChatCompletion
			if err := json.Unmarshal(e.Body, &c); err != nil {
				return nil, fmt.Errorf("cache: stored body: %w", err)
			}
			if c.Usage == nil {
				c.Usage = e.Usage
			}
			if extras, err = bodyExtras(e.Body); err != nil {
				return nil, fmt.Errorf("cache: stored body: %w", err)
			}
			events, err = chatEvents(&c, includeUsage, extras)
		}
		if err != nil {
			return nil, err
		}
		events = e.bodyUsage(events, includeUsage)
		// The response's own members go in the first chunk, where the
		// stream says what it is, once the usage is in place: they may
		// hold a member named usage of their own.
		return events, spliceFirst(events, extras.top)
	}
	events := e.Events
	switch {
	case !includeUsage && e.StreamUsage:
		return events[:len(events)-1], nil
	case includeUsage && !e.StreamUsage && e.Usage != nil && len(events) > 0:
		var head struct {
			ID                string `json:"id"`
			Created           int64  `json:"created"`
			Model             string `json:"model"`
			SystemFingerprint string `json:"system_fingerprint"`
		}
		if err := json.Unmarshal(events[0], &head); err != nil {
			return nil, fmt.Errorf("cache: stored event: %w", err)
		}
		var u any
		if e.Kind == KindCompletion {
			u = wire.Completion{ID: head.ID, Object: wire.ObjectTextCompletion, Created: head.Created,
				Model: head.Model, SystemFingerprint: head.SystemFingerprint, Choices: []wire.CompletionChoice{}, Usage: e.Usage}
		} else {
			u = wire.ChatCompletionChunk{ID: head.ID, Object: wire.ObjectChatCompletionChunk, Created: head.Created,
				Model: head.Model, SystemFingerprint: head.SystemFingerprint, Choices: []wire.ChunkChoice{}, Usage: e.Usage}
		}
		b, err := marshal(u)
		if err != nil {
			return nil, err
		}
		return append(events[:len(events):len(events)], b), nil
	}
	return events, nil
}

// bodyUsage returns the events converted from the stored body with the
// usage chunk, last when includeUsage, carrying the body's usage as it
// came.
func (e *Entry) bodyUsage(events [][]byte, includeUsage bool) [][]byte {
	if !includeUsage || len(events) == 0 {
		return events
	}
	if raw := rawUsage(e.Body); raw != nil {
		events[len(events)-1] = withRawUsage(events[len(events)-1], raw)
	}
	return events
}

// marshal is json.Marshal without HTML escaping, as OpenAI encodes.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("cache: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// chatState accumulates one choice of a chat stream.
type chatState struct {
	index    int
	role     string
	content  strings.Builder
	refusal  strings.Builder
	calls    []wire.ToolCall
	args     []*strings.Builder
	inputs   map[int]*strings.Builder // custom tool calls' input, by position in calls
	fn       *wire.FunctionCall
	finish   wire.FinishReason
	logprobs *wire.ChatLogprobs
}

// mergeChatEvents merges the chunks of a chat stream into the completion
// a non-streamed request would have received, and the members of its
// deltas that the wire types do not hold into extras. The chunks are read
// with a chunkjson.Decoder, which gives what json.Unmarshal gives; strings
// of the result other than its ID, Model, SystemFingerprint and
// ServiceTier may point into events, which must not change while the
// result is used. An event that carries an error is refused.
func mergeChatEvents(events [][]byte) (*wire.ChatCompletion, extraSet, error) {
	out := &wire.ChatCompletion{Object: wire.ObjectChatCompletion}
	var states []*chatState
	state := func(i int) *chatState {
		for _, s := range states {
			if s.index == i {
				return s
			}
		}
		s := &chatState{index: i}
		states = append(states, s)
		return s
	}
	dec := chunkjson.Decoder{Alias: true, KeepUnknown: true} // an Entry never modifies its events
	var ch wire.ChatCompletionChunk
	var extras extraSet
	for n, data := range events {
		if err := dec.Decode(data, &ch); err != nil {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		if ch.Object != "" && ch.Object != wire.ObjectChatCompletionChunk {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: object %q", n, ch.Object)
		}
		if err := extras.chunk(&dec, data, ch.Choices); err != nil {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		setOnce(&out.ID, ch.ID)
		setOnce(&out.Model, ch.Model)
		setOnce(&out.SystemFingerprint, ch.SystemFingerprint)
		setOnce(&out.ServiceTier, ch.ServiceTier)
		if out.Created == 0 {
			out.Created = ch.Created
		}
		if ch.Usage != nil {
			out.Usage = ch.Usage
		}
		for _, c := range ch.Choices {
			s := state(c.Index)
			d := c.Delta
			setOnce(&s.role, d.Role)
			s.content.WriteString(d.Content)
			s.refusal.WriteString(d.Refusal)
			for _, tc := range d.ToolCalls {
				s.addToolCall(tc)
			}
			if d.FunctionCall != nil {
				if s.fn == nil {
					s.fn = &wire.FunctionCall{}
				}
				setOnce(&s.fn.Name, d.FunctionCall.Name)
				s.fn.Arguments += d.FunctionCall.Arguments
			}
			if c.FinishReason != "" {
				s.finish = c.FinishReason
			}
			if c.Logprobs != nil {
				if s.logprobs == nil {
					s.logprobs = &wire.ChatLogprobs{Content: []wire.TokenLogprob{}}
				}
				s.logprobs.Content = append(s.logprobs.Content, c.Logprobs.Content...)
				s.logprobs.Refusal = append(s.logprobs.Refusal, c.Logprobs.Refusal...)
			}
		}
	}
	slices.SortFunc(states, func(a, b *chatState) int { return a.index - b.index })
	out.Choices = make([]wire.ChatChoice, len(states))
	for i, s := range states {
		m := wire.Message{Role: s.role, Refusal: s.refusal.String(), FunctionCall: s.fn}
		if m.Role == "" {
			m.Role = wire.RoleAssistant
		}
		for j := range s.calls {
			s.finishCall(j)
		}
		finishToolCalls(s.calls)
		m.ToolCalls = s.calls
		if text := s.content.String(); text != "" || (len(s.calls) == 0 && s.fn == nil && m.Refusal == "") {
			m.Content = wire.TextContent(text)
		}
		out.Choices[i] = wire.ChatChoice{Index: s.index, Message: m, FinishReason: s.finish, Logprobs: s.logprobs}
	}
	return out, extras, nil
}

// addToolCall merges one tool call fragment: by its index, or, when a
// provider omits the index, as a new call when it carries an id and as a
// continuation of the last call otherwise.
func (s *chatState) addToolCall(tc wire.ToolCall) {
	i := len(s.calls) - 1
	if tc.Index != nil {
		i = -1
		for j, c := range s.calls {
			if *c.Index == *tc.Index {
				i = j
			}
		}
	} else if tc.ID != "" {
		i = -1
	}
	if i < 0 {
		idx := len(s.calls)
		if tc.Index != nil {
			idx = *tc.Index
		}
		s.calls = append(s.calls, wire.ToolCall{Index: &idx})
		s.args = append(s.args, new(strings.Builder))
		i = len(s.calls) - 1
	}
	c := &s.calls[i]
	setOnce(&c.ID, tc.ID)
	setOnce(&c.Type, tc.Type)
	setOnce(&c.Function.Name, tc.Function.Name)
	s.args[i].WriteString(tc.Function.Arguments)
	if tc.Custom != nil {
		if c.Custom == nil {
			c.Custom = &wire.CustomCall{}
		}
		setOnce(&c.Custom.Name, tc.Custom.Name)
		if s.inputs == nil {
			s.inputs = map[int]*strings.Builder{}
		}
		if s.inputs[i] == nil {
			s.inputs[i] = new(strings.Builder)
		}
		s.inputs[i].WriteString(tc.Custom.Input)
	}
}

// finishCall sets the merged arguments (and custom input) of the j-th
// call, and its type when no chunk said it.
func (s *chatState) finishCall(j int) {
	c := &s.calls[j]
	c.Function.Arguments = s.args[j].String()
	if b := s.inputs[j]; b != nil {
		c.Custom.Input = b.String()
	}
	if c.Type == "" {
		c.Type = wire.ToolFunction
		if c.Custom != nil {
			c.Type = wire.ToolCustom
		}
	}
}

// finishToolCalls sorts merged calls by index and drops the index, which
// a non-streamed message does not carry.
func finishToolCalls(calls []wire.ToolCall) {
	slices.SortStableFunc(calls, func(a, b wire.ToolCall) int { return *a.Index - *b.Index })
	for i := range calls {
		calls[i].Index = nil
	}
}

// errChunkError refuses a stream event that carries an error, such as
// the {"error":…} event a server or the Budget layer sends when it stops
// a stream. An event with none of a chunk's usual members is stored: Azure
// OpenAI opens its streams with one that holds only its prompt filter
// results.
var errChunkError = errors.New("the event carries an error")

// chunkError returns errChunkError when the event data has a member named
// error (in any case, as encoding/json matches names) that is not null.
func chunkError(data []byte) error {
	_, err := eachMember(data, jsonscan.SkipWS(data, 0), 0, func(name, b []byte, i int) (int, error) {
		if bytes.EqualFold(name, []byte("error")) && !hasNull(b, i) {
			return 0, errChunkError
		}
		return -1, nil
	})
	return err
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// mergeCompletionEvents merges the chunks of a legacy completion stream,
// and the members of its chunks and choices that the wire types do not
// hold into extras.
func mergeCompletionEvents(events [][]byte) (*wire.Completion, extraSet, error) {
	out := &wire.Completion{Object: wire.ObjectTextCompletion}
	type compState struct {
		choice wire.CompletionChoice
		text   strings.Builder
	}
	var states []*compState
	var extras extraSet
	for n, data := range events {
		var ch wire.Completion
		if err := json.Unmarshal(data, &ch); err != nil {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		if ch.Object != "" && ch.Object != wire.ObjectTextCompletion {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: object %q", n, ch.Object)
		}
		if err := chunkError(data); err != nil {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		if err := unknownMembers(data, textShape, extras.add); err != nil {
			return nil, extraSet{}, fmt.Errorf("cache: stream event %d: %w", n, err)
		}
		setOnce(&out.ID, ch.ID)
		setOnce(&out.Model, ch.Model)
		setOnce(&out.SystemFingerprint, ch.SystemFingerprint)
		if out.Created == 0 {
			out.Created = ch.Created
		}
		if ch.Usage != nil {
			out.Usage = ch.Usage
		}
		for _, c := range ch.Choices {
			var s *compState
			for _, t := range states {
				if t.choice.Index == c.Index {
					s = t
				}
			}
			if s == nil {
				s = &compState{choice: wire.CompletionChoice{Index: c.Index}}
				states = append(states, s)
			}
			s.text.WriteString(c.Text)
			if c.FinishReason != "" {
				s.choice.FinishReason = c.FinishReason
			}
			if lp := c.Logprobs; lp != nil {
				if s.choice.Logprobs == nil {
					s.choice.Logprobs = &wire.CompletionLogprobs{}
				}
				dst := s.choice.Logprobs
				dst.Tokens = append(dst.Tokens, lp.Tokens...)
				dst.TokenLogprobs = append(dst.TokenLogprobs, lp.TokenLogprobs...)
				dst.TopLogprobs = append(dst.TopLogprobs, lp.TopLogprobs...)
				dst.TextOffset = append(dst.TextOffset, lp.TextOffset...)
			}
		}
	}
	slices.SortFunc(states, func(a, b *compState) int { return a.choice.Index - b.choice.Index })
	out.Choices = make([]wire.CompletionChoice, len(states))
	for i, s := range states {
		out.Choices[i] = s.choice
		out.Choices[i].Text = s.text.String()
	}
	return out, extras, nil
}
