package moderation

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// ibanLengths is the IBAN length of each country in the IBAN registry.
var ibanLengths = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22,
	"DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27,
	"GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
	"IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
	"LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
	"ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31,
	"SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
	"TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

// iban matches an upper-case IBAN, compact or in space-separated groups,
// of its country's registered length and with mod-97 remainder 1.
func iban(text string, i int) int {
	if i+4 > len(text) || !isUpper(text[i+1]) || !isDigit(text[i+2]) || !isDigit(text[i+3]) {
		return 0
	}
	want, ok := ibanLengths[text[i:i+2]]
	if !ok {
		return 0
	}
	var buf [34]byte
	n, e := 0, i
	for e < len(text) && n < want {
		c := text[e]
		switch {
		case isDigit(c) || isUpper(c):
			buf[n] = c
			n++
			e++
		case c == ' ' && e+1 < len(text) && (isDigit(text[e+1]) || isUpper(text[e+1])) && n%4 == 0:
			e++
		default:
			return 0
		}
	}
	if n != want || !endsWord(text, e) {
		return 0
	}
	// Move the country code and check digits to the end; letters are 10..35.
	rem := 0
	for k := range want {
		c := buf[(k+4)%want]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	if rem != 1 {
		return 0
	}
	return e
}

// awsKey matches an AWS access key id: AKIA (long-term) or ASIA
// (temporary), or the rarer ABIA and ACCA, then 16 upper-case letters or
// digits.
func awsKey(text string, i int) int {
	if i+20 > len(text) {
		return 0
	}
	switch text[i : i+4] {
	case "AKIA", "ASIA", "ABIA", "ACCA":
	default:
		return 0
	}
	for k := i + 4; k < i+20; k++ {
		if !isDigit(text[k]) && !isUpper(text[k]) {
			return 0
		}
	}
	if i+20 < len(text) && isAlnum(text[i+20]) {
		return 0
	}
	return i + 20
}

// keyPrefixes are API-key prefixes and the minimum length of what follows.
var keyPrefixes = []struct {
	prefix string
	min    int
}{
	{"sk-", 20},             // OpenAI (sk-proj-, sk-svcacct-, sk-admin-), Anthropic (sk-ant-), DeepSeek
	{"sk_live_", 16},        // Stripe secret keys
	{"sk_test_", 16},        //
	{"rk_live_", 16},        // Stripe restricted keys
	{"rk_test_", 16},        //
	{"ghp_", 30},            // GitHub tokens
	{"gho_", 30},            //
	{"ghu_", 30},            //
	{"ghs_", 30},            //
	{"ghr_", 30},            //
	{"github_pat_", 40},     //
	{"xoxb-", 20},           // Slack
	{"xoxp-", 20},           //
	{"xoxa-", 20},           //
	{"xapp-", 20},           //
	{"AIza", 30},            // Google API keys
	{"hf_", 30},             // Hugging Face
	{"glpat-", 20},          // GitLab
	{"gsk_", 40},            // Groq
	{"r8_", 30},             // Replicate
	{"pplx-", 40},           // Perplexity
	{"npm_", 30},            // npm
	{"pypi-AgEIcHlwaS", 50}, // PyPI
}

// keyPrefixByte indexes keyPrefixes by first byte; keySecond holds, per
// first byte, the set of second bytes that can start a prefix.
var keyPrefixByte, keySecond = func() (t [256][]int, s [256][4]uint64) {
	for i, p := range keyPrefixes {
		t[p.prefix[0]] = append(t[p.prefix[0]], i)
		s[p.prefix[0]][p.prefix[1]/64] |= 1 << (p.prefix[1] % 64)
	}
	return t, s
}()

func isKeyChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// apiKey matches a known API-key prefix followed by a long random-looking
// body (letters and digits both present).
func apiKey(text string, i int) int {
	if i+1 >= len(text) || keySecond[text[i]][text[i+1]/64]&(1<<(text[i+1]%64)) == 0 {
		return 0
	}
	for _, k := range keyPrefixByte[text[i]] {
		p := &keyPrefixes[k]
		if !strings.HasPrefix(text[i:], p.prefix) {
			continue
		}
		e := i + len(p.prefix)
		letters, digits := 0, 0
		for e < len(text) && isKeyChar(text[e]) {
			switch c := text[e]; {
			case isDigit(c):
				digits++
			case c != '_' && c != '-':
				letters++
			}
			e++
		}
		if e-i-len(p.prefix) >= p.min && letters > 0 && digits > 0 {
			return e
		}
	}
	return 0
}

func isB64URL(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// jwt matches header.payload.signature in base64url whose header decodes
// to a JSON object with an "alg" member. The signature may be empty
// (alg "none").
func jwt(text string, i int) int {
	if !strings.HasPrefix(text[i:], "eyJ") {
		return 0
	}
	var dots [2]int
	e, nd := i, 0
	for e < len(text) {
		c := text[e]
		if c == '.' && nd < 2 {
			dots[nd] = e
			nd++
		} else if !isB64URL(c) {
			break
		}
		e++
	}
	if nd != 2 || dots[0]-i < 10 || dots[1]-dots[0] < 3 || e < len(text) && text[e] == '.' {
		return 0
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(text[i:dots[0]], "="))
	if err != nil {
		return 0
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(hdr, &h) != nil {
		return 0
	}
	if _, ok := h["alg"]; !ok {
		return 0
	}
	return e
}

// chatMarkers are chat-template control tokens that have no business in
// user text: their presence is an attempt to forge a system turn.
var chatMarkers = []string{
	"<|im_start|>", "<|im_end|>", "<|system|>", "<|endoftext|>", "<|start_header_id|>",
	"<|eot_id|>", "<<sys>>", "<</sys>>", "[inst]", "[/inst]", "<|assistant|>", "<|user|>",
}

// injectionMarker matches a chat-template marker at i, case-insensitively.
func injectionMarker(text string, i int) int {
	for _, m := range chatMarkers {
		if len(text)-i >= len(m) && strings.EqualFold(text[i:i+len(m)], m) {
			return i + len(m)
		}
	}
	return 0
}
