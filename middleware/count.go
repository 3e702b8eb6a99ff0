package middleware

import (
	"encoding/json"
	"math"
	"net/http"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// CountConfig configures Count. The zero value is ready to use.
type CountConfig struct {
	// Catalog resolves model names, aliases and pinned versions, and knows
	// context windows and output caps. Default: models.Builtin().
	Catalog *models.Catalog
	// DefaultMaxTokens is the completion budget per choice reserved for a
	// request that sets no max_tokens, for a model whose output cap the
	// catalog does not know. Default: 4096.
	DefaultMaxTokens int
	// Chat tunes the chat formula (image sizes). Default: nil.
	Chat *tokens.ChatOptions
}

// Count resolves the model of a chat, completions or embeddings request
// through the catalog (rewriting the body's model when an alias or a
// pinned version applies), counts its prompt tokens exactly as OpenAI
// bills them, works out the most completion tokens it can produce, and
// puts all of it on the Call.
// A prompt longer than the model's context window, or a max_tokens beyond
// what the model can produce, is refused with a 400 envelope as OpenAI does.
// Deprecated models get the catalog's deprecation headers.
//
// After the response, Count sets Call.Usage: the usage the handler
// reported, or — when it reported none — the completion tokens counted from
// the body or the streamed deltas: per choice, the content, the refusal,
// the tool and function calls, and the reasoning text that vLLM,
// llama.cpp, DeepSeek and Ollama send as reasoning_content or reasoning
// (string values only; when a delta or message holds both with the same
// text, it counts once). Place Count after Decode; requests of other
// endpoints pass through untouched.
//
// An embeddings request is counted too: its input with the model's
// encoding (token-id inputs by their length; without input, estimated from
// the body's size), no completion
// (MaxCompletionTokens 0); an input longer than the context window is
// refused (400 context_length_exceeded, param input[i]), as each input is
// embedded on its own; without usage in the answer its usage is the
// counted prompt.
func Count(cfg CountConfig) Middleware {
	if cfg.Catalog == nil {
		cfg.Catalog = models.Builtin()
	}
	if cfg.DefaultMaxTokens <= 0 {
		cfg.DefaultMaxTokens = 4096
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := CallFrom(r.Context())
			if c == nil || (c.Chat == nil && c.Completion == nil && c.Embedding == nil) {
				next.ServeHTTP(w, r)
				return
			}
			if e := cfg.count(c, r); e != nil {
				wire.WriteError(w, e)
				return
			}
			for _, h := range c.ModelInfo.DeprecationHeaders() {
				w.Header().Set(h.Name, h.Value)
			}
			c.Observe(usageObserver(c))
			next.ServeHTTP(w, r)
		})
	}
}

func (cfg *CountConfig) count(c *Call, r *http.Request) *wire.Error {
	m, _ := cfg.Catalog.Resolve(c.Model)
	if m.Name != "" && m.Name != c.Model {
		if err := c.SetField(r, "model", m.Name); err != nil {
			return wire.ServerError(c.RequestID)
		}
		c.RequestedModel, c.Model = c.Model, m.Name
		c.setRequestModel(m.Name)
	}
	c.ModelInfo = m
	enc, err := tokens.Get(m.Encoding)
	if err != nil {
		if enc, err = tokens.ForModel(c.Model); err != nil {
			return wire.ServerError(c.RequestID)
		}
	}
	c.Encoding = enc
	if c.Embedding != nil {
		if i, n := countEmbedding(c); m.ContextWindow > 0 && n > m.ContextWindow {
			return embeddingTooLong(c, i, n, m.ContextWindow)
		}
		return nil
	}

	// longest is the prompt that must fit the context window: the whole
	// chat, or the longest prompt of a batch of legacy prompts, each a
	// completion of its own.
	var requested, outputs, longest int
	param, input := "max_tokens", "messages"
	if c.Chat != nil {
		c.PromptTokens = tokens.CountChat(enc, c.Chat, cfg.Chat)
		longest = c.PromptTokens
		requested, outputs = c.Chat.MaxOutputTokens(), c.Chat.Choices()
		if c.Chat.MaxCompletionTokens != nil {
			param = "max_completion_tokens"
		}
	} else {
		c.PromptTokens, longest = tokens.CountPrompts(enc, c.Completion)
		input = "prompt"
		requested, outputs = derefInt(c.Completion.MaxTokens), c.Completion.Choices()
		if bo := derefInt(c.Completion.BestOf); bo > outputs {
			outputs = bo
		}
		if p := len(c.Completion.Prompt.Texts) + len(c.Completion.Prompt.Tokens); p > 1 {
			outputs = mulTokens(outputs, p)
		}
	}

	window, room := m.ContextWindow, 0
	if window > 0 {
		room = window - longest
		if room <= 0 {
			return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, "context_length_exceeded", input,
				"This model's maximum context length is %d tokens. However, your %s resulted in %d tokens. Please reduce the length of the %s.",
				window, input, longest, input)
		}
	}
	perChoice := requested
	switch {
	case requested > 0 && m.MaxOutput > 0 && requested > m.MaxOutput:
		return wire.InvalidParam(param, "%s is too large: %d. This model supports at most %d completion tokens, whereas you provided %d.",
			param, requested, m.MaxOutput, requested)
	case requested > 0 && window > 0 && requested > room:
		return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, "context_length_exceeded", input,
			"This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the %s, %d in the completion). Please reduce the length of the %s or completion.",
			window, longest+requested, longest, input, requested, input)
	case c.Completion != nil && c.Completion.MaxTokens != nil:
		// as given, 0 included: the prompt only (echo with logprobs
		// scores a prompt so)
	case requested == 0 && m.MaxOutput > 0:
		perChoice = m.MaxOutput
	case requested == 0:
		perChoice = cfg.DefaultMaxTokens
	}
	if window > 0 && perChoice > room {
		perChoice = room
	}
	c.MaxCompletionTokens = mulTokens(perChoice, outputs)
	return nil
}

