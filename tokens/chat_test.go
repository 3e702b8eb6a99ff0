package tokens

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmgate/llmgate/wire"
)

// cookbookMessages is the example of the OpenAI cookbook "How to count
// tokens with tiktoken"; the cookbook's counts (which it checks against
// the API's usage.prompt_tokens) are 129 for gpt-3.5-turbo and gpt-4,
// 124 for gpt-4o and gpt-4o-mini.
const cookbookMessages = `[
 {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
 {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
 {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
 {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
 {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
 {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."}]`

// cookbookTools is the cookbook's function-calling example: 105 tokens
// for gpt-3.5-turbo and gpt-4, 101 for gpt-4o and gpt-4o-mini.
const cookbookTools = `{"messages": [
 {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
 {"role": "user", "content": "What's the weather like in San Francisco?"}],
 "tools": [{"type": "function", "function": {"name": "get_current_weather",
   "description": "Get the current weather in a given location",
   "parameters": {"type": "object", "properties": {
     "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
     "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}},
     "required": ["location"]}}}]}`

func chatRequest(t *testing.T, model, body string) *wire.ChatCompletionRequest {
	t.Helper()
	var req wire.ChatCompletionRequest
	if body[0] == '[' {
		body = `{"messages":` + body + `}`
	}
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	req.Model = model
	return &req
}

func TestCountChatCookbook(t *testing.T) {
	tests := []struct {
		model, body string
		want        int
	}{
		{"gpt-3.5-turbo", cookbookMessages, 129},
		{"gpt-4-0613", cookbookMessages, 129},
		{"gpt-4o", cookbookMessages, 124},
		{"gpt-4o-mini", cookbookMessages, 124},
		{"gpt-3.5-turbo", cookbookTools, 105},
		{"gpt-4", cookbookTools, 105},
		{"gpt-4o", cookbookTools, 101},
		{"gpt-4o-mini", cookbookTools, 101},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			enc, err := ForModel(tt.model)
			if err != nil {
				t.Fatal(err)
			}
			if got := CountChat(enc, chatRequest(t, tt.model, tt.body), nil); got != tt.want {
				t.Errorf("CountChat = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCountChatParts(t *testing.T) {
	enc := mustGet(t, "o200k_base")
	base := CountChat(enc, chatRequest(t, "gpt-4o", `[{"role":"user","content":"hi"}]`), nil)
	tests := []struct {
		name, body string
		extra      int // tokens beyond base
	}{
		{"text parts equal string", `[{"role":"user","content":[{"type":"text","text":"hi"}]}]`, 0},
		{"low image", `[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]`, 85},
		{"unknown-size image is worst case", `[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`, 85 + 8*170},
		{"named", `[{"role":"user","name":"bob","content":"hi"}]`, enc.Count("bob") + 1},
		{"tool call and result", `[{"role":"user","content":"hi"},
			{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"42"}]`,
			2*tokensPerMessage + enc.Count("assistant") + enc.Count("tool") + toolCallOverhead + enc.Count("f") + enc.Count(`{"a":1}`) + enc.Count("42")},
		{"custom tool call and result", `[{"role":"user","content":"hi"},
			{"role":"assistant","tool_calls":[{"id":"c1","type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch"}}]},
			{"role":"tool","tool_call_id":"c1","content":"42"}]`,
			2*tokensPerMessage + enc.Count("assistant") + enc.Count("tool") + toolCallOverhead + enc.Count("apply_patch") + enc.Count("*** Begin Patch") + enc.Count("42")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountChat(enc, chatRequest(t, "gpt-4o", tt.body), nil); got != base+tt.extra {
				t.Errorf("CountChat = %d, want %d+%d", got, base, tt.extra)
			}
		})
	}
}

// TestCountChatCustomTools: a custom tool counts as a function without
// parameters plus its format's text (an estimate, see CountChat), and
// beside function tools shares their closing overhead.
func TestCountChatCustomTools(t *testing.T) {
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		enc, err := ForModel(model)
		if err != nil {
			t.Fatal(err)
		}
		funcInit := 7
		if model == "gpt-4" {
			funcInit = 10
		}
		msgs := `"messages":[{"role":"user","content":"hi"}]`
		base := CountChat(enc, chatRequest(t, model, `{`+msgs+`}`), nil)
		fn := CountChat(enc, chatRequest(t, model, `{`+msgs+`,"tools":[{"type":"function","function":{"name":"f"}}]}`), nil) - base
		for _, tt := range []struct {
			name, tools string
			want        int
		}{
			{"text", `[{"type":"custom","custom":{"name":"apply_patch","description":"Edits files."}}]`,
				funcEnd + funcInit + enc.Count("apply_patch:Edits files")},
			{"format text", `[{"type":"custom","custom":{"name":"t","format":{"type":"text"}}}]`,
				funcEnd + funcInit + enc.Count("t:") + enc.Count("text")},
			{"grammar", `[{"type":"custom","custom":{"name":"sql","format":{"type":"grammar","grammar":{"definition":"start: SELECT","syntax":"lark"}}}}]`,
				funcEnd + funcInit + enc.Count("sql:") + enc.Count("grammar") + enc.Count("lark") + enc.Count("start: SELECT")},
			{"beside a function", `[{"type":"function","function":{"name":"f"}},{"type":"custom","custom":{"name":"c"}}]`,
				fn + funcInit + enc.Count("c:")},
		} {
			t.Run(model+"/"+tt.name, func(t *testing.T) {
				req := chatRequest(t, model, `{`+msgs+`,"tools":`+tt.tools+`}`)
				if got := CountChat(enc, req, nil) - base; got != tt.want {
					t.Errorf("tools add %d tokens, want %d", got, tt.want)
				}
				if got := CountTools(enc, req.Tools); got != tt.want {
					t.Errorf("CountTools = %d, want %d", got, tt.want)
				}
			})
		}
	}
}

func TestCountChatImageSize(t *testing.T) {
	enc := mustGet(t, "o200k_base")
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 1024, 1024))); err != nil {
		t.Fatal(err)
	}
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
	req := &wire.ChatCompletionRequest{Model: "gpt-4o", Messages: []wire.Message{{Role: "user",
		Content: wire.PartsContent(wire.ContentPart{Type: wire.PartImageURL, ImageURL: &wire.ImageURL{URL: dataURL, Detail: "high"}})}}}
	base := tokensPerMessage + enc.Count("user") + replyPriming
	if got := CountChat(enc, req, nil); got != base+765 {
		t.Errorf("data URL 1024x1024: %d, want %d", got, base+765)
	}
	req.Messages[0].Content.Parts[0].ImageURL.URL = "https://example.com/cat.jpg"
	opts := &ChatOptions{ImageSize: func(string) (int, int, bool) { return 512, 512, true }}
	if got := CountChat(enc, req, opts); got != base+255 {
		t.Errorf("ImageSize 512x512: %d, want %d", got, base+255)
	}
}

