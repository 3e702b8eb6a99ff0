package wire

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzAppendString: AppendString writes a JSON string that decodes to
// what encoding/json's own encoding of s decodes to (invalid UTF-8 as
// U+FFFD), and leaves <, > and & as they are.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "Paris.", `<b>"quoted" & \back</b>`, "tab\tnl\ncr\r\x00\x1f\x7f", "é😀\u2028", "\xff\xfe bad", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := AppendString([]byte("x"), s)[1:]
		if !json.Valid(got) {
			t.Fatalf("%q: %s is not JSON", s, got)
		}
		var dec, want string
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(got, &dec); err != nil || json.Unmarshal(ref, &want) != nil || dec != want {
			t.Fatalf("%q: %s decodes to %q (%v), encoding/json's to %q", s, got, dec, err, want)
		}
		if bytes.Contains(got, []byte(`\u003c`)) || bytes.Contains(got, []byte(`\u0026`)) {
			t.Fatalf("%q: %s escapes HTML", s, got)
		}
	})
}

// TestContentMarshalEscaping: text content leaves escaping <, > and & to
// the encoder, as other strings do: json.Marshal escapes them, an encoder
// told not to (as OpenAI writes its answers) does not.
func TestContentMarshalEscaping(t *testing.T) {
	m := Message{Role: "assistant", Content: TextContent("<b>Paris</b> & more")}
	escaped, err := json.Marshal(m)
	if err != nil || !bytes.Contains(escaped, []byte(`\u003cb\u003eParis\u003c/b\u003e \u0026 more`)) {
		t.Errorf("json.Marshal: %s (%v)", escaped, err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil || !bytes.Contains(buf.Bytes(), []byte(`"<b>Paris</b> & more"`)) {
		t.Errorf("without HTML escaping: %s (%v)", buf.Bytes(), err)
	}
}
