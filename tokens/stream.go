package tokens

import (
	"sync"
	"unicode/utf8"

	"github.com/llmgate/llmgate/wire"
)

const (
	// streamFlush is the buffered size at which a StreamCounter counts
	// the settled part of its buffer.
	streamFlush = 512
	// streamHold is how many trailing pieces stay buffered: appending text
	// can change at most the last two pieces of the split (a whitespace
	// run or an o200k upper-case run split before the end, or a
	// contraction that completes), and one more is kept for margin.
	streamHold = 3
)

// StreamCounter counts the tokens of text that arrives in pieces (stream
// deltas). BPE is not additive across chunk boundaries, so it buffers the
// end of the text whose split is not settled yet; [StreamCounter.Count]
// always equals Count of everything written, and memory stays bounded by
// a few pieces. The zero value is not usable: get one from
// [Encoding.NewStreamCounter]. Safe for concurrent use.
type StreamCounter struct {
	enc       *Encoding
	mu        sync.Mutex
	buf       []byte
	committed int
}

// NewStreamCounter returns a counter for text streamed in deltas.
func (e *Encoding) NewStreamCounter() *StreamCounter {
	return &StreamCounter{enc: e}
}

// WriteString appends a delta.
func (s *StreamCounter) WriteString(delta string) {
	s.mu.Lock()
	s.buf = append(s.buf, delta...)
	if len(s.buf) >= streamFlush {
		s.settle()
	}
	s.mu.Unlock()
}

// Write appends a delta; it never fails. It makes a StreamCounter an
// io.Writer.
func (s *StreamCounter) Write(p []byte) (int, error) {
	s.WriteString(string(p))
	return len(p), nil
}

// Count returns the tokens of all text written so far.
func (s *StreamCounter) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.committed + s.enc.Count(string(s.buf))
}

// settle counts the pieces of the buffer that later text cannot change
// and drops them.
func (s *StreamCounter) settle() {
	// Leave out a trailing rune that is not complete yet.
	p := len(s.buf)
	for k := 1; k <= utf8.UTFMax-1 && k <= p; k++ {
		if utf8.RuneStart(s.buf[p-k]) {
			if !utf8.FullRune(s.buf[p-k:]) {
				p -= k
			}
			break
		}
	}
	text := string(s.buf[:p])
	if !utf8.ValidString(text) {
		text = sanitize(text) // final: later bytes cannot make these valid
	}
	var ends [streamHold + 1]int
	pieces, done, n := 0, 0, 0
	for i := 0; i < len(text); {
		j := s.enc.split(text, i)
		ends[pieces%len(ends)] = j
		pieces++
		if pieces > streamHold {
			// The piece that ended streamHold pieces ago is settled.
			end := ends[(pieces-streamHold-1)%len(ends)]
			n += s.enc.countPiece(text[done:end])
			done = end
		}
		i = j
	}
	if done == 0 {
		return
	}
	s.committed += n
	rest := append([]byte(text[done:]), s.buf[p:]...)
	s.buf = append(s.buf[:0], rest...)
}

// ChatStreamCounter counts the completion tokens of a streamed chat
// completion from its chunks, for upstreams that send no usage: per
// choice, the tokens of the content and refusal deltas, of the reasoning
// text given to [ChatStreamCounter.AddReasoning], and for each tool call
// (or legacy function_call) tokens(name) + tokens(arguments) + 3 (the
// same estimate [CountChat] uses for tool calls in a prompt). Each of
// these texts is tokenised on its own, as it was generated. The zero
// value is not usable: get one from [Encoding.NewChatStreamCounter]. Safe
// for concurrent use.
type ChatStreamCounter struct {
	enc     *Encoding
	mu      sync.Mutex
	choices map[int]*choiceCounter
}

type choiceCounter struct {
	content, refusal *StreamCounter
	reasoning        *StreamCounter // nil until the choice has some
	tools            map[int]*toolCounter
}

type toolCounter struct {
	name string
	args *StreamCounter
}

// NewChatStreamCounter returns a counter for the chunks of one streamed
// chat completion.
func (e *Encoding) NewChatStreamCounter() *ChatStreamCounter {
	return &ChatStreamCounter{enc: e, choices: map[int]*choiceCounter{}}
}

