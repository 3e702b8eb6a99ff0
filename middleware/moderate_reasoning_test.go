package middleware

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// modReasoningChunk is a chat chunk whose only choice has the delta given
// as JSON members (`"reasoning":"…"`), and a finish_reason when finish is
// set.
func modReasoningChunk(members, finish string) []byte {
	fin := "null"
	if finish != "" {
		fin = `"` + finish + `"`
	}
	return []byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{` +
		members + `},"finish_reason":` + fin + `}]}`)
}

// modReasoningTexts reassembles what a client reads of a stream: the
// content, and the reasoning under each name.
func modReasoningTexts(t *testing.T, body []byte) (content, reasoningContent, reasoning string) {
	t.Helper()
	for _, ev := range modParseSSE(t, body).events {
		var ch struct {
			Choices []struct {
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					Reasoning        string `json:"reasoning"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(ev, &ch); err != nil {
			t.Fatalf("event %s: %v", ev, err)
		}
		for _, c := range ch.Choices {
			content += c.Delta.Content
			reasoningContent += c.Delta.ReasoningContent
			reasoning += c.Delta.Reasoning
		}
	}
	return content, reasoningContent, reasoning
}

// TestModerateStreamReasoning: the reasoning a model streams, as
// reasoning_content (vLLM before 0.19.1, llama.cpp, DeepSeek) or reasoning
// (newer vLLM, Ollama), is judged like content, with its own hold-back.
func TestModerateStreamReasoning(t *testing.T) {
	words := strings.Fields("The user asks about the capital of France. It is Paris, on the Seine, since the tenth century.")
	for _, name := range []string{"reasoning_content", "reasoning"} {
		t.Run(name+"/clean", func(t *testing.T) {
			var events [][]byte
			events = append(events, modReasoningChunk(`"role":"assistant"`, ""))
			for _, w := range words {
				events = append(events, modReasoningChunk(`"`+name+`":"`+w+` "`, ""))
			}
			events = append(events, modReasoningChunk(`"content":"Paris."`, ""), modReasoningChunk("", "stop"))
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			content, rc, r := modReasoningTexts(t, rec.Body.Bytes())
			got := map[string]string{"reasoning_content": rc, "reasoning": r}
			want := strings.Join(words, " ") + " "
			if content != "Paris." || got[name] != want {
				t.Errorf("content %q, %s %q; want Paris. and %q\n%s", content, name, got[name], want, rec.Body)
			}
			for k, v := range got {
				if k != name && v != "" {
					t.Errorf("%s = %q: only the name the upstream used is sent", k, v)
				}
			}
		})
		t.Run(name+"/flagged", func(t *testing.T) {
			var events [][]byte
			for _, w := range strings.Fields(modHarmful + " so I answer.") {
				events = append(events, modReasoningChunk(`"`+name+`":"`+w+` "`, ""))
			}
			events = append(events, modReasoningChunk(`"content":"Paris."`, "stop"))
			h, cp := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			_, final, e := modStreamFinal(t, rec.Body.Bytes())
			if strings.Contains(rec.Body.String(), "kill") || strings.Contains(rec.Body.String(), "Paris") {
				t.Errorf("flagged reasoning, or what follows it, reached the client:\n%s", rec.Body)
			}
			if e == nil || e.Code != wire.CodeContentPolicyViolation || len(final.Choices) != 1 ||
				final.Choices[0].FinishReason != wire.FinishContentFilter {
				t.Errorf("final chunk %+v, error %+v: want a content_filter cut", final, e)
			}
			if cp.call.Usage == nil || cp.call.Usage.CompletionTokens == 0 {
				t.Errorf("usage %+v: the withheld reasoning was generated and is billed", cp.call.Usage)
			}
		})
	}
}

