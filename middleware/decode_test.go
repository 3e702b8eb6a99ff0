package middleware

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmgate/llmgate/wire"
)

// result is what a request through Decode produced: the response, and what
// the wrapped handler saw when it was reached.
type result struct {
	rec     *httptest.ResponseRecorder
	reached bool
	call    *Call
	body    []byte // the body the handler read
	r       *http.Request
}

// envelope decodes the error the response carries.
func (res result) envelope(t *testing.T) *wire.Error {
	t.Helper()
	e, ok := wire.DecodeError(res.rec.Code, res.rec.Body.Bytes())
	if !ok {
		t.Fatalf("status %d: not an error envelope: %q", res.rec.Code, res.rec.Body)
	}
	return e
}

// serveDecode sends one request through Decode(cfg) to a handler that
// records what it saw.
func serveDecode(t testing.TB, cfg DecodeConfig, req *http.Request) result {
	t.Helper()
	var res result
	h := Decode(cfg)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res.reached = true
		res.call = CallFrom(r.Context())
		res.r = r
		var err error
		if res.body, err = io.ReadAll(r.Body); err != nil {
			t.Errorf("handler reading body: %v", err)
		}
		w.WriteHeader(http.StatusOK)
	}))
	res.rec = httptest.NewRecorder()
	h.ServeHTTP(res.rec, req)
	return res
}