// Add feeds one chunk. Tool-call fragments are matched to their call by
// index; the name arrives in the first fragment.
func (c *ChatStreamCounter) Add(chunk *wire.ChatCompletionChunk) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range chunk.Choices {
		ch := &chunk.Choices[i]
		cc := c.choice(ch.Index)
		d := &ch.Delta
		if d.Content != "" {
			cc.content.WriteString(d.Content)
		}
		if d.Refusal != "" {
			cc.refusal.WriteString(d.Refusal)
		}
		for k := range d.ToolCalls {
			tc := &d.ToolCalls[k]
			idx := k
			if tc.Index != nil {
				idx = *tc.Index
			}
			t := c.tool(cc, idx)
			t.add(tc.Function.Name, tc.Function.Arguments)
			if tc.Custom != nil {
				t.add(tc.Custom.Name, tc.Custom.Input)
			}
		}
		if d.FunctionCall != nil {
			c.tool(cc, -1).add(d.FunctionCall.Name, d.FunctionCall.Arguments)
		}
	}
}

// AddReasoning feeds a piece of the reasoning text of the choice with the
// given index: the reasoning_content or reasoning member of a delta, which
// vLLM, llama.cpp, DeepSeek and Ollama send and [wire.Delta] does not
// hold. The pieces of a choice are counted as one text, apart from its
// content; [MaxTokens](text) bounds what a piece adds to
// CompletionTokens.
func (c *ChatStreamCounter) AddReasoning(index int, text string) {
	if text == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cc := c.choice(index)
	if cc.reasoning == nil {
		cc.reasoning = c.enc.NewStreamCounter()
	}
	cc.reasoning.WriteString(text)
}

// choice returns the counter of the choice with the given index, made on
// first use.
func (c *ChatStreamCounter) choice(index int) *choiceCounter {
	cc := c.choices[index]
	if cc == nil {
		cc = &choiceCounter{content: c.enc.NewStreamCounter(), refusal: c.enc.NewStreamCounter(), tools: map[int]*toolCounter{}}
		c.choices[index] = cc
	}
	return cc
}

// MaxChunkTokens returns an upper bound of how much Add(chunk) can raise
// CompletionTokens, without tokenising (see MaxTokens): a caller that sums
// it over the chunks knows CompletionTokens never exceeds the sum. Text fed
// to AddReasoning is not in the chunk: add MaxTokens of it.
func MaxChunkTokens(chunk *wire.ChatCompletionChunk) int {
	n := 0
	for i := range chunk.Choices {
		d := &chunk.Choices[i].Delta
		n += MaxTokens(d.Content) + MaxTokens(d.Refusal)
		for k := range d.ToolCalls {
			tc := &d.ToolCalls[k]
			n += toolCallOverhead + MaxTokens(tc.Function.Name) + MaxTokens(tc.Function.Arguments)
			if c := tc.Custom; c != nil {
				n += MaxTokens(c.Name) + MaxTokens(c.Input)
			}
		}
		if f := d.FunctionCall; f != nil {
			n += toolCallOverhead + MaxTokens(f.Name) + MaxTokens(f.Arguments)
		}
	}
	return n
}

func (c *ChatStreamCounter) tool(cc *choiceCounter, idx int) *toolCounter {
	t := cc.tools[idx]
	if t == nil {
		t = &toolCounter{args: c.enc.NewStreamCounter()}
		cc.tools[idx] = t
	}
	return t
}

func (t *toolCounter) add(name, args string) {
	t.name += name
	if args != "" {
		t.args.WriteString(args)
	}
}

// CompletionTokens returns the completion tokens of all choices so far.
func (c *ChatStreamCounter) CompletionTokens() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cc := range c.choices {
		n += cc.content.Count() + cc.refusal.Count()
		if cc.reasoning != nil {
			n += cc.reasoning.Count()
		}
		for _, t := range cc.tools {
			n += toolCallOverhead + c.enc.Count(t.name) + t.args.Count()
		}
	}
	return n
}
