package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/llmgate/llmgate/wire"
)

// seg is one step of a parameter path: a member name, or an index when
// name is empty.
type seg struct {
	name string
	idx  int
}

// fieldError is a bad value at a path. The path is collected while the
// error travels up the decoder (each level prepends its step), so building
// it costs nothing on success; the message is rendered once the whole path
// is known.
type fieldError struct {
	rev  []seg // path, innermost step first
	code string
	msg  func(param string) string
}

func (e *fieldError) Error() string { return "middleware: " + e.msg(e.param()) }

func (e *fieldError) param() string {
	var b strings.Builder
	for k := len(e.rev) - 1; k >= 0; k-- {
		s := e.rev[k]
		switch {
		case s.name == "":
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.name)
		}
	}
	return b.String()
}

func (e *fieldError) wire() *wire.Error {
	p := e.param()
	return &wire.Error{Status: http.StatusBadRequest, Type: wire.TypeInvalidRequest, Code: e.code, Param: p, Message: e.msg(p)}
}

// at prefixes the path of a field error with the member name.
func at(err error, name string) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		fe.rev = append(fe.rev, seg{name: name})
	}
	return err
}

// atIdx prefixes the path of a field error with an array index.
func atIdx(err error, i int) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		fe.rev = append(fe.rev, seg{idx: i})
	}
	return err
}

// newFieldError returns a field error for the value itself (an empty path
// that callers extend with at and atIdx).
func newFieldError(code string, msg func(param string) string) *fieldError {
	return &fieldError{code: code, msg: msg}
}

// quoteValue renders a user-sent value for a message: quoted, and cut when
// long.
func quoteValue(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "…"
	}
	return "'" + s + "'"
}

// typeError is a value of the wrong JSON type: want is "a string",
// "a number", …; the value starts at d.i.
func (d *scanner) typeError(want string) error {
	c := d.peek()
	lit := ""
	if c == '-' || ('0' <= c && c <= '9') {
		lit, _ = d.num()
	}
	got := kindOf(c, lit)
	return newFieldError(wire.CodeInvalidType, func(p string) string {
		return fmt.Sprintf("Invalid type for '%s': expected %s, but got %s instead.", p, want, got)
	})
}

// missing is a required member that is absent.
func missing() *fieldError {
	return newFieldError(wire.CodeMissingRequired, func(p string) string {
		return fmt.Sprintf("Missing required parameter: '%s'.", p)
	})
}

// invalid is a value of the right type that breaks a rule; detail says
// which, after "Invalid '<param>': ".
func invalid(detail string) *fieldError {
	return newFieldError(wire.CodeInvalidValue, func(p string) string {
		return fmt.Sprintf("Invalid '%s': %s", p, detail)
	})
}

// isNull consumes a null and reports whether there was one.
func (d *scanner) isNull() (bool, error) {
	if d.peek() != 'n' {
		return false, nil
	}
	return true, d.word("null")
}

// getString reads a string; null reads as "" (absent).
func (d *scanner) getString() (string, error) {
	switch d.peek() {
	case '"':
		return d.str()
	case 'n':
		return "", d.word("null")
	}
	return "", d.typeError("a string")
}

// reqString reads a string that may not be null.
func (d *scanner) reqString() (string, error) {
	if d.peek() == '"' {
		return d.str()
	}
	return "", d.typeError("a string")
}

// getFloat reads a number; ok is false for null.
func (d *scanner) getFloat() (v float64, ok bool, err error) {
	switch c := d.peek(); {
	case c == 'n':
		return 0, false, d.word("null")
	case c == '-' || ('0' <= c && c <= '9'):
		lit, err := d.num()
		if err != nil {
			return 0, false, err
		}
		v, err := strconv.ParseFloat(lit, 64)
		if err != nil {
			return 0, false, invalid("number " + lit + " is out of range.")
		}
		return v, true, nil
	}
	return 0, false, d.typeError("a decimal")
}

// getInt reads an integer; ok is false for null. A decimal ("2.0") is a
// type error, as it is for encoding/json and OpenAI.
func (d *scanner) getInt() (v int64, ok bool, err error) {
	switch c := d.peek(); {
	case c == 'n':
		return 0, false, d.word("null")
	case c == '-' || ('0' <= c && c <= '9'):
		start := d.i
		lit, err := d.num()
		if err != nil {
			return 0, false, err
		}
		if kindOf(c, lit) != "an integer" {
			d.i = start
			return 0, false, d.typeError("an integer")
		}
		v, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return 0, false, invalid("integer " + lit + " is out of range.")
		}
		return v, true, nil
	}
	return 0, false, d.typeError("an integer")
}