func post(path, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestDecodeRouting(t *testing.T) {
	const chat = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		status                          int
		code, allow, message            string
	}{
		{"unknown path", "POST", "/v1/foo", "application/json", `{}`, 404, wire.CodeUnknownURL, "", "Invalid URL (POST /v1/foo)"},
		{"trailing slash", "POST", "/v1/chat/completions/", "application/json", chat, 404, wire.CodeUnknownURL, "", "Invalid URL (POST /v1/chat/completions/)"},
		{"GET chat", "GET", "/v1/chat/completions", "", "", 405, wire.CodeMethodNotAllowed, "POST", ""},
		{"PUT completions", "PUT", "/v1/completions", "application/json", `{}`, 405, wire.CodeMethodNotAllowed, "POST", ""},
		{"POST models", "POST", "/v1/models", "application/json", `{}`, 405, wire.CodeMethodNotAllowed, "GET", ""},
		{"GET models", "GET", "/v1/models", "", "", 200, "", "", ""},
		{"GET model", "GET", "/v1/models/gpt-4o", "", "", 200, "", "", ""},
		{"text/plain", "POST", "/v1/chat/completions", "text/plain", chat, 415, wire.CodeUnsupportedMediaType, "", ""},
		{"form", "POST", "/v1/embeddings", "application/x-www-form-urlencoded", `model=x`, 415, wire.CodeUnsupportedMediaType, "", ""},
		{"json with charset", "POST", "/v1/chat/completions", "application/json; charset=utf-8", chat, 200, "", "", ""},
		{"json upper case", "POST", "/v1/chat/completions", "Application/JSON", chat, 200, "", "", ""},
		{"no content type", "POST", "/v1/chat/completions", "", chat, 200, "", "", ""},
		{"embeddings", "POST", "/v1/embeddings", "application/json", `{"model":"e","input":"x","dimensions":3}`, 200, "", "", ""},
		{"gzip body", "POST", "/v1/chat/completions", "application/json+gzip", chat, 415, wire.CodeUnsupportedMediaType, "", "Unsupported Content-Encoding 'gzip'; send the body uncompressed."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if ct, ok := strings.CutSuffix(tc.ctype, "+gzip"); ok {
				tc.ctype = ct
				req.Header.Set("Content-Encoding", "gzip")
			}
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			res := serveDecode(t, DecodeConfig{}, req)
			if res.rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", res.rec.Code, tc.status, res.rec.Body)
			}
			if tc.status == 200 {
				if !res.reached {
					t.Fatal("handler not reached")
				}
				return
			}
			if res.reached {
				t.Fatal("handler reached on a refused request")
			}
			e := res.envelope(t)
			if e.Code != tc.code || e.Type != wire.TypeInvalidRequest {
				t.Errorf("type/code %s/%s, want %s/%s", e.Type, e.Code, wire.TypeInvalidRequest, tc.code)
			}
			if tc.message != "" && e.Message != tc.message {
				t.Errorf("message %q, want %q", e.Message, tc.message)
			}
			if got := res.rec.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestDecodeFillsCall(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		want             func(t *testing.T, c *Call)
	}{
		{"chat", "/v1/chat/completions", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			func(t *testing.T, c *Call) {
				if c.Endpoint != EndpointChatCompletions || c.Chat == nil || c.Model != "gpt-4o" || !c.Stream {
					t.Errorf("call %+v", c)
				}
				if got := c.Chat.Messages[0].Content.String(); got != "hi" {
					t.Errorf("content %q", got)
				}
			}},
		{"completion", "/v1/completions", `{"model":"davinci","prompt":"x"}`,
			func(t *testing.T, c *Call) {
				if c.Endpoint != EndpointCompletions || c.Completion == nil || c.Model != "davinci" || c.Stream {
					t.Errorf("call %+v", c)
				}
			}},
		{"moderation", "/v1/moderations", `{"input":["a","b"]}`,
			func(t *testing.T, c *Call) {
				if c.Endpoint != EndpointModerations || c.Moderation == nil || c.Moderation.Input.Len() != 2 {
					t.Errorf("call %+v", c)
				}
			}},
		{"embeddings", "/v1/embeddings", `{"input":"a","model":"text-embedding-3-small"}`,
			func(t *testing.T, c *Call) {
				if c.Endpoint != EndpointEmbeddings || c.Model != "text-embedding-3-small" || c.Chat != nil {
					t.Errorf("call %+v", c)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post(tc.path, tc.body))
			if !res.reached {
				t.Fatalf("status %d: %s", res.rec.Code, res.rec.Body)
			}
			if string(res.call.Raw) != tc.body {
				t.Errorf("Raw %q", res.call.Raw)
			}
			tc.want(t, res.call)
		})
	}
	t.Run("models id", func(t *testing.T) {
		res := serveDecode(t, DecodeConfig{}, httptest.NewRequest("GET", "/v1/models/gpt-4o-mini", nil))
		if res.call == nil || res.call.Endpoint != EndpointModels || res.call.Model != "gpt-4o-mini" {
			t.Fatalf("call %+v", res.call)
		}
	})
}

// TestDecodeUnknownFieldsGolden: a request full of members no wire type
// knows reaches the handler byte for byte, in r.Body, r.GetBody and
// Call.Raw, with a matching ContentLength.
func TestDecodeUnknownFieldsGolden(t *testing.T) {
	for _, file := range []string{"chat_unknown_fields.json", "completion_unknown_fields.json"} {
		t.Run(file, func(t *testing.T) {
			golden, err := os.ReadFile("testdata/" + file)
			if err != nil {
				t.Fatal(err)
			}
			path := "/v1/chat/completions"
			if strings.HasPrefix(file, "completion") {
				path = "/v1/completions"
			}
			req := httptest.NewRequest("POST", path, bytes.NewReader(golden))
			req.ContentLength = -1 // as for a chunked upload
			res := serveDecode(t, DecodeConfig{}, req)
			if !res.reached {
				t.Fatalf("status %d: %s", res.rec.Code, res.rec.Body)
			}
			if !bytes.Equal(res.body, golden) {
				t.Errorf("handler body differs from the golden file:\n got %q\nwant %q", res.body, golden)
			}
			if !bytes.Equal(res.call.Raw, golden) {
				t.Error("Call.Raw differs from the golden file")
			}
			if res.r.ContentLength != int64(len(golden)) {
				t.Errorf("ContentLength %d, want %d", res.r.ContentLength, len(golden))
			}
			rc, err := res.r.GetBody()
			if err != nil {
				t.Fatal(err)
			}
			again, _ := io.ReadAll(rc)
			if !bytes.Equal(again, golden) {
				t.Error("GetBody differs from the golden file")
			}
		})
	}
}

func TestDecodeBodyLimit(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 60) + `"}]}`
	n := int64(len(body))
	for _, tc := range []struct {
		name    string
		limit   int64
		chunked bool
		status  int
	}{
		{"at the limit", n, false, 200},
		{"one over", n - 1, false, 413},
		{"at the limit, chunked", n, true, 200},
		{"one over, chunked", n - 1, true, 413},
		{"default", 0, false, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := post("/v1/chat/completions", body)
			if tc.chunked {
				req.ContentLength = -1
			}
			res := serveDecode(t, DecodeConfig{MaxBodyBytes: tc.limit}, req)
			if res.rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", res.rec.Code, tc.status, res.rec.Body)
			}
			if tc.status == 413 {
				if e := res.envelope(t); e.Code != wire.CodeRequestTooLarge || e.Type != wire.TypeInvalidRequest {
					t.Errorf("envelope %+v", e)
				}
			}
		})
	}
	t.Run("declared length over the limit is refused unread", func(t *testing.T) {
		r := &sizeCounter{r: strings.NewReader(body)}
		req := httptest.NewRequest("POST", "/v1/chat/completions", r)
		req.ContentLength = n
		res := serveDecode(t, DecodeConfig{MaxBodyBytes: 10}, req)
		if res.rec.Code != 413 || r.n != 0 {
			t.Fatalf("status %d after reading %d bytes", res.rec.Code, r.n)
		}
	})
	t.Run("over the limit reads at most limit+1 bytes", func(t *testing.T) {
		r := &sizeCounter{r: strings.NewReader(strings.Repeat(" ", 1<<20))}
		req := httptest.NewRequest("POST", "/v1/chat/completions", r)
		req.ContentLength = -1
		res := serveDecode(t, DecodeConfig{MaxBodyBytes: 1000}, req)
		if res.rec.Code != 413 || r.n > 1000+4096 {
			t.Fatalf("status %d after reading %d bytes", res.rec.Code, r.n)
		}
	})
}

