package moderation

import (
	"math/bits"
	"strings"
)

// Byte classes of the detectors' scanner.
const (
	clsWord   = 1 << iota // letters, digits, '_', '-', '.': no word starts after one
	clsStart              // a byte detectAt can match at
	clsLetter             // an ASCII letter: see letterMayStart
)

// letterPairs holds, for each letter c, the set of bytes d such that a
// word starting "cd" can pass letterMayStart: a quick first filter.
var letterPairs = func() (t [256][4]uint64) {
	for c := range 256 {
		for d := range 256 {
			cb, db := byte(c), byte(d)
			if isUpper(cb) && isUpper(db) || keySecond[c][d/64]&(1<<(d%64)) != 0 ||
				cb == 'e' && db == 'y' || isHex(cb) && (isHex(db) || db == ':') {
				t[c][d/64] |= 1 << (d % 64)
			}
		}
	}
	return t
}()

// letterMayStart reports whether detectAt can match at a word starting with
// the letter text[i]. After an upper-case letter an AWS key, an IBAN and
// the API-key prefix "AIza" all need a second upper-case letter; after a
// lower-case one, an API-key prefix needs its second byte and a JWT
// "eyJ"; either may be a hex digit right before a ':' (IPv6).
func letterMayStart(text string, i int) bool {
	if i+1 == len(text) {
		return false
	}
	if d := text[i+1]; letterPairs[text[i]][d/64]&(1<<(d%64)) == 0 {
		return false
	}
	c := text[i]
	if i+1 < len(text) {
		d := text[i+1]
		if isUpper(c) && isUpper(d) || keySecond[c][d/64]&(1<<(d%64)) != 0 {
			return true
		}
	}
	return c == 'e' && strings.HasPrefix(text[i:], "eyJ") || isHex(c) && colonSoon(text, i)
}

// detClass classifies ASCII bytes for detectAll; bytes >= 0x80 are 0.
var detClass = func() (t [256]uint8) {
	for c := range 128 {
		b := byte(c)
		if isAlnum(b) || b == '_' || b == '-' || b == '.' {
			t[c] |= clsWord
		}
		if isHex(b) || b == ':' || isDigit(b) || b == '+' || b == '(' || isUpper(b) || b == 'e' ||
			len(keyPrefixByte[c]) > 0 {
			t[c] |= clsStart
		}
		if b >= 'a' && b <= 'z' || isUpper(b) {
			t[c] |= clsLetter
		}
	}
	return t
}()

// detectAll runs every detector over text, adding findings to sc.
//
// Most text holds nothing a detector could match, and detectAll spends
// little on it: every match needs a "loud" byte near its start (see
// nextLoud), which it finds eight bytes at a time, and only around those
// does it run the byte-by-byte scan (scanFrom). The result is that of
// scanFrom(sc, text, 0, len(text)) alone.
func detectAll(sc *scratch, text string) {
	for i, from := 0, 0; ; from = i {
		j := nextLoud(text, from)
		for j < len(text) && isUpper(text[j]) && (j == 0 || detClass[text[j-1]]&clsLetter == 0) {
			// An upper-case letter is loud only after a letter (the
			// second of "AKIA", "GB82", "AIza", the 'J' of "eyJ"): no
			// match needs one that starts a word, as at a sentence start.
			j = nextLoud(text, j+1)
		}
		if j == len(text) {
			return
		}
		// Restart the scan where a match reaching j could start: loudReach
		// bytes back, then back to the start of the word (an API key's
		// digit may come long after its prefix), but never before i.
		r := max(i, j-loudReach)
		for r > i && detClass[text[r-1]]&clsWord != 0 {
			r--
		}
		i = scanFrom(sc, text, r, j)
	}
}

// loudReach is how far before a loud byte a match that needs it may start:
// a hex digit four bytes before the ':' of an IPv6 address (colonSoon).
// The other detectors are closer: '+' or '(' one or two bytes before a
// phone number's first digit, "eyJ" two before the 'J'; the rest start at
// their loud byte or, API keys, in the same word.
const loudReach = 4

