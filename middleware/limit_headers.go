package middleware

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/wire"
)

// The rate-limit response headers, in canonical form.
var limitHeaderNames = [...]string{
	"X-Ratelimit-Limit-Requests",
	"X-Ratelimit-Remaining-Requests",
	"X-Ratelimit-Reset-Requests",
	"X-Ratelimit-Limit-Tokens",
	"X-Ratelimit-Remaining-Tokens",
	"X-Ratelimit-Reset-Tokens",
	"Ratelimit-Policy",
	"Ratelimit",
}

// limitHeaderValues are the values of limitHeaderNames for one response;
// "" leaves a header unset.
type limitHeaderValues [len(limitHeaderNames)]string

// compute fills v from the results of a reservation; policy is the
// RateLimit-Policy value, or "" to compute it from the results. The
// values share one string.
func (v *limitHeaderValues) compute(results []limiter.Result, policy string) {
	var buf [384]byte
	b := buf[:0]
	var ends [len(limitHeaderNames)]int
	for k, kind := range [2]limiter.Kind{limiter.Requests, limiter.Tokens} {
		r, ok := limiter.Tightest(results, kind)
		if !ok {
			for i := 3 * k; i < 3*k+3; i++ {
				ends[i] = len(b)
			}
			continue
		}
		b = strconv.AppendInt(b, int64(r.Limit.Rate), 10)
		ends[3*k] = len(b)
		b = strconv.AppendInt(b, int64(max(0, r.Remaining)), 10)
		ends[3*k+1] = len(b)
		b = append(b, limiter.FormatReset(r.ResetAfter)...)
		ends[3*k+2] = len(b)
	}
	if policy == "" {
		policy = limiter.PolicyHeader(results)
	}
	b = append(b, policy...)
	ends[6] = len(b)
	b = appendRateLimit(b, results)
	ends[7] = len(b)
	all := string(b)
	start := 0
	for i, end := range ends {
		v[i] = all[start:end]
		start = end
	}
}

// appendRateLimit appends the IETF RateLimit field of results, as
// limiter.RateLimitHeader formats it, without allocating.
func appendRateLimit(b []byte, results []limiter.Result) []byte {
	for i, r := range results {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '"')
		for _, c := range []byte(limiter.PolicyName(r.Limit)) {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c > 0x7e:
				b = append(b, '?')
			default:
				b = append(b, c)
			}
		}
		b = append(b, `";r=`...)
		b = strconv.AppendInt(b, int64(max(0, r.Remaining)), 10)
		b = append(b, ";t="...)
		reset := max(0, r.ResetAfter)
		secs := int64(reset / time.Second)
		if reset%time.Second != 0 {
			secs++
		}
		b = strconv.AppendInt(b, secs, 10)
	}
	return b
}

// set puts the values on h, replacing what was there.
func (v *limitHeaderValues) set(h http.Header) {
	n := 0
	for _, s := range v {
		if s != "" {
			n++
		}
	}
	vals := make([]string, 0, n) // one backing array for every header
	for i, s := range v {
		if s != "" {
			vals = append(vals, s)
			h[limitHeaderNames[i]] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
	}
}

// reassert sets again the values h no longer holds alone.
func (v *limitHeaderValues) reassert(h http.Header) {
	for i, s := range v {
		if s == "" {
			continue
		}
		if cur := h[limitHeaderNames[i]]; len(cur) != 1 || cur[0] != s {
			h[limitHeaderNames[i]] = []string{s}
		}
	}
}

// deny answers 429 for a reservation that was not allowed.
func (lc *limitCall) deny(w http.ResponseWriter) {
	results := lc.res.Results()
	h := w.Header()
	for i, r := range results {
		if r.TooLarge {
			h.Set("X-Should-Retry", "false")
			wire.WriteError(w, wire.Errorf(http.StatusTooManyRequests, r.Limit.Kind.String(), wire.CodeRateLimitExceeded, "",
				"Request too large for %s on %s %s: Limit %d, Requested %d. The input or output tokens must be reduced in order to run successfully.",
				limitPer(r.Limit), limitScopeNames[lc.scope[i]], lc.who[i], r.Limit.Burst, r.Cost))
			return
		}
	}
	// The denied limit to report: requests before tokens, then the
	// tightest (the first denied one in order when they tie).
	pick := -1
	for _, kind := range [2]limiter.Kind{limiter.Requests, limiter.Tokens} {
		for i, r := range results {
			if r.Allowed || r.Limit.Kind != kind {
				continue
			}
			if pick < 0 || r.RetryAfter > results[pick].RetryAfter {
				pick = i
			}
		}
		if pick >= 0 {
			break
		}
	}
	if pick < 0 { // unreachable: a denied reservation has a denied limit
		wire.WriteError(w, limitServerError(lc.c))
		return
	}
	r := results[pick]
	secs, ms := limiter.RetryAfter(lc.res.RetryAfter)
	h.Set("Retry-After", secs)
	h.Set("Retry-After-Ms", ms)
	wire.WriteError(w, wire.Errorf(http.StatusTooManyRequests, r.Limit.Kind.String(), wire.CodeRateLimitExceeded, "",
		"Rate limit reached for %s on %s %s: Limit %d, Used %d, Requested %d. Please try again in %s.",
		limitPer(r.Limit), limitScopeNames[lc.scope[pick]], lc.who[pick], r.Limit.Rate,
		max(0, r.Limit.Burst-r.Remaining), r.Cost, limiter.FormatReset(lc.res.RetryAfter)))
}

// limitPer names a limit as OpenAI's messages do: "requests per min
// (RPM)", "tokens per day (TPD)", or "tokens per 10s" for other periods.
func limitPer(l limiter.Limit) string {
	kind := l.Kind.String()
	unit := ""
	switch l.Period {
	case time.Second:
		unit = "sec"
	case 0, time.Minute:
		unit = "min"
	case time.Hour:
		unit = "hour"
	case 24 * time.Hour:
		unit = "day"
	default:
		return kind + " per " + l.Period.String()
	}
	return fmt.Sprintf("%s per %s (%cP%c)", kind, unit, strings.ToUpper(kind)[0], strings.ToUpper(unit)[0])
}

// limitUnavailable is the answer when the store could not decide.
func limitUnavailable(c *Call) *wire.Error {
	msg := "The server could not check your rate limits. Retry shortly."
	if c.RequestID != "" {
		msg += " Include the request ID " + c.RequestID + " in any report."
	}
	return &wire.Error{Status: http.StatusServiceUnavailable, Type: wire.TypeServer, Code: "limiter_unavailable", Message: msg}
}

// limitServerError is the answer to a misconfigured limit.
func limitServerError(c *Call) *wire.Error { return wire.ServerError(c.RequestID) }
