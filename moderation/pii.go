package moderation

import (
	"net/netip"
	"strings"
)

// The detectors are hand-written scanners over the original text (not the
// skeleton): one pass that tries the detectors at word starts and at '@'.
// Each confirms its candidate with the checks a format defines (Luhn for
// cards, mod-97 for IBANs, area rules for SSNs, a JSON header for JWTs),
// so look-alikes such as Luhn-invalid numbers and ISBNs are not reported.

// Evidence weights of the detectors.
const (
	scoreEmail    = 0.9
	scorePhone    = 0.8
	scoreCard     = 1.0
	scoreIBAN     = 1.0
	scoreSSN      = 0.9
	scoreIP       = 0.8
	scoreAPIKey   = 0.95
	scoreAWS      = 1.0
	scoreJWT      = 1.0
	scoreInjMarks = 0.7
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || isUpper(c)
}
func isHex(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// endsWord reports whether a match ending at e is not followed by more of
// the same token (a letter, a digit, or a separator followed by a digit).
func endsWord(text string, e int) bool {
	if e >= len(text) {
		return true
	}
	c := text[e]
	if isAlnum(c) || c == '_' {
		return false
	}
	if (c == '.' || c == '-' || c == ':' || c == '/') && e+1 < len(text) && isAlnum(text[e+1]) {
		return false
	}
	return true
}

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// email matches local@domain.tld around the '@' at at.
func email(text string, at int) (int, int) {
	s := at
	for s > 0 && isLocalChar(text[s-1]) && at-s < 64 {
		s--
	}
	for s < at && text[s] == '.' {
		s++
	}
	if s == at {
		return 0, 0
	}
	e := at + 1
	lastDot, labelLen := -1, 0
	for e < len(text) && (isAlnum(text[e]) || text[e] == '-' || text[e] == '.') && e-at < 255 {
		if text[e] == '.' {
			if labelLen == 0 {
				break
			}
			lastDot, labelLen = e, 0
		} else {
			labelLen++
		}
		e++
	}
	for e > at+1 && (text[e-1] == '.' || text[e-1] == '-') {
		e--
	}
	// The last dot of the domain; searched within it only, as a search
	// back from e through the text before the '@' would make a text of
	// many '@' cost time quadratic in its length.
	if lastDot = strings.LastIndexByte(text[at+1:e], '.'); lastDot < 0 {
		return 0, 0
	}
	if lastDot += at + 1; lastDot >= e-2 {
		return 0, 0
	}
	for j := lastDot + 1; j < e; j++ {
		if isDigit(text[j]) || text[j] == '-' {
			return 0, 0 // the TLD is letters
		}
	}
	return s, e
}

// digitsRun reads digits starting at i and returns the end.
func digitsRun(text string, i int) int {
	for i < len(text) && isDigit(text[i]) {
		i++
	}
	return i
}

// ipv4 matches a dotted quad of octets 0-255 without leading zeros. A
// quad right after a word such as "version" is read as a version number.
func ipv4(text string, i int) int {
	p := i
	for k := range 4 {
		e := digitsRun(text, p)
		n := e - p
		if n == 0 || n > 3 || n > 1 && text[p] == '0' {
			return 0
		}
		v := 0
		for _, d := range []byte(text[p:e]) {
			v = v*10 + int(d-'0')
		}
		if v > 255 {
			return 0
		}
		p = e
		if k < 3 {
			if p >= len(text) || text[p] != '.' {
				return 0
			}
			p++
		}
	}
	if !endsWord(text, p) || versionContext(text, i) {
		return 0
	}
	return p
}

var versionWords = []string{"version", "versions", "ver", "release", "build", "firmware", "v", "release:", "version:"}

// versionContext reports whether the word before i announces a version.
func versionContext(text string, i int) bool {
	j := i
	for j > 0 && text[j-1] == ' ' {
		j--
	}
	k := j
	for k > 0 && (isAlnum(text[k-1]) || text[k-1] == ':') {
		k--
	}
	w := text[k:j]
	for _, v := range versionWords {
		if strings.EqualFold(w, v) {
			return true
		}
	}
	return false
}

// colonSoon reports whether a ':' follows within the first hex group.
func colonSoon(text string, i int) bool {
	for k := i; k < len(text) && k <= i+4; k++ {
		if text[k] == ':' {
			return true
		}
		if !isHex(text[k]) {
			return false
		}
	}
	return false
}

// ipv6 matches an IPv6 address (netip's syntax, zones excluded) whose
// span has at least two colons and three hex digits, or is "::1".
func ipv6(text string, i int) int {
	e, colons, hex := i, 0, 0
	for e < len(text) && e-i < 45 {
		c := text[e]
		switch {
		case c == ':':
			colons++
		case isHex(c):
			hex++
		case c == '.':
		default:
			goto done
		}
		e++
	}
done:
	for e > i && (text[e-1] == '.' || text[e-1] == ':' && (e-2 < i || text[e-2] != ':')) {
		e--
	}
	if colons < 2 || e < len(text) && (isAlnum(text[e]) || text[e] == '_') {
		return 0
	}
	cand := text[i:e]
	a, err := netip.ParseAddr(cand)
	if err != nil || !a.Is6() || (hex < 3 && cand != "::1") {
		return 0
	}
	return e
}

// groups reads digit groups separated by single separators from sep (one
// kind per number), starting at i, up to maxDigits+1 digits. It appends the
// digits and each group's end offset.
func groups(text string, i int, sep string, maxDigits int, digits []byte, ends []int) ([]byte, []int, byte) {
	var used byte
	e := i
	for e < len(text) {
		g := digitsRun(text, e)
		if g == e {
			break
		}
		digits = append(digits, text[e:g]...)
		ends = append(ends, g)
		e = g
		if len(digits) > maxDigits {
			break
		}
		if e+1 < len(text) && strings.IndexByte(sep, text[e]) >= 0 && isDigit(text[e+1]) {
			if used != 0 && text[e] != used {
				break
			}
			used = text[e]
			e++
			continue
		}
		break
	}
	return digits, ends, used
}

// ssn matches ddd-dd-dddd (or with spaces) with a valid area (not 000,
// 666 or 900-999), group (not 00) and serial (not 0000). A bare nine-digit
// number is not reported: too many other numbers look the same.
func ssn(text string, i int) int {
	var db [16]byte
	var eb [8]int
	d, ends, sep := groups(text, i, "- ", 9, db[:0], eb[:0])
	if len(ends) != 3 || len(d) != 9 || ends[0]-i != 3 || ends[1]-ends[0] != 3 || sep == 0 || !endsWord(text, ends[2]) {
		return 0
	}
	area := string(d[:3])
	if area == "000" || area == "666" || area[0] == '9' || string(d[3:5]) == "00" || string(d[5:]) == "0000" {
		return 0
	}
	return ends[2]
}

// luhn reports whether digits pass the Luhn check.
func luhn(d []byte) bool {
	sum := 0
	for k := range d {
		v := int(d[len(d)-1-k] - '0')
		if k%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// cardPrefix reports whether d starts with a payment network's IIN.
func cardPrefix(d []byte) bool {
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	switch {
	case d[0] == '4': // Visa
		return true
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return true
	case p2 == 34 || p2 == 37: // American Express
		return true
	case p4 == 6011, p2 == 65, p4 >= 6440 && p4 <= 6499, p2 == 62: // Discover, UnionPay
		return true
	case p2 == 35, p2 == 36, p2 == 38, p2 == 39, p2 == 30: // JCB, Diners Club
		return true
	case p2 == 50, p2 >= 56 && p2 <= 58, p2 == 67: // Maestro
		return true
	}
	return false
}

// card matches 13-19 digits, grouped by single spaces or dashes or not at
// all, with a known network prefix and a valid Luhn check digit. When more
// digit groups follow (an expiry date, a CVC), the longest valid prefix of
// whole groups is the card.
func card(text string, i int) int {
	var db [24]byte
	var eb [24]int
	d, ends, _ := groups(text, i, " -", 19, db[:0], eb[:0])
	n := len(d)
	for k := len(ends) - 1; k >= 0; k-- {
		if k < len(ends)-1 || endsWord(text, ends[k]) {
			if n >= 13 && n <= 19 && cardPrefix(d[:n]) && luhn(d[:n]) {
				return ends[k]
			}
		}
		if k > 0 {
			n -= ends[k] - groupStart(text, ends[k])
		}
	}
	return 0
}

// groupStart returns the start of the digit group ending at e.
func groupStart(text string, e int) int {
	for e > 0 && isDigit(text[e-1]) {
		e--
	}
	return e
}

// phone matches international numbers (+ then 8-15 digits) and national
// ones: 10 digits as 3-3-4 with an optional (area code) and leading 1, or
// 10-11 digits starting with 0 in 2-4 groups. Ungrouped digit runs are not
// reported, so order numbers and timestamps are left alone.
func phone(text string, i int) int {
	e := i
	plus := text[e] == '+'
	if plus {
		e++
	}
	var db [24]byte
	var lb [12]int
	d, lens := db[:0], lb[:0]
	paren := false
	var sep byte
	for len(lens) < 8 {
		if e < len(text) && text[e] == '(' {
			g := digitsRun(text, e+1)
			if paren || g-e-1 < 1 || g-e-1 > 4 || g >= len(text) || text[g] != ')' {
				return 0
			}
			d = append(d, text[e+1:g]...)
			lens = append(lens, g-e-1)
			paren = true
			e = g + 1
			if e < len(text) && isDigit(text[e]) {
				continue
			}
		} else {
			g := digitsRun(text, e)
			if g == e {
				return 0
			}
			d = append(d, text[e:g]...)
			lens = append(lens, g-e)
			e = g
		}
		if len(d) > 15 {
			return 0
		}
		if e+1 < len(text) && (text[e] == ' ' || text[e] == '-' || text[e] == '.') &&
			(isDigit(text[e+1]) || text[e+1] == '(') {
			if text[e-1] != ')' && !plus {
				if sep != 0 && text[e] != sep {
					break
				}
				sep = text[e]
			}
			e++
			continue
		}
		break
	}
	if !endsWord(text, e) {
		return 0
	}
	if plus {
		if len(d) >= 8 && d[0] != '0' {
			return e
		}
		return 0
	}
	if !paren && len(lens) < 2 {
		return 0
	}
	switch {
	case len(d) == 10 && d[0] != '0' && d[0] != '1':
		if len(lens) == 3 && lens[0] == 3 && lens[1] == 3 && lens[2] == 4 {
			return e
		}
	case len(d) == 11 && d[0] == '1' && sep != '.':
		if len(lens) == 4 && lens[0] == 1 && lens[1] == 3 && lens[2] == 3 && lens[3] == 4 {
			return e
		}
	case (len(d) == 10 || len(d) == 11) && d[0] == '0' && sep != '.' && len(lens) <= 4:
		for _, l := range lens {
			if l < 2 {
				return 0
			}
		}
		return e
	}
	return 0
}