func TestImageTokens(t *testing.T) {
	tests := []struct {
		model  string
		w, h   int
		detail string
		want   int
	}{
		{"gpt-4o", 1024, 1024, "high", 765},  // 768x768 → 4 tiles
		{"gpt-4o", 2048, 4096, "high", 1105}, // → 1024x2048 → 768x1536 → 2x3 tiles
		{"gpt-4o", 4096, 8192, "low", 85},
		{"gpt-4o", 512, 512, "auto", 255},
		{"gpt-4o", 100, 100, "", 255},
		{"gpt-4o", 513, 100, "high", 425},
		{"gpt-4o", 0, 0, "high", 1445},
		{"gpt-4o-mini", 1024, 1024, "high", 2833 + 4*5667},
		{"gpt-4o-mini", 1, 1, "low", 2833},
		{"o1", 1024, 1024, "high", 75 + 4*150},
		{"gpt-4.1", 1024, 1024, "high", 765},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := ImageTokens(tt.model, tt.w, tt.h, tt.detail); got != tt.want {
				t.Errorf("ImageTokens(%s, %d, %d, %q) = %d, want %d", tt.model, tt.w, tt.h, tt.detail, got, tt.want)
			}
		})
	}
}

func TestCountPrompt(t *testing.T) {
	enc := mustGet(t, "p50k_base")
	tests := []struct {
		name string
		body string
		want int
	}{
		{"string", `{"prompt":"Hello world"}`, 2},
		{"strings", `{"prompt":["Hello world","Hello"]}`, 3},
		{"ids", `{"prompt":[1,2,3]}`, 3},
		{"id lists", `{"prompt":[[1,2],[3]]}`, 3},
		{"suffix", `{"prompt":"Hello","suffix":" world"}`, 2},
		{"empty", `{"prompt":""}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req wire.CompletionRequest
			if err := json.Unmarshal([]byte(tt.body), &req); err != nil {
				t.Fatal(err)
			}
			if got := CountPrompt(enc, &req); got != tt.want {
				t.Errorf("CountPrompt = %d, want %d", got, tt.want)
			}
		})
	}
}

// benchChatBody is a typical ~1 KiB chat request: a system prompt, a few
// turns and one tool definition.
const benchChatBody = `{"model":"gpt-4o","messages":[
	 {"role":"system","content":"You are a concise support assistant for Acme Cloud. Answer in the user's language, cite the relevant documentation page when you can, and never invent account details. If a question needs account access, call the lookup_account tool."},
	 {"role":"user","content":"Hi! Since this morning my deployments to eu-west-1 fail with 'quota exceeded', but the dashboard says I use 3 of 10 instances. What's going on?"},
	 {"role":"assistant","content":"Sorry about that. Quotas are enforced per region and per instance family, so the dashboard total can hide a family that is full. Which instance type does the failing deployment use?"},
	 {"role":"user","content":"It's c6g.large, and the error appeared right after I resized two other services. Can you check my account? The id is acme-1234."}],
	 "tools":[{"type":"function","function":{"name":"lookup_account","description":"Look up an Acme Cloud account's quotas and usage.",
	  "parameters":{"type":"object","properties":{"account_id":{"type":"string","description":"The account id, e.g. acme-1234."},
	  "region":{"type":"string","description":"Region to inspect.","enum":["eu-west-1","us-east-1","ap-south-1"]}},"required":["account_id"]}}}]}`

// bigChatRequest returns a ~100 KiB chat request: the 1 KiB one followed
// by 4 KiB user and assistant turns cut from the vector corpus (every
// kind of text but random bytes and repeats, in corpus order).
func bigChatRequest(b *testing.B) *wire.ChatCompletionRequest {
	b.Helper()
	var req wire.ChatCompletionRequest
	if err := json.Unmarshal([]byte(benchChatBody), &req); err != nil {
		b.Fatal(err)
	}
	var corpus strings.Builder
	for corpus.Len() < 100<<10 {
		for _, v := range loadVectors(b) {
			if cat, _, _ := strings.Cut(v.Name, "/"); cat != "random" && cat != "repeat" {
				corpus.WriteString(v.Text)
				corpus.WriteByte('\n')
			}
		}
	}
	text, roles := corpus.String()[:100<<10], []string{wire.RoleUser, wire.RoleAssistant}
	for i := 0; len(text) > 0; i++ {
		n := min(len(text), 4<<10)
		for n < len(text) && !utf8.RuneStart(text[n]) {
			n++
		}
		req.Messages = append(req.Messages, wire.Message{Role: roles[i%2], Content: wire.TextContent(text[:n])})
		text = text[n:]
	}
	return &req
}

// chatTexts returns the texts of req that CountChat tokenizes, near
// enough for a baseline: roles, string contents, and each tool's name and
// description.
func chatTexts(req *wire.ChatCompletionRequest) []string {
	var texts []string
	for _, m := range req.Messages {
		texts = append(texts, m.Role, m.Content.Text)
	}
	for _, tl := range req.Tools {
		texts = append(texts, tl.Function.Name+":"+tl.Function.Description)
	}
	return texts
}

// BenchmarkCountChat counts a typical ~1 KiB chat request (and a ~100 KiB
// one, for scaling) with each of the two current encodings. Baselines in
// the same run: "split" runs only the pre-tokenizer over the request's
// texts (the part of counting that rank lookups do not touch), and
// "tiktoken-go" counts the same texts with tiktoken-go's EncodeOrdinary.
func BenchmarkCountChat(b *testing.B) {
	var small wire.ChatCompletionRequest
	if err := json.Unmarshal([]byte(benchChatBody), &small); err != nil {
		b.Fatal(err)
	}
	big := bigChatRequest(b)
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		enc, ref := mustGet(b, name), reference(b, name)
		for _, size := range []struct {
			name string
			req  *wire.ChatCompletionRequest
		}{{"1KiB", &small}, {"100KiB", big}} {
			texts, bytes := chatTexts(size.req), 0
			for _, t := range texts {
				bytes += len(t)
			}
			b.Run(name+"/"+size.name+"/llmgate", func(b *testing.B) {
				b.SetBytes(int64(bytes))
				b.ReportAllocs()
				for b.Loop() {
					CountChat(enc, size.req, nil)
				}
			})
			b.Run(name+"/"+size.name+"/split", func(b *testing.B) {
				b.SetBytes(int64(bytes))
				b.ReportAllocs()
				for b.Loop() {
					pieces := 0
					for _, t := range texts {
						for i := 0; i < len(t); i = enc.split(t, i) {
							pieces++
						}
					}
					benchSink = pieces
				}
			})
			b.Run(name+"/"+size.name+"/tiktoken-go", func(b *testing.B) {
				b.SetBytes(int64(bytes))
				b.ReportAllocs()
				for b.Loop() {
					n := 0
					for _, t := range texts {
						n += len(ref.EncodeOrdinary(t))
					}
					benchSink = n
				}
			})
		}
	}
}

// benchSink keeps benchmark results alive.
var benchSink int
