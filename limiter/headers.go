package limiter

import (
	"strconv"
	"strings"
	"time"
)

// FormatReset formats a reset duration the way OpenAI's
// x-ratelimit-reset-requests and x-ratelimit-reset-tokens do: Go's
// time.Duration format at millisecond precision — "1s", "20ms", "6m0s",
// "2m52.8s", "547ms". The duration is rounded up to the next millisecond
// first (a client that waits that long finds the bucket reset), which is
// where it differs from time.Duration.String: 1.5ms formats as "2ms", not
// "1.5ms", and 999.2µs as "1ms". Zero and negative durations format as "0s".
func FormatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	return ceilTo(d, time.Millisecond).String()
}

// RetryAfter returns the values of the retry-after header (whole seconds,
// rounded up) and the retry-after-ms header (milliseconds, rounded up) for
// a wait of d, so that a client honouring either gets through.
func RetryAfter(d time.Duration) (seconds, millis string) {
	if d < 0 {
		d = 0
	}
	return strconv.FormatInt(int64(ceilTo(d, time.Second)/time.Second), 10),
		strconv.FormatInt(int64(ceilTo(d, time.Millisecond)/time.Millisecond), 10)
}

func ceilTo(d, unit time.Duration) time.Duration {
	if r := d % unit; r != 0 {
		return d - r + unit
	}
	return d
}

// OpenAI returns the values of OpenAI's x-ratelimit-limit-*,
// x-ratelimit-remaining-* and x-ratelimit-reset-* headers for r (the
// suffix is r.Limit.Kind: "requests" or "tokens").
func (r Result) OpenAI() (limit, remaining, reset string) {
	return strconv.Itoa(r.Limit.Rate), strconv.Itoa(r.Remaining), FormatReset(r.ResetAfter)
}

// Tightest returns, among the results of kind k, the one a client hits
// first — a denied one before an allowed one, then the fewest Remaining,
// then the longest ResetAfter — and whether there is any. OpenAI's headers
// carry one limit per kind; this picks it.
func Tightest(results []Result, k Kind) (Result, bool) {
	var best Result
	found := false
	for _, r := range results {
		if r.Limit.Kind != k {
			continue
		}
		if !found || tighter(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

func tighter(a, b Result) bool {
	if a.Allowed != b.Allowed {
		return !a.Allowed
	}
	if a.Remaining != b.Remaining {
		return a.Remaining < b.Remaining
	}
	return a.ResetAfter > b.ResetAfter
}

// PolicyName is the name of l in the IETF RateLimit headers: l.Name when
// set, otherwise "r" or "t" (requests, tokens), "p", and the period: "s",
// "m", "h", "d" for a second, minute, hour and day ("rpm", "tpm", "rpd"),
// or the period in Go's format ("rp10s").
func PolicyName(l Limit) string {
	if l.Name != "" {
		return l.Name
	}
	p := "rp"
	if l.Kind == Tokens {
		p = "tp"
	}
	switch l.Period {
	case time.Second:
		return p + "s"
	case 0, time.Minute:
		return p + "m"
	case time.Hour:
		return p + "h"
	case 24 * time.Hour:
		return p + "d"
	}
	return p + l.Period.String()
}

// PolicyItem returns r's member of the IETF RateLimit-Policy field
// (draft-ietf-httpapi-ratelimit-headers-09): the quoted policy name, q the
// quota (Rate), w the window in whole seconds (Period, rounded up), and
// for Tokens limits qu="tokens" — a quota unit the draft does not
// register (it knows "requests", "content-bytes" and
// "concurrent-requests"), sent so that no client mistakes a token quota
// for a request quota. Example: "rpm";q=600;w=60.
func (r Result) PolicyItem() string {
	var b strings.Builder
	appendSFString(&b, PolicyName(r.Limit))
	b.WriteString(";q=")
	b.WriteString(strconv.Itoa(r.Limit.Rate))
	period := r.Limit.Period
	if period == 0 {
		period = time.Minute
	}
	b.WriteString(";w=")
	b.WriteString(strconv.FormatInt(int64(ceilTo(period, time.Second)/time.Second), 10))
	if r.Limit.Kind == Tokens {
		b.WriteString(`;qu="tokens"`)
	}
	return b.String()
}

// RateLimitItem returns r's member of the IETF RateLimit field (draft 09):
// the quoted policy name, r the remaining quota and t the seconds until
// the quota resets (ResetAfter, rounded up). Example: "rpm";r=599;t=1.
func (r Result) RateLimitItem() string {
	var b strings.Builder
	appendSFString(&b, PolicyName(r.Limit))
	b.WriteString(";r=")
	b.WriteString(strconv.Itoa(max(0, r.Remaining)))
	b.WriteString(";t=")
	b.WriteString(strconv.FormatInt(int64(ceilTo(max(0, r.ResetAfter), time.Second)/time.Second), 10))
	return b.String()
}

// PolicyHeader joins the PolicyItem of every result into the value of one
// RateLimit-Policy field.
func PolicyHeader(results []Result) string {
	return joinItems(results, Result.PolicyItem)
}

// RateLimitHeader joins the RateLimitItem of every result into the value
// of one RateLimit field.
func RateLimitHeader(results []Result) string {
	return joinItems(results, Result.RateLimitItem)
}

func joinItems(results []Result, item func(Result) string) string {
	var b strings.Builder
	for i, r := range results {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(item(r))
	}
	return b.String()
}

// appendSFString writes s as a Structured Fields String (RFC 9651):
// quoted, with '"' and '\' escaped and characters outside printable ASCII
// replaced by '?'.
func appendSFString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