// nextLoud returns the index of the first loud byte of text at or after
// i, or len(text). The loud bytes are 0x30..0x5B: the digits (numbers, IP
// addresses, API-key bodies), ':' (IPv6), '@' (e-mail), '<' and '['
// (chat-template markers), the upper-case letters (AWS keys, IBANs,
// "AIza" keys, the 'J' of "eyJ"), and ';', '=', '>', '?', which are loud
// only because they share the range. No detector matches without one.
func nextLoud(text string, i int) int {
	const (
		ones = 0x0101010101010101
		low7 = 0x7F * ones
		high = 0x80 * ones
		geLo = (0x80 - 0x30) * ones // adding it sets bit 7 of bytes >= 0x30
		gtHi = (0x7F - 0x5B) * ones // adding it sets bit 7 of bytes > 0x5B
	)
	for ; i+8 <= len(text); i += 8 {
		s := text[i : i+8]
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		y := x & low7 // no carries between bytes below
		if m := (y + geLo) &^ (y + gtHi) &^ x & high; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(text); i++ {
		if c := text[i]; c >= 0x30 && c <= 0x5B {
			return i
		}
	}
	return len(text)
}

// scanFrom runs the detectors over text from i, a position where a word
// starts or none is under way (any i after the end of the last match),
// until it has passed stop. It tries the word-start detectors only at word
// starts of bytes that can begin a match, and skips the rest of each word
// in a tight loop. It returns where it stopped: a position after stop
// where the same holds.
func scanFrom(sc *scratch, text string, i, stop int) int {
	start := i == 0 || detClass[text[i-1]]&clsWord == 0 // whether text[i] starts a word
	for i <= stop && i < len(text) {
		c := text[i]
		k := detClass[c]
		if k&clsWord != 0 {
			if start && k&clsStart != 0 && (k&clsLetter == 0 || letterMayStart(text, i)) {
				if cat, e, score := detectAt(text, i); e > 0 {
					sc.detect(cat, i, e, score)
					i, start = e, detClass[text[e-1]]&clsWord == 0
					continue
				}
			}
			// No word starts inside a word, and '@', '<' and '[' are not
			// word bytes.
			for i++; i < len(text) && detClass[text[i]]&clsWord != 0; i++ {
			}
			start = false
			continue
		}
		switch c {
		case '@':
			if s, e := email(text, i); e > 0 {
				sc.detect(PIIEmail, s, e, scoreEmail)
				i, start = e, detClass[text[e-1]]&clsWord == 0
				continue
			}
			i, start = i+1, true
			continue
		case '<', '[':
			if e := injectionMarker(text, i); e > 0 {
				sc.detect(PromptInjection, i, e, scoreInjMarks)
				i, start = e, detClass[text[e-1]]&clsWord == 0
				continue
			}
		}
		if start && k&clsStart != 0 {
			if cat, e, score := detectAt(text, i); e > 0 {
				sc.detect(cat, i, e, score)
				i, start = e, detClass[text[e-1]]&clsWord == 0
				continue
			}
		}
		i, start = i+1, true
	}
	return i
}

// detectAt tries the word-start detectors at i. It returns the end of a
// match, or 0.
func detectAt(text string, i int) (Category, int, float64) {
	c := text[i]
	if (isHex(c) || c == ':') && colonSoon(text, i) {
		if e := ipv6(text, i); e > 0 {
			return PIIIPAddress, e, scoreIP
		}
	}
	switch {
	case isDigit(c):
		if e := ipv4(text, i); e > 0 {
			return PIIIPAddress, e, scoreIP
		}
		if e := ssn(text, i); e > 0 {
			return PIIUSSSN, e, scoreSSN
		}
		if e := card(text, i); e > 0 {
			return PIIPaymentCard, e, scoreCard
		}
		if e := phone(text, i); e > 0 {
			return PIIPhone, e, scorePhone
		}
	case c == '+' || c == '(':
		if e := phone(text, i); e > 0 {
			return PIIPhone, e, scorePhone
		}
	case isUpper(c):
		if e := awsKey(text, i); e > 0 {
			return SecretAWSAccessKey, e, scoreAWS
		}
		if e := iban(text, i); e > 0 {
			return PIIIBAN, e, scoreIBAN
		}
		if e := apiKey(text, i); e > 0 {
			return SecretAPIKey, e, scoreAPIKey
		}
	case c == 'e':
		if e := jwt(text, i); e > 0 {
			return SecretJWT, e, scoreJWT
		}
		fallthrough
	default:
		if e := apiKey(text, i); e > 0 {
			return SecretAPIKey, e, scoreAPIKey
		}
	}
	return 0, 0, 0
}
