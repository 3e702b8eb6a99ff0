package cache

import "encoding/binary"

// number writes the number at c.pos by its exact decimal value: the sign,
// the significant digits (no leading or trailing zeros) and the power of
// ten they are scaled by. So 1, 1.0, 1.00 and 10e-1 share an encoding,
// 0.1 and 0.10000000000000001 do not (they are different decimals even if
// both round to the same float64), and -0 is 0. Numbers are never parsed
// into floats, so seeds above 2^53 keep every digit.
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
		c.buf = append(c.buf, tagRawNum)
		c.buf = binary.AppendUvarint(c.buf, uint64(len(raw)))
		c.buf = append(c.buf, raw...)
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
	c.buf = append(c.buf, tagNumber)
	if len(ip)+len(fp) == 0 { // zero, whatever its sign and spelling
		c.buf = append(c.buf, signPlus, 0, 0)
		return nil
	}
	if neg {
		c.buf = append(c.buf, signMinus)
	} else {
		c.buf = append(c.buf, signPlus)
	}
	c.buf = binary.AppendUvarint(c.buf, uint64(len(ip)+len(fp)))
	c.buf = append(c.buf, ip...)
	c.buf = append(c.buf, fp...)
	c.buf = binary.AppendVarint(c.buf, exp)
	return nil
}
