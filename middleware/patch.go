package middleware

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// SetField changes the request the wrapped handler receives: it sets the
// top-level member name of the body to value (encoded as JSON), replacing
// every occurrence of the member or appending it, and leaves every other
// byte of the body as the client sent it. It updates c.Raw and r's body, so
// call it before passing r on. The parsed request (c.Chat, …) is the
// caller's to update.
func (c *Call) SetField(r *http.Request, name string, value any) error {
	v, err := json.Marshal(value)
	if err != nil {
		return fmt.Errorf("middleware: set %s: %w", name, err)
	}
	raw, err := setField(c.Raw, name, v)
	if err != nil {
		return err
	}
	c.Raw = raw
	r.Body = newBodyReader(raw)
	r.ContentLength = int64(len(raw))
	r.GetBody = func() (io.ReadCloser, error) { return newBodyReader(raw), nil }
	return nil
}

// setField returns a copy of the JSON object raw with member name set to
// value: each existing occurrence's value is replaced, or, when there is
// none, the member is appended before the closing brace.
func setField(raw []byte, name string, value []byte) ([]byte, error) {
	d := newScanner(raw)
	d.ws()
	type span struct{ start, end int }
	var spans []span
	for n := 0; ; n++ {
		key, more, err := d.obj(n)
		if err != nil {
			return nil, fmt.Errorf("middleware: set %s: %w", name, err)
		}
		if !more {
			break
		}
		d.ws()
		start := d.i
		if err := d.skip(); err != nil {
			return nil, fmt.Errorf("middleware: set %s: %w", name, err)
		}
		if key == name {
			spans = append(spans, span{start, d.i})
		}
	}
	if len(spans) == 0 {
		// Append before the closing brace (the last byte of the object).
		closing := d.i - 1
		member, _ := json.Marshal(name)
		member = append(member, ':')
		member = append(member, value...)
		out := make([]byte, 0, len(raw)+len(member)+1)
		out = append(out, raw[:closing]...)
		if hasMembers(raw[:closing]) {
			out = append(out, ',')
		}
		out = append(out, member...)
		return append(out, raw[closing:]...), nil
	}
	out := make([]byte, 0, len(raw)+len(value))
	prev := 0
	for _, s := range spans {
		out = append(out, raw[prev:s.start]...)
		out = append(out, value...)
		prev = s.end
	}
	return append(out, raw[prev:]...), nil
}

// hasMembers reports whether the object opened in b (up to, not including,
// its closing brace) has any member: anything but whitespace after '{'.
func hasMembers(b []byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return false
		}
		return true
	}
	return false
}
