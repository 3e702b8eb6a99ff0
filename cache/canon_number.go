package cache

import "strconv"

// maxPlainDigits bounds the canonical form of an integer written out in
// full: one with more digits (trailing zeros included) is written as
// digits and exponent. It keeps 1e1000000000 from taking a gigabyte.
const maxPlainDigits = 30

// maxExpDigs bounds the significant digits of an exponent: a number with a
// longer exponent keeps its text as written (see number).
const maxExpDigs = 15

// number writes the canonical form of the number at c.pos, by its exact
// decimal value: its significant digits d (no leading or trailing zeros)
// scaled by 10^e are written as "0" for zero, else an optional '-' and
// then d followed by e zeros when e >= 0 and that makes at most
// maxPlainDigits digits, or else d, 'e' and e in decimal. So 1, 1.0, 1.00,
// 10e-1 all become 1, 0.5 becomes 5e-1, -0 is 0, and 0.1 and
// 0.10000000000000001 differ (they are different decimals even if both
// round to the same float64). A plain integer is thus its own canonical
// form. Numbers are never parsed into floats, so seeds above 2^53 keep
// every digit. A number whose exponent has more than maxExpDigs
// significant digits keeps its text as written: no other canonical
// number has such an exponent.
func (c *canon) number() error {
	s := c.src
	i := c.pos
	neg := false
	if s[i] == '-' {
		neg = true
		i++
	}
	intStart := i
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		c.pos = i
		return c.errorf("invalid number")
	}
	intEnd := i
	fracStart, fracEnd := i, i
	if i < len(s) && s[i] == '.' {
		i++
		fracStart = i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == fracStart {
			c.pos = i
			return c.errorf("invalid number: no digits after '.'")
		}
		fracEnd = i
	}
	var exp int64
	expOverflow := false
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			expNeg = s[i] == '-'
			i++
		}
		digStart := i
		sig := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			if sig > 0 || s[i] != '0' {
				sig++
			}
			if sig <= maxExpDigs {
				exp = exp*10 + int64(s[i]-'0')
			}
			i++
		}
		if i == digStart {
			c.pos = i
			return c.errorf("invalid number: no digits in exponent")
		}
		expOverflow = sig > maxExpDigs
		if expNeg {
			exp = -exp
		}
	}
	raw := s[c.pos:i]
	c.pos = i
	if expOverflow {
		c.aux = append(c.aux, raw...)
		return nil
	}
	// The digits are int digits then fraction digits; the value is
	// digits × 10^(exp − len(fraction)). Trim zeros on both sides.
	ip, fp := s[intStart:intEnd], s[fracStart:fracEnd]
	exp -= int64(len(fp))
	for len(ip) > 0 && ip[0] == '0' {
		ip = ip[1:]
	}
	if len(ip) == 0 {
		for len(fp) > 0 && fp[0] == '0' {
			fp = fp[1:]
		}
	}
	for len(fp) > 0 && fp[len(fp)-1] == '0' {
		fp = fp[:len(fp)-1]
		exp++
	}
	if len(fp) == 0 {
		for len(ip) > 0 && ip[len(ip)-1] == '0' {
			ip = ip[:len(ip)-1]
			exp++
		}
	}
	b := c.aux
	if len(ip)+len(fp) == 0 { // zero, whatever its sign and spelling
		c.aux = append(b, '0')
		return nil
	}
	if neg {
		b = append(b, '-')
	}
	b = append(b, ip...)
	b = append(b, fp...)
	if n := int64(len(ip) + len(fp)); exp >= 0 && exp <= maxPlainDigits-n {
		for ; exp > 0; exp-- {
			b = append(b, '0')
		}
	} else {
		b = append(b, 'e')
		b = strconv.AppendInt(b, exp, 10)
	}
	c.aux = b
	return nil
}