// TestModerateStreamReasoningRelease: held-back reasoning goes out with
// the chunk that starts the content, or in a chunk of its own when the
// stream ends, under the names the upstream used.
func TestModerateStreamReasoningRelease(t *testing.T) {
	const think = "Short thought"
	for name, tc := range map[string]struct {
		events  [][]byte
		content string
		rc, r   string
	}{
		"into the content's chunk": {
			events:  [][]byte{modReasoningChunk(`"reasoning_content":"`+think+`"`, ""), modReasoningChunk(`"content":"Paris."`, "")},
			content: "Paris.", rc: think,
		},
		"into a chunk without a delta": {
			events: [][]byte{modReasoningChunk(`"reasoning":"`+think+`"`, ""),
				[]byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"finish_reason":"stop"}]}`)},
			r: think,
		},
		"content into a chunk without a delta": {
			events: [][]byte{modReasoningChunk(`"content":"Paris is"`, ""),
				[]byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"finish_reason":"stop"}]}`)},
			content: "Paris is",
		},
		"at the end, both names": {
			events: [][]byte{modReasoningChunk(`"reasoning_content":"`+think+`","reasoning":"`+think+`"`, "")},
			rc:     think, r: think,
		},
		"held content and reasoning at the end": {
			events:  [][]byte{modReasoningChunk(`"reasoning":"`+think+`"`, ""), modReasoningChunk(`"content":"Paris","reasoning":" more"`, "")},
			content: "Paris", r: think + " more",
		},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(tc.events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			content, rc, r := modReasoningTexts(t, rec.Body.Bytes())
			if content != tc.content || rc != tc.rc || r != tc.r {
				t.Errorf("content %q, reasoning_content %q, reasoning %q; want %q, %q, %q\n%s",
					content, rc, r, tc.content, tc.rc, tc.r, rec.Body)
			}
		})
	}
}

// TestModerateStreamReasoningFailsClosed: reasoning the filter cannot
// judge cuts the stream.
func TestModerateStreamReasoningFailsClosed(t *testing.T) {
	harmful := string(mustJSON(modHarmful))
	for _, members := range []string{
		`"reasoning_content":"Fine.","reasoning":` + harmful,      // which one a client reads differs
		`"reasoning":"Fine.","reasoning":` + harmful,              // the same member twice
		`"Reasoning":` + harmful,                                  // a case twin
		`"reasoning_content":{"text":` + harmful + `}`,            // not a string
		`"reasoning_content":null,"reasoning_content":` + harmful, // twice, the first null
	} {
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(modReasoningChunk(members, ""), modReasoningChunk(`"content":"ok"`, "stop")))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if _, _, e := modStreamFinal(t, rec.Body.Bytes()); e == nil || strings.Contains(rec.Body.String(), "kill") {
			t.Errorf("%s: want a cut, got\n%s", members, rec.Body)
		}
	}
	// Null reasoning is no reasoning, and is left as it is.
	body := modReasoningChunk(`"content":"Paris.","reasoning_content":null`, "stop")
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(body))
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	if !strings.Contains(rec.Body.String(), `"reasoning_content":null`) {
		t.Errorf("null reasoning changed:\n%s", rec.Body)
	}
}

// TestModerateStreamContentParts: content streamed as arrays of parts, as
// Mistral's reasoning models send their thinking, is judged chunk by chunk
// with what came before as context, and passes as it came or cuts the
// stream.
func TestModerateStreamContentParts(t *testing.T) {
	thinking := func(text string) []byte {
		return modReasoningChunk(`"content":[{"type":"thinking","thinking":[{"type":"text","text":`+string(mustJSON(text))+`}]}]`, "")
	}
	t.Run("clean", func(t *testing.T) {
		events := [][]byte{modReasoningChunk(`"role":"assistant","content":""`, ""), thinking("The user asks "), thinking("for the capital."),
			modReasoningChunk(`"content":"Paris."`, ""), modReasoningChunk("", "stop")}
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		for _, ev := range events[1:3] {
			if !strings.Contains(rec.Body.String(), "data: "+string(ev)+"\n") {
				t.Errorf("parts chunk %s did not pass as it came:\n%s", ev, rec.Body)
			}
		}
		if !strings.Contains(rec.Body.String(), `"content":"Paris."`) {
			t.Errorf("the answer is missing:\n%s", rec.Body)
		}
	})
	for name, events := range map[string][][]byte{
		"in one chunk": {thinking(modHarmful), modReasoningChunk(`"content":"Paris."`, "stop")},
		"across two":   {thinking("I will kill"), thinking(" you, you worthless idiot."), modReasoningChunk(`"content":"Paris."`, "stop")},
		"a text part":  {modReasoningChunk(`"content":[{"type":"text","text":`+string(mustJSON(modHarmful))+`}]`, "stop")},
	} {
		t.Run("flagged "+name, func(t *testing.T) {
			h, cp := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			// The last event before [DONE] carries the cut's envelope.
			body := strings.TrimSuffix(rec.Body.String(), "data: [DONE]\n\n")
			var final struct{ Error *wire.Error }
			last := body[strings.LastIndex(body, "data: ")+len("data: "):]
			if err := json.Unmarshal([]byte(last), &final); err != nil || final.Error == nil ||
				final.Error.Code != wire.CodeContentPolicyViolation {
				t.Fatalf("last event %s (%v): want a content_filter cut\n%s", last, err, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "worthless") || strings.Contains(rec.Body.String(), "Paris") {
				t.Errorf("the flagged chunk, or what follows it, reached the client:\n%s", rec.Body)
			}
			if cp.call.Usage == nil || cp.call.Usage.CompletionTokens == 0 {
				t.Errorf("usage %+v: the withheld text is billed", cp.call.Usage)
			}
		})
	}
	t.Run("parts after held-back text", func(t *testing.T) {
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff},
			modRawStream(modReasoningChunk(`"content":"Paris is"`, ""), thinking("more"), modReasoningChunk("", "stop")))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if _, _, e := modStreamFinal(t, rec.Body.Bytes()); e == nil {
			t.Errorf("want a cut: the held-back text has nowhere to go\n%s", rec.Body)
		}
	})
}

