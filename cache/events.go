package cache

import (
	"bytes"
	"slices"

	"github.com/llmgate/llmgate/wire"
)

// chatEvents turns a chat completion into the chunks of the stream that
// would have carried it, with the members of its choices and messages
// that the wire types do not hold (extras; the response's own are the
// caller's to add).
func chatEvents(c *wire.ChatCompletion, includeUsage bool, extras extraSet) ([][]byte, error) {
	var events [][]byte
	emit := func(choices []wire.ChunkChoice, usage *wire.Usage) error {
		b, err := marshal(wire.ChatCompletionChunk{
			ID: c.ID, Object: wire.ObjectChatCompletionChunk, Created: c.Created, Model: c.Model,
			SystemFingerprint: c.SystemFingerprint, ServiceTier: c.ServiceTier, Choices: choices, Usage: usage,
		})
		if err == nil {
			events = append(events, b)
		}
		return err
	}
	one := func(ch wire.ChunkChoice) error { return emit([]wire.ChunkChoice{ch}, nil) }
	var done []int // the indices whose extras are out: a body may repeat an index
	for _, choice := range c.Choices {
		m := choice.Message
		idx := choice.Index
		x := extras
		if slices.Contains(done, idx) {
			x = extraSet{}
		}
		done = append(done, idx)
		role := m.Role
		if role == "" {
			role = wire.RoleAssistant
		}
		if err := one(wire.ChunkChoice{Index: idx, Delta: wire.Delta{Role: role}}); err != nil {
			return nil, err
		}
		if err := extraChunk(c, idx, x, &events); err != nil {
			return nil, err
		}
		var lpContent, lpRefusal []wire.TokenLogprob
		if choice.Logprobs != nil {
			lpContent, lpRefusal = choice.Logprobs.Content, choice.Logprobs.Refusal
		}
		if err := textChunks(m.Content.String(), lpContent, false, idx, one); err != nil {
			return nil, err
		}
		if err := textChunks(m.Refusal, lpRefusal, true, idx, one); err != nil {
			return nil, err
		}
		for i, tc := range m.ToolCalls {
			tc.Index = &i
			if tc.Type == "" {
				tc.Type = wire.ToolFunction
				if tc.Custom != nil {
					tc.Type = wire.ToolCustom
				}
			}
			if err := one(wire.ChunkChoice{Index: idx, Delta: wire.Delta{ToolCalls: []wire.ToolCall{tc}}}); err != nil {
				return nil, err
			}
		}
		if m.FunctionCall != nil {
			fc := *m.FunctionCall
			if err := one(wire.ChunkChoice{Index: idx, Delta: wire.Delta{FunctionCall: &fc}}); err != nil {
				return nil, err
			}
		}
		if err := one(wire.ChunkChoice{Index: idx, FinishReason: choice.FinishReason}); err != nil {
			return nil, err
		}
		if err := spliceLast(events, x.choices, idx); err != nil {
			return nil, err
		}
	}
	if includeUsage && c.Usage != nil {
		if err := emit([]wire.ChunkChoice{}, c.Usage); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// extraChunk appends, when the message of choice idx has extra members
// (reasoning_content, annotations, …), one chunk whose delta holds them
// all, as it comes before the content in the stream.
func extraChunk(c *wire.ChatCompletion, idx int, extras extraSet, events *[][]byte) error {
	for _, cx := range extras.choices {
		if cx.index != idx || len(cx.message) == 0 {
			continue
		}
		b, err := marshal(wire.ChatCompletionChunk{
			ID: c.ID, Object: wire.ObjectChatCompletionChunk, Created: c.Created, Model: c.Model,
			SystemFingerprint: c.SystemFingerprint, ServiceTier: c.ServiceTier, Choices: []wire.ChunkChoice{{Index: idx}},
		})
		if err != nil {
			return err
		}
		var members []byte
		for _, x := range cx.message {
			if members, err = x.appendJSON(members); err != nil {
				return err
			}
		}
		members[0] = '{' // for the first member's comma
		delta := append(append([]byte(`"delta":`), members...), '}')
		// The empty delta is the only place these bytes can be: in a
		// string a quote is escaped.
		*events = append(*events, bytes.Replace(b, []byte(`"delta":{}`), delta, 1))
	}
	return nil
}

// spliceFirst puts top, the members of the response object, in the first
// of events, where the stream says what it is.
func spliceFirst(events [][]byte, top []*extra) error {
	if len(events) == 0 || len(top) == 0 {
		return nil
	}
	b, err := splice(events[0], top, nil, "")
	if err == nil {
		events[0] = b
	}
	return err
}

// spliceLast puts the members of choice idx of choices, those of the
// choice itself, in the last of events, its finish chunk: vLLM sends its
// stop_reason beside the finish_reason.
func spliceLast(events [][]byte, choices []*choiceExtras, idx int) error {
	for _, cx := range choices {
		if cx.index != idx || len(cx.choice) == 0 {
			continue
		}
		last := len(events) - 1
		b, err := splice(events[last], nil, []*choiceExtras{{index: idx, choice: cx.choice}}, "")
		if err != nil {
			return err
		}
		events[last] = b
	}
	return nil
}

// textChunks emits text (content, or a refusal) as chunks: one per token
// with its log-probability when lps spells text exactly, else one chunk
// carrying all of lps.
func textChunks(text string, lps []wire.TokenLogprob, refusal bool, idx int, emit func(wire.ChunkChoice) error) error {
	if text == "" && len(lps) == 0 {
		return nil
	}
	delta := func(s string) wire.Delta {
		if refusal {
			return wire.Delta{Refusal: s}
		}
		return wire.Delta{Content: s}
	}
	logprobs := func(lp []wire.TokenLogprob) *wire.ChatLogprobs {
		if lp == nil {
			return nil
		}
		if refusal {
			return &wire.ChatLogprobs{Content: []wire.TokenLogprob{}, Refusal: lp}
		}
		return &wire.ChatLogprobs{Content: lp}
	}
	if spells(lps, text) {
		for i := range lps {
			if err := emit(wire.ChunkChoice{Index: idx, Delta: delta(lps[i].Token), Logprobs: logprobs(lps[i : i+1])}); err != nil {
				return err
			}
		}
		return nil
	}
	return emit(wire.ChunkChoice{Index: idx, Delta: delta(text), Logprobs: logprobs(lps)})
}

// spells reports whether the tokens of lps, concatenated, are text.
func spells(lps []wire.TokenLogprob, text string) bool {
	if len(lps) == 0 {
		return false
	}
	rest := text
	for _, lp := range lps {
		if len(lp.Token) > len(rest) || rest[:len(lp.Token)] != lp.Token {
			return false
		}
		rest = rest[len(lp.Token):]
	}
	return rest == ""
}

// completionEvents turns a legacy completion into the chunks of its
// stream: per choice a text chunk (with its logprobs) and a finish chunk
// (with the choice's members in extras), then the usage chunk when
// includeUsage.
func completionEvents(c *wire.Completion, includeUsage bool, extras extraSet) ([][]byte, error) {
	var events [][]byte
	emit := func(choices []wire.CompletionChoice, usage *wire.Usage) error {
		b, err := marshal(wire.Completion{
			ID: c.ID, Object: wire.ObjectTextCompletion, Created: c.Created, Model: c.Model,
			SystemFingerprint: c.SystemFingerprint, Choices: choices, Usage: usage,
		})
		if err == nil {
			events = append(events, b)
		}
		return err
	}
	var done []int // the indices whose extras are out: a body may repeat an index
	for _, ch := range c.Choices {
		if ch.Text != "" || ch.Logprobs != nil {
			if err := emit([]wire.CompletionChoice{{Index: ch.Index, Text: ch.Text, Logprobs: ch.Logprobs}}, nil); err != nil {
				return nil, err
			}
		}
		if err := emit([]wire.CompletionChoice{{Index: ch.Index, FinishReason: ch.FinishReason}}, nil); err != nil {
			return nil, err
		}
		if !slices.Contains(done, ch.Index) {
			if err := spliceLast(events, extras.choices, ch.Index); err != nil {
				return nil, err
			}
		}
		done = append(done, ch.Index)
	}
	if includeUsage && c.Usage != nil {
		if err := emit([]wire.CompletionChoice{}, c.Usage); err != nil {
			return nil, err
		}
	}
	return events, nil
}
