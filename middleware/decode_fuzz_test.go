package middleware

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

var fuzzPaths = [...]string{chatPath, complPath, modPath, embPath}

// FuzzDecode sends random bodies to each endpoint. Decode must never
// panic; it either passes the exact body to the handler (and only valid
// JSON) or answers a 4xx error envelope; invalid JSON is always invalid_json.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		chatWith(""),
		chatWith(`"temperature":"hot"`),
		chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"function","function":{"name":"get_weather"}}`),
		chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"}}}`),
		chatWith(`"logit_bias":{"50256":-100,"abc":1},"stop":["a","b"],"n":2,"seed":1`),
		chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]`),
		chatMsgs(`[{"role":"user","content":[{"type":"text","text":"a\u00e9\ud83d\ude00"},{"type":"image_url","image_url":{"url":"https://x","detail":"low"}}]}]`),
		complWith(`"prompt":[[1,2],[3]],"best_of":2,"n":2,"logprobs":5`),
		`{"input":["a","b"]}`,
		`{"input":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}}]}`,
		`{"model":"e","input":"x"}`,
		`{"model":`, `[]`, ``, `{"a":[1,2,{"b":null}]}`, `{"model":"m"} x`, "{\"model\":\"\xff\"}",
		chatWith(`"Model":"x","messages":[{"role":"user","content":"a","CONTENT":"b"}]`),
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	// Embeddings inputs in their four forms, and each refusal.
	for _, s := range []string{
		`{"model":"e","input":"x"}`, `{"model":"e","input":["a","b"]}`, `{"model":"e","input":[1,2,3]}`,
		`{"model":"e","input":[[1,2],[3]],"dimensions":8,"encoding_format":"base64"}`,
		`{"model":"e","messages":[{"role":"user","content":"x"}]}`, `{"model":"e","input":null}`,
		`{"model":"e","input":""}`, `{"model":"e","input":[]}`, `{"model":"e","input":["a",""]}`,
		`{"model":"e","input":[1,-2]}`, `{"model":"e","input":[[1],[2,-3]]}`, `{"model":"e","input":[[1],[]]}`,
		`{"model":"e","input":[[1],2]}`, `{"model":"e","input":["a",1]}`, `{"model":"e","input":[1.5]}`,
		`{"model":"e","input":[true]}`, `{"model":"e","input":{"a":1}}`, `{"model":"e","input":"",`,
	} {
		f.Add(uint8(3), []byte(s)) // fuzzPaths[3] is embPath
	}
	// Custom tools, allowed_tools and custom tool choices, custom calls:
	// sent to the chat endpoint (ep 0).
	for _, s := range []string{
		chatWith(`"tools":[` + weatherTool + `,{"type":"custom","custom":{"name":"apply_patch","description":"d","format":{"type":"grammar","grammar":{"definition":"start: x","syntax":"lark"}}}}],` +
			`"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"custom","custom":{"name":"apply_patch"}}]}}`),
		chatWith(`"tools":[{"type":"custom","custom":{"name":"n","format":{"type":"text"}}}],"tool_choice":{"type":"custom","custom":{"name":"n"}}`),
		chatWith(`"tools":[{"type":"custom","custom":{"name":"n","format":{"type":"grammar","grammar":{"definition":"\\d+","syntax":"regex"}}},"function":{"name":"f"}}]`),
		chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c1","type":"custom","custom":{"name":"p","input":"*** Begin"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]`),
	} {
		f.Add(uint8(0), []byte(s))
	}
	golden, _ := filepath.Glob("testdata/*.json")
	for i, g := range golden {
		if b, err := os.ReadFile(g); err == nil {
			f.Add(uint8(i), b)
		}
	}
	h := Decode(DecodeConfig{MaxBodyBytes: 1 << 20})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo", "1")
		_, _ = w.Write(b)
	}))
	f.Fuzz(func(t *testing.T, ep uint8, body []byte) {
		path := fuzzPaths[int(ep)%len(fuzzPaths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("X-Echo") == "1" {
			if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), body) {
				t.Fatalf("handler got a different body: %q", rec.Body)
			}
			if !json.Valid(body) {
				t.Fatalf("invalid JSON passed to the handler: %q", body)
			}
			return
		}
		e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
		if !ok || rec.Code < 400 || rec.Code > 499 || e.Type == "" || e.Code == "" {
			t.Fatalf("status %d, not a 4xx envelope: %q", rec.Code, rec.Body)
		}
		if valid := json.Valid(body); valid == (e.Code == wire.CodeInvalidJSON) {
			t.Fatalf("encoding/json says valid=%v, Decode answered %s: %s (body %q)", valid, e.Code, e.Message, body)
		}
		if (validJSON(body) == nil) != json.Valid(body) {
			t.Fatalf("validJSON and encoding/json disagree on %q", body)
		}
	})
}