// modValidEvents fails unless every data event of the stream body is a
// JSON object with no member twice (strict parsers refuse duplicates).
func modValidEvents(t *testing.T, body []byte) {
	t.Helper()
	for _, ev := range bytes.Split(body, []byte("\n\n")) {
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok || string(data) == "[DONE]" {
			continue
		}
		if !json.Valid(data) || modDuplicateKeys(data) {
			t.Errorf("event %s: not valid JSON, or a member twice", data)
		}
	}
}

// TestModerateStreamReleaseShapes: released text goes over a null member
// rather than beside it — DeepSeek sends "reasoning_content":null with the
// content once its reasoning ends — and into a delta that is null.
func TestModerateStreamReleaseShapes(t *testing.T) {
	for name, tc := range map[string]struct {
		events      [][]byte
		content, rc string
	}{
		"reasoning over a null member": {
			events: [][]byte{modReasoningChunk(`"role":"assistant","content":null,"reasoning_content":""`, ""),
				modReasoningChunk(`"content":null,"reasoning_content":"The user asks about France."`, ""),
				modReasoningChunk(`"content":"Paris.","reasoning_content":null`, ""),
				modReasoningChunk(`"content":"","reasoning_content":null`, "stop")},
			content: "Paris.", rc: "The user asks about France.",
		},
		"reasoning over a null member at the finish": {
			events: [][]byte{modReasoningChunk(`"content":null,"reasoning_content":"The user asks about France."`, ""),
				modReasoningChunk(`"content":null,"reasoning_content":null`, "stop")},
			rc: "The user asks about France.",
		},
		"content into a null delta": {
			events: [][]byte{modReasoningChunk(`"content":"Paris is"`, ""),
				[]byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":null,"finish_reason":"stop"}]}`)},
			content: "Paris is",
		},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(tc.events...))
			rec := postJSON(h, "/v1/chat/completions", modStreamReq())
			modValidEvents(t, rec.Body.Bytes())
			content, rc, _ := modReasoningTexts(t, rec.Body.Bytes())
			if content != tc.content || rc != tc.rc {
				t.Errorf("content %q, reasoning_content %q; want %q, %q\n%s", content, rc, tc.content, tc.rc, rec.Body)
			}
		})
	}
}

// TestModerateStreamPartsContext: parts and strings share the content
// filter, so a phrase split between a chunk of parts and one of strings
// is judged whole, and a chunk of parts keeps its logprobs.
func TestModerateStreamPartsContext(t *testing.T) {
	part := func(text string) []byte {
		return modReasoningChunk(`"content":[{"type":"text","text":`+string(mustJSON(text))+`}]`, "")
	}
	phrase := "I am going to kill you."
	for i := 1; i < len(phrase); i++ {
		a, b := phrase[:i], phrase[i:]
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff},
			modRawStream(part(a), modReasoningChunk(`"content":`+string(mustJSON(b)), ""), modReasoningChunk("", "stop")))
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if !strings.Contains(rec.Body.String(), wire.CodeContentPolicyViolation) || strings.Contains(rec.Body.String(), `"content":"`+b) {
			t.Errorf("%q | %q: not cut\n%s", a, b, rec.Body)
		}
	}
	withLogprobs := func(text string) []byte {
		return []byte(`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":[{"type":"text","text":` +
			string(mustJSON(text)) + `}]},"logprobs":{"content":[{"token":` + string(mustJSON(text)) + `,"logprob":-0.1,"bytes":null,"top_logprobs":[]}]},"finish_reason":null}]}`)
	}
	events := [][]byte{withLogprobs("The capital "), withLogprobs("is Paris."), modReasoningChunk("", "stop")}
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(events...))
	rec := postJSON(h, "/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"logprobs":true,"messages":[{"role":"user","content":"hi"}]}`)
	for _, ev := range events[:2] {
		if !strings.Contains(rec.Body.String(), "data: "+string(ev)+"\n") {
			t.Errorf("chunk %s did not pass as it came:\n%s", ev, rec.Body)
		}
	}
}

