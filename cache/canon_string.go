package cache

import (
	"unicode/utf8"

	"github.com/llmgate/llmgate/internal/jsonscan"
)

// plainString returns the index of the quote that closes the string whose
// body starts at s[i], or -1 if the body needs decoding (it holds an
// escape or invalid UTF-8) or is not valid (a control byte, no closing
// quote), which strSlow sorts out. A plain body decodes to itself. The
// scan (jsonscan.PlainText) stops only at bytes that need a look: a
// quote, a backslash, a control byte or the first byte of a multi-byte
// rune.
func plainString(s []byte, i int) int {
	for {
		if i = jsonscan.PlainText(s, i); i >= len(s) {
			return -1
		}
		ch := s[i]
		switch {
		case strClass[ch] == 0:
			i++
		case ch == '"':
			return i
		case ch < utf8.RuneSelf:
			return -1 // a backslash or a control byte
		case ch >= 0xc2 && ch < 0xe0 && i+1 < len(s) && s[i+1]&0xc0 == 0x80:
			i += 2 // a two-byte rune (é, Î, most of Latin, Greek, Cyrillic)
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				return -1 // invalid UTF-8 becomes U+FFFD
			}
			i += size
		}
	}
}

// unescape decodes src[start:end] (a string body) into c.scratch.
func (c *canon) unescape(start, end int) ([]byte, error) {
	s := c.src[:end]
	out := c.scratch[:0]
	for r := start; r < end; {
		ch := s[r]
		switch {
		case ch == '\\':
			if r+1 >= end {
				c.pos = r
				return nil, c.errorf("invalid escape")
			}
			rr, n, ok := jsonscan.Unescape(s[r:])
			if !ok {
				c.pos = r
				if s[r+1] == 'u' {
					return nil, c.errorf("invalid \\u escape")
				}
				return nil, c.errorf("invalid escape character %q", s[r+1])
			}
			out = utf8.AppendRune(out, rr)
			r += n
		case ch < utf8.RuneSelf:
			out = append(out, ch)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			if rr == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, s[r:r+size]...)
			}
			r += size
		}
	}
	c.scratch = out
	return out, nil
}

// strClass is non-zero for the bytes the string scanner must look at: a
// quote, a backslash, a control byte or a byte that is not ASCII.
var strClass = func() (t [256]uint8) {
	for i := range t {
		if i < 0x20 || i == '"' || i == '\\' || i >= utf8.RuneSelf {
			t[i] = 1
		}
	}
	return t
}()

// strSlow reads the string whose body starts at c.src[start], one that
// plainString did not pass: it holds an escape or a byte that is not
// valid UTF-8, or it is not valid at all. c.src[start:from] is known to be
// plain ASCII. It sets c.pos after the closing quote. A body that is
// canonical as written (valid UTF-8 whose escapes are all ones
// appendCanonString writes, such as \n, \" and \u001b) is left where it
// is: asWritten is true and nothing is written. Otherwise the string's
// canonical form goes to c.aux with its quotes. dec is the decoded string
// (valid until the next call) when decode is set or the body had to be
// decoded anyway; nil otherwise.
func (c *canon) strSlow(start, from int, decode bool) (dec []byte, asWritten bool, err error) {
	s := c.src
	i := from
	escaped, rewrite, ascii := false, false, true
scan:
	for i < len(s) {
		if i+8 <= len(s) && strClass[s[i]] == 0 {
			if i = jsonscan.PlainText(s, i); i >= len(s) {
				break
			}
		}
		switch ch := s[i]; {
		case strClass[ch] == 0:
			i++
		case ch == '"':
			break scan
		case ch == '\\':
			escaped = true
			if i+1 < len(s) && !canonEscape[s[i+1]] {
				if n := canonUEscape(s[i:]); n > 0 {
					i += n
					continue
				}
				rewrite = true // \/, another \uXXXX, or not valid: unescape decides
			}
			i += 2 // the escaped byte cannot close the string
		case ch < 0x20:
			c.pos = i
			return nil, false, c.errorf("invalid control character in string")
		default: // not ASCII
			ascii = false
			i++
		}
	}
	if i >= len(s) {
		c.pos = len(s)
		return nil, false, c.errorf("unexpected end of input in string")
	}
	body := s[start:i]
	rewrite = rewrite || !ascii && !utf8.Valid(body)
	if rewrite || escaped && decode {
		if dec, err = c.unescape(start, i); err != nil {
			return nil, false, err
		}
	} else if decode {
		dec = body
	}
	c.pos = i + 1
	if !rewrite {
		return dec, true, nil
	}
	buf := append(c.aux, '"')
	buf = appendCanonString(buf, dec)
	c.aux = append(buf, '"')
	return dec, false, nil
}

// canonUEscape returns 6 when s opens with a \u escape that
// appendCanonString writes as it is: \u00XX in lower-case hex for a control
// byte without a short escape (\u001b, the escape of terminal colours, as
// encoding/json and Python write it). It returns 0 otherwise.
func canonUEscape(s []byte) int {
	if len(s) < 6 || s[1] != 'u' || s[2] != '0' || s[3] != '0' || s[4] > '1' || s[4] < '0' {
		return 0
	}
	lo := s[5]
	var v byte
	switch {
	case lo >= '0' && lo <= '9':
		v = lo - '0'
	case lo >= 'a' && lo <= 'f':
		v = lo - 'a' + 10
	default:
		return 0
	}
	if v += (s[4] - '0') << 4; shortEscape[v] != 0 {
		return 0
	}
	return 6
}

// canonEscape marks the characters that follow a backslash in the escapes
// appendCanonString writes.
var canonEscape = [256]bool{'"': true, '\\': true, 'b': true, 'f': true, 'n': true, 'r': true, 't': true}

// appendCanonString appends the canonical body of the decoded string dec
// (valid UTF-8): a quote and a backslash are escaped with a backslash, the
// five control bytes that have one (\b \f \n \r \t) with their short
// escape, as encoding/json, Python's json and JavaScript's JSON.stringify
// all write them, other control bytes as \u00XX, and everything else is
// itself. A string that needs no escape is therefore its own canonical
// form, and so is one written by those encoders unless they escaped more
// (non-ASCII as \uXXXX, or <, > and & as Go does), which is what lets
// most of a request's bytes pass through the canonicaliser untouched.
func appendCanonString(buf, dec []byte) []byte {
	const hexDigits = "0123456789abcdef"
	for _, ch := range dec {
		switch {
		case ch == '"' || ch == '\\':
			buf = append(buf, '\\', ch)
		case ch < 0x20:
			if e := shortEscape[ch]; e != 0 {
				buf = append(buf, '\\', e)
			} else {
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&15])
			}
		default:
			buf = append(buf, ch)
		}
	}
	return buf
}

// shortEscape is the letter of a control byte's short escape, or 0.
var shortEscape = [0x20]byte{'\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't'}