// mulTokens is a*b for counts of tokens (a, b ≥ 0), saturated at the
// largest int rather than wrapped to a negative count that would reserve
// nothing.
func mulTokens(a, b int) int {
	if a > 0 && b > math.MaxInt/a {
		return math.MaxInt
	}
	return a * b
}

// addTokens is a+b for counts of tokens (a, b ≥ 0), saturated as mulTokens.
func addTokens(a, b int) int {
	if b > 0 && a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// usageObserver sets c.Usage when the response ends, counting the
// completion when the handler reported no usage. It counts a stream's
// deltas in c.tally, which Budget reads instead of counting them again.
func usageObserver(c *Call) Observer {
	c.tallyBuf = streamTally{enc: c.Encoding}
	t := &c.tallyBuf
	c.tally = t
	return Observer{
		OnChunk: t.add,
		OnEnd: func(res *Response) {
			if res.Usage != nil {
				c.Usage = res.Usage
				return
			}
			if res.Status < 200 || res.Status > 299 {
				return
			}
			completion := 0
			switch {
			case t.counted():
				completion = t.completion()
			case !res.Stream:
				completion = countBody(c, res.Body)
			}
			c.Usage = &wire.Usage{PromptTokens: c.PromptTokens, CompletionTokens: completion,
				TotalTokens: c.PromptTokens + completion}
			c.UsageCounted = true
		},
	}
}

// streamTally counts the completion tokens of a streamed response from its
// chunks, once per call: Count feeds it and Budget reads it.
type streamTally struct {
	enc   *tokens.Encoding
	chat  *tokens.ChatStreamCounter
	texts map[int]*tokens.StreamCounter
	// bound is an upper bound of completion(), kept without tokenising
	// (tokens.MaxTokens of every delta's texts, reasoning included, plus
	// the per-call overhead for every tool call fragment).
	bound int
	last  int // the seq of the last chunk counted
}

// add counts the deltas of a chat or completions chunk once, however many
// layers pass it; other chunks are ignored.
func (t *streamTally) add(ch *Chunk) {
	if ch.seq != 0 {
		if ch.seq == t.last {
			return
		}
		t.last = ch.seq
	}
	switch {
	case ch.Chat != nil:
		if t.chat == nil {
			t.chat = t.enc.NewChatStreamCounter()
		}
		t.chat.Add(ch.Chat)
		t.bound += tokens.MaxChunkTokens(ch.Chat)
		t.addReasoning(ch)
	case ch.Completion != nil:
		if t.texts == nil {
			t.texts = map[int]*tokens.StreamCounter{}
		}
		for _, choice := range ch.Completion.Choices {
			sc := t.texts[choice.Index]
			if sc == nil {
				sc = t.enc.NewStreamCounter()
				t.texts[choice.Index] = sc
			}
			sc.WriteString(choice.Text)
			t.bound += tokens.MaxTokens(choice.Text)
		}
	}
}

// counted reports whether any chunk was counted.
func (t *streamTally) counted() bool { return t.chat != nil || t.texts != nil }

// completion returns the completion tokens counted so far.
func (t *streamTally) completion() int {
	n := 0
	if t.chat != nil {
		n = t.chat.CompletionTokens()
	}
	for _, sc := range t.texts {
		n += sc.Count()
	}
	return n
}

// countBody counts the completion tokens of a non-streamed response body.
func countBody(c *Call, body []byte) int {
	if c.Embedding != nil {
		return 0 // an embedding has no completion; its vectors are not read
	}
	if c.Chat != nil {
		var resp wire.ChatCompletion
		if json.Unmarshal(body, &resp) != nil {
			return 0
		}
		counter := c.Encoding.NewChatStreamCounter()
		for i := range resp.Choices {
			m := &resp.Choices[i].Message
			counter.Add(&wire.ChatCompletionChunk{Choices: []wire.ChunkChoice{{
				Index: resp.Choices[i].Index,
				Delta: wire.Delta{Content: m.Content.String(), Refusal: m.Refusal, ToolCalls: m.ToolCalls, FunctionCall: m.FunctionCall},
			}}})
		}
		countBodyReasoning(counter, body, &resp)
		return counter.CompletionTokens()
	}
	var resp wire.Completion
	if json.Unmarshal(body, &resp) != nil {
		return 0
	}
	n := 0
	for _, ch := range resp.Choices {
		n += c.Encoding.Count(ch.Text)
	}
	return n
}
