package jsonscan

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the nesting limit of encoding/json's scanner, which Skip
// keeps too, so that it accepts exactly the values json.Valid accepts.
const MaxDepth = 10000

// SyntaxError is JSON that Skip does not accept: Msg at byte offset Off.
type SyntaxError struct {
	Off int
	Msg string
}

func (e *SyntaxError) Error() string {
	return "jsonscan: invalid JSON at byte offset " + strconv.Itoa(e.Off) + ": " + e.Msg
}

// ErrSyntax is what every SyntaxError is (errors.Is).
var ErrSyntax = errors.New("jsonscan: invalid JSON")

// Is makes errors.Is(err, ErrSyntax) true for a SyntaxError.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

func syntaxErr(off int, msg string) error { return &SyntaxError{Off: off, Msg: msg} }

// SkipWS returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Skip passes over the JSON value that starts at b[i], after optional
// whitespace, and returns the index just after it. It checks the value
// as json.Valid does (grammar, escapes, control bytes in strings, nesting
// up to MaxDepth; like encoding/json, it lets bytes that are not valid
// UTF-8 pass), without decoding anything, and never allocates for a value
// nested less than 64 deep. The error is a *SyntaxError.
func Skip(b []byte, i int) (int, error) { return SkipIn(b, i, 0) }

// SkipIn is Skip for a value that is inside outer containers already
// open, which count towards MaxDepth.
func SkipIn(b []byte, i, outer int) (int, error) {
	// open holds a bit per open container, 1 for an object; deeper than
	// 64 the bits spill into more.
	var open uint64
	var more []uint64
	depth := 0
	limit := MaxDepth - outer
	i = SkipWS(b, i)
value:
	if i >= len(b) {
		return 0, syntaxErr(i, "unexpected end of JSON input")
	}
	switch ch := b[i]; ch {
	case '"':
		j, err := SkipString(b, i)
		if err != nil {
			return 0, err
		}
		i = j
	case '{', '[':
		if depth >= limit {
			return 0, syntaxErr(i, "exceeded max depth")
		}
		if depth > 0 && depth%64 == 0 {
			more = append(more, open)
			open = 0
		}
		open = open<<1 | uint64(ch>>5&1) // '{' is 0x7b, '[' 0x5b
		depth++
		i = SkipWS(b, i+1)
		if i < len(b) && b[i] == ch+2 { // '}' or ']'
			i++
			goto closed
		}
		if ch == '{' {
			goto member
		}
		goto value
	case 't':
		if !hasLit(b, i, "true") {
			return 0, syntaxErr(i, "invalid literal")
		}
		i += 4
	case 'f':
		if !hasLit(b, i, "false") {
			return 0, syntaxErr(i, "invalid literal")
		}
		i += 5
	case 'n':
		if !hasLit(b, i, "null") {
			return 0, syntaxErr(i, "invalid literal")
		}
		i += 4
	default:
		j, err := SkipNumber(b, i)
		if err != nil {
			return 0, err
		}
		i = j
	}
next: // a value ended just before b[i]
	if depth == 0 {
		return i, nil
	}
	i = SkipWS(b, i)
	if i >= len(b) {
		return 0, syntaxErr(i, "unexpected end of JSON input")
	}
	if obj := open&1 == 1; b[i] == ',' {
		i = SkipWS(b, i+1)
		if obj {
			goto member
		}
		goto value
	} else if obj && b[i] == '}' || !obj && b[i] == ']' {
		i++
		goto closed
	} else if obj {
		return 0, syntaxErr(i, "invalid character "+strconv.QuoteRune(rune(b[i]))+" after object member")
	}
	return 0, syntaxErr(i, "invalid character "+strconv.QuoteRune(rune(b[i]))+" after array element")

closed: // a container ended just before b[i]
	depth--
	open >>= 1
	if depth > 0 && depth%64 == 0 {
		open, more = more[len(more)-1], more[:len(more)-1]
	}
	goto next

member: // an object member starts at b[i]
	if i >= len(b) || b[i] != '"' {
		return 0, syntaxErr(i, "object key must be a string")
	}
	{
		j, err := SkipString(b, i)
		if err != nil {
			return 0, err
		}
		i = SkipWS(b, j)
	}
	if i >= len(b) || b[i] != ':' {
		return 0, syntaxErr(i, "missing ':' after object key")
	}
	i = SkipWS(b, i+1)
	goto value
}

