package middleware

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSetField(t *testing.T) {
	for _, tc := range []struct {
		raw, name, value, want string
	}{
		{`{"model":"gpt-4","x":{"model":1}}`, "model", `"gpt-4-0613"`, `{"model":"gpt-4-0613","x":{"model":1}}`},
		{`{ "a" : 1 , "model" :  "m"  }`, "model", `"n"`, `{ "a" : 1 , "model" :  "n"  }`},
		{`{"a":1}`, "max_tokens", `5`, `{"a":1,"max_tokens":5}`},
		{`{"a":1 }`, "b", `true`, `{"a":1 ,"b":true}`},
		{`{}`, "b", `null`, `{"b":null}`},
		{` { } `, "b", `1`, ` { "b":1} `},
		{`{"m":1,"m":2}`, "m", `3`, `{"m":3,"m":3}`},
		{`{"unknown_\u00e9":[1,{"deep":"v"}],"stream_options":{"include_usage":false}}`, "stream_options", `{"include_usage":true}`,
			`{"unknown_\u00e9":[1,{"deep":"v"}],"stream_options":{"include_usage":true}}`},
	} {
		got, err := setField([]byte(tc.raw), tc.name, []byte(tc.value))
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if string(got) != tc.want {
			t.Errorf("setField(%s, %s)\n got %s\nwant %s", tc.raw, tc.name, got, tc.want)
		}
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":1`} {
		if _, err := setField([]byte(bad), "a", []byte("1")); err == nil {
			t.Errorf("setField(%q) accepted", bad)
		}
	}
}

func TestCallSetFieldUpdatesBody(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader("ignored"))
	c := &Call{Raw: []byte(`{"model":"a","extra":[1]}`)}
	if err := c.SetField(r, "model", "b"); err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	want := `{"model":"b","extra":[1]}`
	if string(body) != want || string(c.Raw) != want || r.ContentLength != int64(len(want)) {
		t.Errorf("body %s raw %s length %d", body, c.Raw, r.ContentLength)
	}
	again, _ := r.GetBody()
	if b, _ := io.ReadAll(again); string(b) != want {
		t.Errorf("GetBody %s", b)
	}
}