type sizeCounter struct {
	r io.Reader
	n int
}

func (c *sizeCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestDecodeInvalidJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       string
		contains   string
	}{
		{"empty", ``, wire.CodeInvalidJSON, "empty"},
		{"whitespace", " \n", wire.CodeInvalidJSON, "empty"},
		{"truncated", `{"model":`, wire.CodeInvalidJSON, "byte offset 9"},
		{"bad literal", `{"model":"m","stream":tru}`, wire.CodeInvalidJSON, "byte offset 25"},
		{"trailing data", `{"model":"m","messages":[{"role":"user","content":"x"}]} {}`, wire.CodeInvalidJSON, "after top-level value"},
		{"single quotes", `{'model':'m'}`, wire.CodeInvalidJSON, "byte offset 1"},
		{"control char in string", "{\"model\":\"a\nb\"}", wire.CodeInvalidJSON, "in string literal"},
		{"bad escape", `{"model":"\x"}`, wire.CodeInvalidJSON, "escape"},
		{"bad number", `{"temperature":01}`, wire.CodeInvalidJSON, "after object key:value pair"},
		{"syntax error after type error", `{"temperature":"hot","x":]`, wire.CodeInvalidJSON, "byte offset"},
		{"syntax error in unknown member", `{"model":"m","x":{"a":[1,2,}}`, wire.CodeInvalidJSON, "byte offset"},
		{"array body", `[1,2]`, wire.CodeInvalidType, "must be a JSON object, but got an array"},
		{"string body", `"hi"`, wire.CodeInvalidType, "must be a JSON object"},
		{"deep nesting", `{"x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, wire.CodeInvalidJSON, "max depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post("/v1/chat/completions", tc.body))
			if res.rec.Code != 400 || res.reached {
				t.Fatalf("status %d (reached %v): %s", res.rec.Code, res.reached, res.rec.Body)
			}
			e := res.envelope(t)
			if e.Code != tc.code || e.Type != wire.TypeInvalidRequest || e.Param != "" {
				t.Errorf("envelope %+v", e)
			}
			if !strings.Contains(e.Message, tc.contains) {
				t.Errorf("message %q does not contain %q", e.Message, tc.contains)
			}
			if json.Valid([]byte(tc.body)) && tc.code == wire.CodeInvalidJSON && !strings.Contains(tc.name, "deep") {
				t.Errorf("encoding/json accepts %q", tc.body)
			}
		})
	}
}

// TestDecodeMatchesEncodingJSON decodes valid requests with the scanner
// and with encoding/json into the same wire types: both must agree.
func TestDecodeMatchesEncodingJSON(t *testing.T) {
	files, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string][]byte{
		"escapes": []byte(`{"model":"m\u00e9","messages":[{"role":"user","content":"a\"b\\c\/d\b\f\n\r\t\u0041\ud83d\ude00\ud800x é"}],"user":"\u2028"}`),
		"custom tools": []byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"custom","custom":{"name":"p","input":"*** Begin"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],` +
			`"tools":[{"type":"function","function":{"name":"f"}},{"type":"custom","custom":{"name":"p","description":"d","format":{"type":"grammar","grammar":{"definition":"start: x","syntax":"lark"}}}},{"type":"custom","custom":{"name":"t","format":{"type":"text"}}}],` +
			`"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"f"}},{"type":"custom","custom":{"name":"p"}}]}}}`),
		"custom tool_choice": []byte(`{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"p"}}],"tool_choice":{"type":"custom","custom":{"name":"p"}}}`),
		"nulls":              []byte(`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}],"temperature":null,"stop":null,"tools":null,"tool_choice":null,"response_format":null,"seed":null,"logit_bias":null}`),
	}
	for _, f := range files {
		if strings.HasPrefix(f.Name(), "chat") {
			b, err := os.ReadFile("testdata/" + f.Name())
			if err != nil {
				t.Fatal(err)
			}
			bodies[f.Name()] = b
		}
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			d := newScanner(body)
			got, _, err := decodeChat(&d)
			if err != nil {
				t.Fatal(err)
			}
			var want wire.ChatCompletionRequest
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, &want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(&want)
				t.Errorf("scanner and encoding/json differ:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestScannerGrammar: the scanner accepts exactly what encoding/json does.
func TestScannerGrammar(t *testing.T) {
	for _, s := range []string{
		`1`, `-0`, `-01`, `01`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `-`, `+1`, `0x10`,
		`"\u12"`, `"\u12g4"`, `"\ud800"`, `"\ud800\udc00"`, `"\/"`, `"\a"`, "\"\t\"", "\"\x7f\"", "\"\xff\"",
		`[1,]`, `[,1]`, `[1 2]`, `[]`, ` [ ] `, `{"a":1,}`, `{"a" 1}`, `{"a":1}}`, `{,}`, `{1:2}`,
		`tru`, `nul`, `true `, `falsey`, `null`, ``, ` `, `"`, `"abc`, `"a\`, `{"a":`, `[`, `{"a":[{"b":[]}]}`,
	} {
		t.Run(s, func(t *testing.T) {
			if got, want := validJSON([]byte(s)) == nil, json.Valid([]byte(s)); got != want {
				t.Fatalf("validJSON(%q) = %v, encoding/json says %v", s, got, want)
			}
		})
	}
}

// TestMessagesPresizeBounded: strings spelling "role" elsewhere in the body
// cannot make Decode reserve more messages than the bytes could hold.
func TestMessagesPresizeBounded(t *testing.T) {
	body := []byte(`[{"role":"user","content":"hi"}],"x":[` + strings.Repeat(`"role",`, 10000) + `1]`)
	d := newScanner(body)
	msgs, err := decodeMessages(&d)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || cap(msgs) > len(body)/minMessageBytes {
		t.Fatalf("len %d cap %d for a %d-byte body", len(msgs), cap(msgs), len(body))
	}
}

// TestDecodeCaseTwins: a member whose name differs only in case from one
// the decoder reads is refused, at any depth, so that the gateway and an
// upstream that matches names without regard to case (encoding/json) see
// the same request. Other unknown members pass, whatever their case.
func TestDecodeCaseTwins(t *testing.T) {
	msg := `[{"role":"user","content":"hi"}]`
	for _, tc := range []struct{ path, body, param string }{
		{chatPath, `{"model":"llmtest-1","Model":"gpt-4o","messages":` + msg + `}`, "Model"},
		{chatPath, `{"model":"m","messages":` + msg + `,"MAX_TOKENS":300,"max_tokens":3}`, "MAX_TOKENS"},
		{chatPath, `{"model":"m","messages":` + msg + `,"Messages":[{"role":"user","content":"x"}]}`, "Messages"},
		{chatPath, `{"model":"m","messages":[{"role":"user","content":"hi","Content":"x"}]}`, "messages[0].Content"},
		{chatPath, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","TEXT":"b"}]}]}`, "messages[0].content[0].TEXT"},
		{chatPath, `{"model":"m","messages":` + msg + `,"tools":[{"type":"function","function":{"name":"f","Name":"g"}}]}`, "tools[0].function.Name"},
		{chatPath, `{"model":"m","messages":` + msg + `,"max_to` + "\u212a" + `ens":9}`, "max_to\u212aens"}, // KELVIN SIGN folds to k
		{complPath, `{"model":"m","prompt":"a","Prompt":"b"}`, "Prompt"},
		{modPath, `{"input":"a","INPUT":"b"}`, "INPUT"},
		{embPath, `{"model":"e","MODEL":"x","input":"a"}`, "MODEL"},
	} {
		res := serveDecode(t, DecodeConfig{}, post(tc.path, tc.body))
		if res.rec.Code != 400 || res.reached {
			t.Errorf("%s: status %d (reached %v): %s", tc.body, res.rec.Code, res.reached, res.rec.Body)
			continue
		}
		if e := res.envelope(t); e.Code != wire.CodeUnknownParameter || e.Param != tc.param || !strings.Contains(e.Message, "case-sensitive") {
			t.Errorf("%s: envelope %+v, want unknown_parameter at %s", tc.body, e, tc.param)
		}
	}
	for _, body := range []string{
		`{"model":"m","messages":` + msg + `,"top_k":40,"Top_K":40,"chat_template_kwargs":{"Model":1}}`,
		`{"model":"m","messages":` + msg + `,"metadata":{"Model":"x"},"logit_bias":{"50256":-100}}`,
		`{"model":"m","messages":` + msg + `,"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","properties":{"Model":{"type":"string"}}}}}}`,
	} {
		if res := serveDecode(t, DecodeConfig{}, post(chatPath, body)); !res.reached {
			t.Errorf("%s: refused: %s", body, res.rec.Body)
		}
	}
}

func TestRequestNamesLowerASCII(t *testing.T) {
	if len(requestNames) < 40 {
		t.Fatalf("only %d request names: %v", len(requestNames), requestNames)
	}
	for _, n := range requestNames {
		if !isLowerASCII(n) {
			t.Errorf("request name %q is not lower-case ASCII: caseTwin's fast path would miss its twins", n)
		}
	}
}

// TestDecodeInvalidUTF8: a body that is JSON but not UTF-8 is refused
// with the offset of the first bad byte, wherever it is; a body that is
// not JSON either is still invalid_json.
func TestDecodeInvalidUTF8(t *testing.T) {
	for _, body := range []string{
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9 \xff\"}]}",
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"ok\"}],\"x_extra\":\"\xc3\"}",
	} {
		res := serveDecode(t, DecodeConfig{}, post(chatPath, body))
		if res.rec.Code != 400 || res.reached {
			t.Fatalf("%q: status %d (reached %v)", body, res.rec.Code, res.reached)
		}
		want := fmt.Sprintf("byte offset %d", strings.IndexFunc(body, func(r rune) bool { return r == utf8.RuneError }))
		if e := res.envelope(t); e.Code != wire.CodeInvalidValue || !strings.Contains(e.Message, "UTF-8") || !strings.Contains(e.Message, want) {
			t.Errorf("%q: envelope %+v, want invalid_value at %s", body, e, want)
		}
	}
	res := serveDecode(t, DecodeConfig{}, post(chatPath, "{\"model\":\"\xff\""))
	if e := res.envelope(t); e.Code != wire.CodeInvalidJSON {
		t.Errorf("truncated and not UTF-8: %+v, want invalid_json", e)
	}
}

// TestToolCallIDsMany: with more calls than the short list of issued ids
// holds, every answer is still checked against the calls issued.
func TestToolCallIDsMany(t *testing.T) {
	h := Decode(DecodeConfig{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, n := range []int{3, 16, 17, 40} {
		body := toolCallsBody(n)
		if rec := postJSON(h, "/v1/chat/completions", string(body)); rec.Code != 200 {
			t.Errorf("%d calls: status %d: %s", n, rec.Code, rec.Body)
		}
		bad := string(body[:len(body)-2]) + `,{"role":"tool","tool_call_id":"call_999999","content":"x"}]}`
		rec := postJSON(h, "/v1/chat/completions", bad)
		if e := limitEnvelope(t, rec); rec.Code != 400 || e.Param != fmt.Sprintf("messages[%d].tool_call_id", 2+n) {
			t.Errorf("%d calls and an answer to none: status %d, param %q", n, rec.Code, e.Param)
		}
	}
}