// TestModerateOutputRefusal: a refusal is shown in place of the content,
// so it is judged too, in a JSON answer and in a stream.
func TestModerateOutputRefusal(t *testing.T) {
	refusal := `"refusal":` + string(mustJSON(modHarmful))
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,` +
			refusal + `},"finish_reason":"stop"}]}`))
	})
	rec := postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
	if strings.Contains(rec.Body.String(), "kill") || !strings.Contains(rec.Body.String(), `"refusal":null`) {
		t.Errorf("JSON answer: want the refusal withheld\n%s", rec.Body)
	}
	h, _ = modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(modReasoningChunk(refusal, ""), modReasoningChunk("", "stop")))
	rec = postJSON(h, "/v1/chat/completions", modStreamReq())
	if _, _, e := modStreamFinal(t, rec.Body.Bytes()); e == nil || strings.Contains(rec.Body.String(), "kill") {
		t.Errorf("stream: want a cut\n%s", rec.Body)
	}
	clean := modReasoningChunk(`"refusal":"I can't help with that."`, "")
	h, _ = modTestChain(t, ModerateConfig{Input: InputOff}, modRawStream(clean, modReasoningChunk("", "stop")))
	rec = postJSON(h, "/v1/chat/completions", modStreamReq())
	if !strings.Contains(rec.Body.String(), "data: "+string(clean)+"\n") {
		t.Errorf("stream: a clean refusal did not pass as it came\n%s", rec.Body)
	}
}

// TestModerateOutputPartsJoined: clients show the parts of a content
// array one after the other, so they are judged joined with nothing: a
// phrase split inside a word across two parts is caught.
func TestModerateOutputPartsJoined(t *testing.T) {
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","created":7,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":` +
			`[{"type":"text","text":"I am going to k"},{"type":"text","text":"ill you."}]},"finish_reason":"stop"}]}`))
	})
	rec := postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
	if strings.Contains(rec.Body.String(), "ill you") {
		t.Errorf("want the parts withheld\n%s", rec.Body)
	}
}

// TestModerateOutputAnyContentType: the filter reads an answer as the
// client will, whatever its Content-Type: openai-go reads the answer to a
// stream request as a stream, so it is filtered as one; any other 2xx
// answer must be a JSON object.
func TestModerateOutputAnyContentType(t *testing.T) {
	for _, ct := range []string{"", "text/plain", "application/x-ndjson", "application/octet-stream"} {
		events := []byte("data: " + string(modChunkJSON("", modHarmful, "")) + "\n\ndata: " + string(modChunkJSON("", "", "stop")) + "\n\ndata: [DONE]\n\n")
		h, _ := modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write(events)
		})
		rec := postJSON(h, "/v1/chat/completions", modStreamReq())
		if strings.Contains(rec.Body.String(), "kill") {
			t.Errorf("stream sent as %q: flagged text reached the client\n%s", ct, rec.Body)
		}
		h, _ = modTestChain(t, ModerateConfig{Input: InputOff}, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", ct)
			_, _ = w.Write(events)
		})
		rec = postJSON(h, "/v1/chat/completions", modChatBody(`[{"role":"user","content":"hi"}]`))
		if rec.Code != http.StatusBadGateway || strings.Contains(rec.Body.String(), "kill") {
			t.Errorf("answer sent as %q to a request without stream: status %d, want 502\n%s", ct, rec.Code, rec.Body)
		}
	}
}

// TestModerateStreamReasoningAfterFinish: reasoning sent after a choice's
// finish_reason is judged and released at the end, not lost.
func TestModerateStreamReasoningAfterFinish(t *testing.T) {
	h, _ := modTestChain(t, ModerateConfig{Input: InputOff},
		modRawStream(modReasoningChunk(`"content":"Paris."`, "stop"), modReasoningChunk(`"reasoning_content":"Late thought"`, "")))
	rec := postJSON(h, "/v1/chat/completions", modStreamReq())
	modValidEvents(t, rec.Body.Bytes())
	if content, rc, _ := modReasoningTexts(t, rec.Body.Bytes()); content != "Paris." || rc != "Late thought" {
		t.Errorf("content %q, reasoning_content %q\n%s", content, rc, rec.Body)
	}
}
