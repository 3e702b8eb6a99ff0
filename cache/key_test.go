package cache

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const chatPath = "/v1/chat/completions"

func mustKey(t testing.TB, in KeyInput) Key {
	t.Helper()
	k, err := ComputeKey(in)
	if err != nil {
		t.Fatalf("ComputeKey(%s): %v", in.Body, err)
	}
	return k
}

func TestKeyNormalisation(t *testing.T) {
	base := `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	same := []struct{ name, body string }{
		{"member order", `{"messages":[{"content":"hi","role":"user"}],"temperature":0,"model":"gpt-4o-mini"}`},
		{"whitespace", " {\n\t\"model\" : \"gpt-4o-mini\",\r\n \"temperature\":0 , \"messages\":[ {\"role\":\"user\",\"content\":\"hi\"} ] }\n"},
		{"number spelling 0.0", `{"model":"gpt-4o-mini","temperature":0.0,"messages":[{"role":"user","content":"hi"}]}`},
		{"number spelling -0e5", `{"model":"gpt-4o-mini","temperature":-0e5,"messages":[{"role":"user","content":"hi"}]}`},
		{"escaped string", `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"\u0075ser","content":"h\u0069"}]}`},
		{"escaped member name", `{"model":"gpt-4o-mini","temp\u0065rature":0,"messages":[{"role":"user","content":"hi"}]}`},
		{"stream", `{"model":"gpt-4o-mini","temperature":0,"stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`},
		{"user and metadata", `{"user":"u1","metadata":{"a":"b"},"store":true,"service_tier":"flex","model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi"}]}`},
		{"prompt cache hints", `{"prompt_cache_key":"x","safety_identifier":"s","model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi"}]}`},
		{"duplicate member, last wins", `{"model":"gpt-4o-mini","temperature":0.7,"temperature":0,"messages":[{"role":"user","content":"hi"}]}`},
	}
	want := mustKey(t, KeyInput{Endpoint: chatPath, Body: []byte(base)})
	for _, tc := range same {
		t.Run("same/"+tc.name, func(t *testing.T) {
			if got := mustKey(t, KeyInput{Endpoint: chatPath, Body: []byte(tc.body)}); got != want {
				t.Errorf("key differs from the base request's")
			}
		})
	}
	different := []struct{ name, body string }{
		{"temperature", `{"model":"gpt-4o-mini","temperature":0.2,"messages":[{"role":"user","content":"hi"}]}`},
		{"temperature absent", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"model", `{"model":"gpt-4o","temperature":0,"messages":[{"role":"user","content":"hi"}]}`},
		{"message content", `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi!"}]}`},
		{"message role", `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"system","content":"hi"}]}`},
		{"message order", `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi"},{"role":"user","content":"yo"}]}`},
		{"seed", `{"model":"gpt-4o-mini","temperature":0,"seed":1,"messages":[{"role":"user","content":"hi"}]}`},
		{"n", `{"model":"gpt-4o-mini","temperature":0,"n":2,"messages":[{"role":"user","content":"hi"}]}`},
		{"logprobs", `{"model":"gpt-4o-mini","temperature":0,"logprobs":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"unknown field", `{"model":"gpt-4o-mini","temperature":0,"x_new":1,"messages":[{"role":"user","content":"hi"}]}`},
		{"nested ignored name is kept", `{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi","user":"x"}]}`},
		{"string vs number", `{"model":"gpt-4o-mini","temperature":"0","messages":[{"role":"user","content":"hi"}]}`},
	}
	seen := map[Key]string{want: "base"}
	for _, tc := range different {
		t.Run("different/"+tc.name, func(t *testing.T) {
			got := mustKey(t, KeyInput{Endpoint: chatPath, Body: []byte(tc.body)})
			if prev, dup := seen[got]; dup {
				t.Errorf("same key as %q", prev)
			}
			seen[got] = tc.name
		})
	}
}

func TestKeyNumbers(t *testing.T) {
	equal := [][2]string{
		{"1", "1.0"}, {"1", "1.000"}, {"1", "10e-1"}, {"1", "0.1e1"}, {"100", "1e2"}, {"100", "1E+2"},
		{"0.5", "5e-1"}, {"0", "-0"}, {"0", "0.000e10"}, {"-1.5", "-15e-1"}, {"10.05", "1005e-2"},
		{"12345678901234567890", "1.2345678901234567890e19"},
	}
	for _, p := range equal {
		t.Run(p[0]+"=="+p[1], func(t *testing.T) {
			a := mustKey(t, KeyInput{Body: []byte(p[0])})
			b := mustKey(t, KeyInput{Body: []byte(p[1])})
			if a != b {
				t.Errorf("%s and %s differ", p[0], p[1])
			}
		})
	}
	unequal := [][2]string{
		{"1", "-1"}, {"1", "10"}, {"0.1", "0.10000000000000001"}, {"9007199254740993", "9007199254740992"},
		{"1e1000000000000000000", "1e1000000000000000001"}, {"1.5", "15"}, {"100", "10"},
	}
	for _, p := range unequal {
		t.Run(p[0]+"!="+p[1], func(t *testing.T) {
			a := mustKey(t, KeyInput{Body: []byte(p[0])})
			b := mustKey(t, KeyInput{Body: []byte(p[1])})
			if a == b {
				t.Errorf("%s and %s share a key", p[0], p[1])
			}
		})
	}
}

func TestKeyStrings(t *testing.T) {
	equal := [][2]string{
		{`"é"`, `"\u00e9"`}, {`"😀"`, `"\ud83d\ude00"`}, {`"a/b"`, `"a\/b"`},
		{`"\ud800"`, `"\ufffd"`}, {"\"\xff\"", `"\ufffd"`}, {`"\ud800\u0041"`, `"\ufffdA"`},
		{`"\n\t\r\b\f"`, `"\u000a\u0009\u000d\u0008\u000c"`},
	}
	for _, p := range equal {
		t.Run(p[0], func(t *testing.T) {
			if mustKey(t, KeyInput{Body: []byte(p[0])}) != mustKey(t, KeyInput{Body: []byte(p[1])}) {
				t.Errorf("%s and %s differ", p[0], p[1])
			}
		})
	}
}

func TestKeyInvalidJSON(t *testing.T) {
	for _, body := range []string{
		``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `01`, `1.`, `1e`, `-`, `"\x"`, `"\u12"`,
		"\"a\x01\"", `tru`, `{} {}`, `{"a":1 "b":2}`, `{1:2}`, `"abc`, `[`, strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	} {
		t.Run(body, func(t *testing.T) {
			_, err := ComputeKey(KeyInput{Body: []byte(body)})
			if !errors.Is(err, ErrInvalidJSON) {
				t.Errorf("err = %v, want ErrInvalidJSON", err)
			}
			if json.Valid([]byte(body)) {
				t.Errorf("json.Valid accepts it")
			}
		})
	}
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	if _, err := ComputeKey(KeyInput{Body: []byte(deep)}); err != nil {
		t.Errorf("depth 10000: %v", err)
	}
}

func TestKeyScopesIsolated(t *testing.T) {
	body := []byte(`{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}`)
	scopes := []Scope{
		{}, {Kind: ScopeKey, ID: "alice"}, {Kind: ScopeKey, ID: "bob"}, {Kind: ScopeOrg, ID: "alice"},
		{Kind: ScopeOrg, ID: "acme"}, {Kind: ScopeGlobal}, {Kind: ScopeKey, ID: "a:1"}, {Kind: ScopeKey, ID: "a"},
	}
	seenKey := map[Key]Scope{}
	seenSum := map[[32]byte]Scope{}
	seenStr := map[string]Scope{}
	for _, s := range scopes {
		k := mustKey(t, KeyInput{Endpoint: chatPath, Scope: s, Body: body})
		if k.Scope != s {
			t.Errorf("key of %+v has scope %+v", s, k.Scope)
		}
		if prev, ok := seenKey[k]; ok {
			t.Errorf("%+v and %+v share a key", s, prev)
		}
		if prev, ok := seenSum[k.Sum]; ok {
			t.Errorf("%+v and %+v share a sum", s, prev)
		}
		if prev, ok := seenStr[k.String()]; ok {
			t.Errorf("%+v and %+v share a string form %s", s, prev, k)
		}
		seenKey[k], seenSum[k.Sum], seenStr[k.String()] = s, s, s
	}
	// The same request under the same scope is one key.
	a := mustKey(t, KeyInput{Endpoint: chatPath, Scope: Scope{ID: "alice"}, Body: body})
	b := mustKey(t, KeyInput{Endpoint: chatPath, Scope: NewScope(ScopeKey, "alice", "acme"), Body: body})
	if a != b {
		t.Error("same scope, same request: keys differ")
	}
}

func TestKeyStringSeparatorProof(t *testing.T) {
	// An id holding the separator must not let one scope's string form
	// equal another's: "a:1" + sum vs "a" + a sum starting with "1:".
	k1 := Key{Scope: Scope{ID: "a:1"}}
	k2 := Key{Scope: Scope{ID: "a"}}
	if strings.HasPrefix(k1.String(), k2.String()[:len("key:1:a")]) {
		t.Errorf("%s starts like %s", k1, k2)
	}
	if got := k2.String(); !strings.HasPrefix(got, "key:1:a:") || len(got) != len("key:1:a:")+64 {
		t.Errorf("String() = %q", got)
	}
}

func TestNewScope(t *testing.T) {
	tests := []struct {
		kind     ScopeKind
		key, org string
		want     Scope
	}{
		{ScopeKey, "alice", "acme", Scope{ScopeKey, "alice"}},
		{ScopeOrg, "alice", "acme", Scope{ScopeOrg, "acme"}},
		{ScopeOrg, "alice", "", Scope{ScopeKey, "alice"}},
		{ScopeGlobal, "alice", "acme", Scope{ScopeGlobal, ""}},
		{ScopeKey, "", "", Scope{}},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String()+"/"+tc.key+"/"+tc.org, func(t *testing.T) {
			if got := NewScope(tc.kind, tc.key, tc.org); got != tc.want {
				t.Errorf("NewScope = %+v, want %+v", got, tc.want)
			}
		})
	}
	for s, want := range map[string]ScopeKind{"": ScopeKey, "key": ScopeKey, "org": ScopeOrg, "global": ScopeGlobal} {
		if got, err := ParseScopeKind(s); err != nil || got != want {
			t.Errorf("ParseScopeKind(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseScopeKind("tenant"); err == nil {
		t.Error("ParseScopeKind(tenant): no error")
	}
}

func TestKeyModel(t *testing.T) {
	alias := []byte(`{"model":"gpt-4","temperature":0,"messages":[]}`)
	pinned := []byte(`{"model":"gpt-4-0613","temperature":0,"messages":[]}`)
	a := mustKey(t, KeyInput{Endpoint: chatPath, Model: "gpt-4-0613", Body: alias})
	b := mustKey(t, KeyInput{Endpoint: chatPath, Model: "gpt-4-0613", Body: pinned})
	if a != b {
		t.Error("an alias and its target resolved to the same model: keys differ")
	}
	c := mustKey(t, KeyInput{Endpoint: chatPath, Body: alias})
	d := mustKey(t, KeyInput{Endpoint: chatPath, Body: pinned})
	if c == d || c == a {
		t.Error("without a resolved model the body's model must count")
	}
	e := mustKey(t, KeyInput{Endpoint: "/v1/completions", Model: "gpt-4-0613", Body: alias})
	if e == a {
		t.Error("endpoints share a key")
	}
}

func TestKeyerIgnored(t *testing.T) {
	k := NewKeyer([]string{"user"})
	a, _ := k.Key(KeyInput{Body: []byte(`{"user":"a","stream":true}`)})
	b, _ := k.Key(KeyInput{Body: []byte(`{"user":"b","stream":true}`)})
	c, _ := k.Key(KeyInput{Body: []byte(`{"user":"b","stream":false}`)})
	if a != b {
		t.Error("ignored field changed the key")
	}
	if b == c {
		t.Error("stream is not ignored by this Keyer, but did not change the key")
	}
}

// chatRequest1K is a realistic chat request of about 1 KiB.
var chatRequest1K = func() []byte {
	b := []byte(`{"model":"gpt-4o-mini","temperature":0,"seed":42,"max_tokens":256,"stream":true,` +
		`"stream_options":{"include_usage":true},"user":"user-1234",` +
		`"messages":[{"role":"system","content":"You are a concise assistant. Answer in one short paragraph and cite no sources."},` +
		`{"role":"user","content":"What is the capital of France, and why did it become the capital? Please keep it short."},` +
		`{"role":"assistant","content":"Paris. It grew around the Île de la Cité, was the seat of the Capetian kings from the 10th century, and stayed the centre of administration, trade and culture."},` +
		`{"role":"user","content":"And what about Germany? Give the year the capital moved, and the city it moved from."}],` +
		`"tools":[{"type":"function","function":{"name":"lookup_capital","description":"Look up the capital city of a country.",` +
		`"parameters":{"type":"object","properties":{"country":{"type":"string","description":"Country name in English"},` +
		`"as_of_year":{"type":"integer","minimum":1000,"maximum":2100}},"required":["country"],"additionalProperties":false}}}],` +
		`"tool_choice":"auto"}`)
	if !json.Valid(b) {
		panic("invalid fixture")
	}
	return b
}()

// chatRequestGo1K is the request of chatRequest1K as openai-go v3.98.0
// marshals it (ChatCompletionNewParams; without stream, with the same
// user): its struct fields and maps come out almost in the canonical
// order, where chatRequest1K has almost every object out of order.
var chatRequestGo1K = []byte(`{"messages":[{"content":"You are a concise assistant. Answer in one short paragraph and cite no sources.","role":"system"},` +
	`{"content":"What is the capital of France, and why did it become the capital? Please keep it short.","role":"user"},` +
	`{"content":"Paris. It grew around the Île de la Cité, was the seat of the Capetian kings from the 10th century, and stayed the centre of administration, trade and culture.","role":"assistant"},` +
	`{"content":"And what about Germany? Give the year the capital moved, and the city it moved from.","role":"user"}],` +
	`"model":"gpt-4o-mini","max_tokens":256,"seed":42,"temperature":0,"user":"user-1234","tool_choice":"auto",` +
	`"tools":[{"function":{"name":"lookup_capital","description":"Look up the capital city of a country.",` +
	`"parameters":{"additionalProperties":false,"properties":{"as_of_year":{"maximum":2100,"minimum":1000,"type":"integer"},` +
	`"country":{"description":"Country name in English","type":"string"}},"required":["country"],"type":"object"}},"type":"function"}]}`)

// TestKeySameRequestTwoClients: the same request written by hand in one
// member order and by openai-go in another (and streamed or not) has one
// key.
func TestKeySameRequestTwoClients(t *testing.T) {
	in := KeyInput{Endpoint: chatPath, Model: "gpt-4o-mini", Scope: Scope{ID: "alice"}}
	in.Body = chatRequest1K
	a := mustKey(t, in)
	in.Body = chatRequestGo1K
	if b := mustKey(t, in); a != b {
		t.Errorf("keys differ: %x, %x", a.Sum, b.Sum)
	}
}

// chatRequestPlain1K is a chat request of about 1 KiB without tools: four
// messages of prose, so fewer and longer strings than chatRequest1K.
var chatRequestPlain1K = []byte(`{"model":"gpt-4o-mini","temperature":0,"max_tokens":300,"messages":[` +
	`{"role":"system","content":"You are a support assistant for an online bookshop. Answer briefly and politely. If you do not know an order's status, say so and offer to open a ticket; never invent tracking numbers or delivery dates. Keep answers under 120 words."},` +
	`{"role":"user","content":"Hi, I ordered two paperbacks last Tuesday (order 88213) and the site still says 'processing'. Is that normal? I need them by the 14th for a book club."},` +
	`{"role":"assistant","content":"Hello! Orders usually leave our warehouse within three working days, so 'processing' after a week is longer than usual. I cannot see live order status, but I can open a ticket so the team checks order 88213 today and replies by email."},` +
	`{"role":"user","content":"Yes please, open a ticket. And can you tell me whether express shipping would still get them to me on time if I upgrade now?"}]}`)

// chatRequestTurns1K is middleware's BenchmarkDecodeChat1KiB request: a
// system prompt and short user and assistant turns, the answers with a
// newline and quotes, escaped as every JSON encoder writes them.
var chatRequestTurns1K = func() []byte {
	b := []byte(`{"model":"gpt-4o-mini","temperature":0.7,"max_tokens":512,"messages":[` +
		`{"role":"system","content":"You are a helpful assistant. Answer briefly and cite sources when you can."}`)
	for turn := 0; len(b) < 1024-120; turn++ {
		if turn%2 == 0 {
			b = fmt.Appendf(b, `,{"role":"user","content":"Question %d: what is the capital of France, and why is it there?"}`, turn)
		} else {
			b = fmt.Appendf(b, `,{"role":"assistant","content":"Paris.\nIt grew on the Seine, a \"natural\" trade route (turn %d)."}`, turn)
		}
	}
	return append(b, "]}"...)
}()

func TestFixtureSize(t *testing.T) {
	if n := len(chatRequestPlain1K); n < 900 || n > 1200 || !json.Valid(chatRequestPlain1K) {
		t.Errorf("plain fixture is %d bytes (valid %v), want about 1 KiB", n, json.Valid(chatRequestPlain1K))
	}
	if n := len(chatRequestTurns1K); n < 900 || n > 1200 || !json.Valid(chatRequestTurns1K) {
		t.Errorf("short-turns fixture is %d bytes (valid %v), want about 1 KiB", n, json.Valid(chatRequestTurns1K))
	}
	if n := len(chatRequest1K); n < 900 || n > 1200 {
		t.Errorf("fixture is %d bytes, want about 1 KiB", n)
	}
}

func BenchmarkKey(b *testing.B) {
	body := chatRequest1K
	key := func(body []byte) func(*testing.B) {
		return func(b *testing.B) {
			in := KeyInput{Endpoint: chatPath, Model: "gpt-4o-mini", Scope: Scope{ID: "alice"}, Body: body}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				if _, err := ComputeKey(in); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu)
		}
	}
	b.Run("canonical", key(body))
	b.Run("openai-go", key(chatRequestGo1K))      // the same request in openai-go's member order
	b.Run("plain-chat", key(chatRequestPlain1K))  // about 1 KiB of messages, no tools
	b.Run("short-turns", key(chatRequestTurns1K)) // 13 short messages, escapes
	b.Run("plain-chat/baseline=sha256-raw", func(b *testing.B) {
		b.SetBytes(int64(len(chatRequestPlain1K)))
		b.ReportAllocs()
		for b.Loop() {
			_ = sha256.Sum256(chatRequestPlain1K)
		}
	})
	b.Run("form-only", benchCanonForm(body)) // the canonicaliser without the hash
	canonical, err := canonicalForm(body, true)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("form-only/canonical-input", benchCanonForm(canonical)) // a body that is its own canonical form: parse alone
	b.Run("baseline=sha256-raw", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			_ = sha256.Sum256(body)
		}
		reportCPU(b, cpu)
	})
	b.Run("baseline=sha512_256-raw", func(b *testing.B) { // the other stdlib hash of its strength
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			_ = sha512.Sum512_256(body)
		}
		reportCPU(b, cpu)
	})
	b.Run("baseline=json-roundtrip", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v map[string]any
			d := json.NewDecoder(bytes.NewReader(body))
			d.UseNumber()
			if err := d.Decode(&v); err != nil {
				b.Fatal(err)
			}
			for _, f := range DefaultIgnoredFields {
				delete(v, f)
			}
			out, err := json.Marshal(v)
			if err != nil {
				b.Fatal(err)
			}
			_ = sha256.Sum256(out)
		}
	})
}

func TestKeyUnterminatedLongString(t *testing.T) {
	for n := 0; n < 40; n++ {
		body := `"` + strings.Repeat("a", n)
		if _, err := ComputeKey(KeyInput{Body: []byte(body)}); !errors.Is(err, ErrInvalidJSON) {
			t.Fatalf("%q: err = %v", body, err)
		}
	}
}
