package middleware

import (
	"fmt"
	"net/http"
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

// compute fills v from the results of a reservation.
func (v *limitHeaderValues) compute(results []limiter.Result) {
	for k, kind := range [2]limiter.Kind{limiter.Requests, limiter.Tokens} {
		if r, ok := limiter.Tightest(results, kind); ok {
			v[3*k], v[3*k+1], v[3*k+2] = r.OpenAI()
		}
	}
	v[6] = limiter.PolicyHeader(results)
	v[7] = limiter.RateLimitHeader(results)
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