// getBool reads a boolean; ok is false for null.
func (d *scanner) getBool() (v bool, ok bool, err error) {
	switch d.peek() {
	case 't':
		return true, true, d.word("true")
	case 'f':
		return false, true, d.word("false")
	case 'n':
		return false, false, d.word("null")
	}
	return false, false, d.typeError("a boolean")
}

// expectObject returns a type error unless the next value is an object.
func (d *scanner) expectObject() error {
	if d.peek() != '{' {
		return d.typeError("an object")
	}
	return nil
}

// expectArray returns a type error unless the next value is an array.
func (d *scanner) expectArray() error {
	if d.peek() != '[' {
		return d.typeError("an array")
	}
	return nil
}

// getStop reads stop: null, a string or an array of strings.
func (d *scanner) getStop() (wire.Stop, error) {
	switch d.peek() {
	case 'n':
		return nil, d.word("null")
	case '"':
		s, err := d.str()
		return wire.Stop{s}, err
	case '[':
		out := wire.Stop{}
		for n := 0; ; n++ {
			more, err := d.arr(n)
			if err != nil {
				return nil, err
			}
			if !more {
				return out, nil
			}
			s, err := d.reqString()
			if err != nil {
				return nil, atIdx(err, n)
			}
			out = append(out, s)
		}
	}
	return nil, d.typeError("a string or an array of strings")
}

// getLogitBias reads logit_bias: an object of numbers. Keys are checked
// by validation; values must be numbers here.
func (d *scanner) getLogitBias() (map[string]float64, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectObject(); err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for n := 0; ; n++ {
		k, more, err := d.obj(n)
		if err != nil || !more {
			return m, err
		}
		v, ok, err := d.getFloat()
		if err == nil && !ok {
			err = d.typeErrorNull("a decimal")
		}
		if err != nil {
			return nil, at(err, k)
		}
		m[k] = v
	}
}

// typeErrorNull is the type error for a null where null is not allowed
// (the null was already consumed).
func (d *scanner) typeErrorNull(want string) error {
	return newFieldError(wire.CodeInvalidType, func(p string) string {
		return fmt.Sprintf("Invalid type for '%s': expected %s, but got null instead.", p, want)
	})
}

// getMetadata reads an object of strings.
func (d *scanner) getMetadata() (map[string]string, error) {
	if null, err := d.isNull(); null || err != nil {
		return nil, err
	}
	if err := d.expectObject(); err != nil {
		return nil, err
	}
	m := map[string]string{}
	for n := 0; ; n++ {
		k, more, err := d.obj(n)
		if err != nil || !more {
			return m, err
		}
		v, err := d.reqString()
		if err != nil {
			return nil, at(err, k)
		}
		m[k] = v
	}
}

// other passes over the value of a member the decoder does not read. It
// refuses one whose name differs only in case from a member of the
// request llmgate reads ("Model" beside "model"): an upstream written with
// encoding/json reads it as that member, the last of the two winning, one
// in Python does not, so the gateway could check one model, one message or
// one max_tokens while the upstream uses another.
func (d *scanner) other(key string) error {
	if twin, ok := caseTwin(key, requestNames...); ok {
		return newFieldError(wire.CodeUnknownParameter, func(p string) string {
			return fmt.Sprintf("Unrecognized request argument supplied: %s. Parameter names are case-sensitive: did you mean '%s'?", p, twin)
		})
	}
	return d.skip()
}

// caseTwin returns the one of names that key equals without regard to
// case (as encoding/json matches names, Unicode folding included), when
// key is not that name itself. The names must be lower-case ASCII, as
// OpenAI's member names are.
func caseTwin(key string, names ...string) (string, bool) {
	if isLowerASCII(key) {
		return "", false // key is one of the names or none of their twins
	}
	for _, name := range names {
		if strings.EqualFold(key, name) {
			return name, true
		}
	}
	return "", false
}

// hasCaseTwin reports whether caseTwin finds one.
func hasCaseTwin(key string, names ...string) bool {
	_, ok := caseTwin(key, names...)
	return ok
}

func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// requestNames are the member names of the request types the decoder
// fills, taken from their json tags.
var requestNames = func() []string {
	seen := map[string]bool{}
	var names []string
	var walk func(t reflect.Type)
	visited := map[reflect.Type]bool{}
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || visited[t] {
			return
		}
		visited[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
			walk(f.Type)
		}
	}
	for _, v := range []any{wire.ChatCompletionRequest{}, wire.CompletionRequest{}, wire.ModerationRequest{}} {
		walk(reflect.TypeOf(v))
	}
	return names
}()