// hasLit reports whether b[i:] starts with lit.
func hasLit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// SkipString passes over the string whose opening quote is b[i] and
// returns the index just after its closing quote, checking its escapes
// and that it holds no control byte.
func SkipString(b []byte, i int) (int, error) {
	for i = PlainText(b, i+1); ; i = PlainText(b, i) {
		if i >= len(b) {
			return 0, syntaxErr(len(b), "unexpected end of JSON input in string")
		}
		switch ch := b[i]; {
		case ch == '"':
			return i + 1, nil
		case ch == '\\':
			if i+1 >= len(b) {
				return 0, syntaxErr(len(b), "unexpected end of JSON input in string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := Hex4(b[i+2:]); !ok {
					return 0, syntaxErr(i, "invalid \\u escape")
				}
				i += 6
			default:
				return 0, syntaxErr(i+1, "invalid escape character "+strconv.QuoteRune(rune(b[i+1])))
			}
		case ch < 0x20:
			return 0, syntaxErr(i, "invalid control character in string")
		default: // not ASCII: any byte passes, as in encoding/json
			i++
		}
	}
}

// Unescape decodes the escape sequence that starts b (b[0] is the
// backslash) as encoding/json does, and returns its rune and its length;
// ok is false when b holds none: no byte or an unknown one after the
// backslash, or a \u without four hex digits. A \u escape of a UTF-16
// surrogate takes the \u escape after it along when the two make a pair
// (length 12); alone it is U+FFFD (length 6), as encoding/json has it.
func Unescape(b []byte) (r rune, n int, ok bool) {
	if len(b) < 2 {
		return 0, 0, false
	}
	switch e := b[1]; e {
	case '"', '\\', '/':
		return rune(e), 2, true
	case 'b':
		return '\b', 2, true
	case 'f':
		return '\f', 2, true
	case 'n':
		return '\n', 2, true
	case 'r':
		return '\r', 2, true
	case 't':
		return '\t', 2, true
	case 'u':
		if r, ok = Hex4(b[2:]); !ok {
			return 0, 0, false
		}
		if !utf16.IsSurrogate(r) {
			return r, 6, true
		}
		if len(b) >= 12 && b[6] == '\\' && b[7] == 'u' {
			if r2, ok := Hex4(b[8:]); ok {
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					return dec, 12, true
				}
			}
		}
		return utf8.RuneError, 6, true
	}
	return 0, 0, false
}

// Hex4 decodes the four hex digits at the start of b (those of a \u
// escape), either case; ok is false when b holds fewer or another byte.
func Hex4(b []byte) (r rune, ok bool) {
	if len(b) < 4 {
		return 0, false
	}
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// SkipNumber passes over the number that starts at b[i] and returns the
// index just after it, checking JSON's number grammar.
func SkipNumber(b []byte, i int) (int, error) {
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		if i == start && i < len(b) {
			return 0, syntaxErr(i, "invalid character "+strconv.QuoteRune(rune(b[i]))+" looking for beginning of value")
		}
		return 0, syntaxErr(i, "invalid number")
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return 0, syntaxErr(j, "invalid number: no digits after '.'")
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return 0, syntaxErr(j, "invalid number: no digits in exponent")
		}
		i = j
	}
	return i, nil
}

// digits returns the index of the first byte at or after i that is not a
// decimal digit.
func digits(b []byte, i int) int {
	for i < len(b) && b[i]-'0' < 10 {
		i++
	}
	return i
}
