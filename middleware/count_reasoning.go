package middleware

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// Reasoning text. vLLM, llama.cpp and DeepSeek send a reasoning model's
// thinking as reasoning_content in a chat delta or message; newer vLLM and
// Ollama send reasoning. Both are generated and billed as completion
// tokens, so the fallback count includes them, per choice, apart from the
// content (see tokens.ChatStreamCounter.AddReasoning). Only string values
// count; a null or an object is ignored. A delta or message that carries
// both members counts both, except that when they hold the same text (a
// server that sends the new name beside the old one) it counts once.

// addReasoning counts the reasoning text of the deltas of ch, a decoded
// chat chunk, in t.chat and t.bound. It reads the members the tap's
// decoder noted; when the decoder left the chunk to json.Unmarshal, it
// decodes them from ch.Data.
func (t *streamTally) addReasoning(ch *Chunk) {
	if !ch.extrasOK {
		t.addReasoningData(ch)
		return
	}
	lastPos, lastText := -1, ""
	for _, m := range ch.extras { // usually none
		if m.Choice < 0 || !m.Delta || m.Choice >= len(ch.Chat.Choices) ||
			modMessageText(string(m.Name))&(modReasoningContentBit|modReasoningBit) == 0 {
			continue
		}
		text, ok := jsonString(m.Value)
		if !ok || text == "" || m.Choice == lastPos && text == lastText {
			continue
		}
		lastPos, lastText = m.Choice, text
		t.reasoning(ch.Chat.Choices[m.Choice].Index, text)
	}
}

// addReasoningData is addReasoning for a chunk that json.Unmarshal
// decoded.
func (t *streamTally) addReasoningData(ch *Chunk) {
	reasoningIn(ch.Data, len(ch.Chat.Choices), true, func(pos int, text string) {
		t.reasoning(ch.Chat.Choices[pos].Index, text)
	})
}

// reasoning counts text, reasoning text of the choice with the given
// index.
func (t *streamTally) reasoning(index int, text string) {
	t.chat.AddReasoning(index, text)
	t.bound += tokens.MaxTokens(text)
}

// countBodyReasoning feeds counter the reasoning text of the messages of
// resp, the chat completion that json.Unmarshal decoded from body.
func countBodyReasoning(counter *tokens.ChatStreamCounter, body []byte, resp *wire.ChatCompletion) {
	reasoningIn(body, len(resp.Choices), false, func(pos int, text string) {
		counter.AddReasoning(resp.Choices[pos].Index, text)
	})
}

// reasoningIn calls f with the position and each reasoning text (see
// eachReasoning) of the deltas (delta set) or the messages of the choices
// of data, a chunk or a body whose n choices were decoded already; it
// does nothing when data has no reasoning member or its choices do not
// line up with those.
func reasoningIn(data []byte, n int, delta bool, f func(pos int, text string)) {
	if !mayHoldReasoning(data) {
		return
	}
	var v reasoningChoices
	if json.Unmarshal(data, &v) != nil || len(v.Choices) != n {
		return
	}
	for pos, c := range v.Choices {
		members := c.Message
		if delta {
			members = c.Delta
		}
		eachReasoning(members, func(text string) { f(pos, text) })
	}
}

// reasoningChoices is what json.Unmarshal decodes the members of the
// deltas or messages of a chunk or a body into, to find reasoning text.
// Its choices are those of wire.ChatCompletionChunk and
// wire.ChatCompletion decoded from the same data, position for position.
type reasoningChoices struct {
	Choices []struct {
		Delta   map[string]json.RawMessage `json:"delta"`
		Message map[string]json.RawMessage `json:"message"`
	} `json:"choices"`
}

// eachReasoning calls f with the reasoning text of a delta or message:
// reasoning_content, then reasoning unless it is the same text.
func eachReasoning(members map[string]json.RawMessage, f func(text string)) {
	rc, _ := jsonString(members["reasoning_content"])
	if rc != "" {
		f(rc)
	}
	if r, _ := jsonString(members["reasoning"]); r != "" && r != rc {
		f(r)
	}
}

// mayHoldReasoning reports whether the JSON data may have a reasoning
// member: it has a string starting with reasoning, or an escape that may
// spell the name. (The quote makes the search cheap: it is rare in JSON
// beside the letters of the text.)
func mayHoldReasoning(data []byte) bool {
	return bytes.Contains(data, []byte(`"reasoning`)) || bytes.Contains(data, []byte(`\u`))
}

// jsonString returns the string the JSON value v holds, as json.Unmarshal
// decodes it; ok is false when v is not a string.
func jsonString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if raw := v[1 : len(v)-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	return s, json.Unmarshal(v, &s) == nil
}
