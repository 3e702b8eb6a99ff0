package cache

import (
	"strconv"
	"strings"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// Reproducible reports whether a request asks for an answer that repeating
// the request reproduces, which is what the cache serves by default: one
// choice (n absent or 1) sampled greedily (temperature 0) or with a fixed
// seed. An absent temperature is OpenAI's default of 1, so it is not
// reproducible without a seed.
func Reproducible(temperature *float64, seed *int64, n *int) bool {
	if n != nil && *n != 1 {
		return false
	}
	return seed != nil || temperature != nil && *temperature == 0
}

// ReproducibleChat is Reproducible for a chat completion request.
func ReproducibleChat(r *wire.ChatCompletionRequest) bool {
	return r != nil && Reproducible(r.Temperature, r.Seed, r.N)
}

// ReproducibleCompletion is Reproducible for a legacy completion request;
// best_of above 1 is fine (it picks the best of several samples, which is
// as reproducible as the samples).
func ReproducibleCompletion(r *wire.CompletionRequest) bool {
	return r != nil && Reproducible(r.Temperature, r.Seed, r.N)
}

// Override is what a policy decision says about caching a request. The
// zero value, OverrideNone, caches reproducible requests only.
type Override uint8

// Overrides.
const (
	OverrideNone   Override = iota // cache if Reproducible
	OverrideForce                  // cache even if not reproducible
	OverrideForbid                 // never read nor store
)

// ParseOverride parses a policy's cache setting: "" or "auto" (none),
// "force" (also "always", "true"), "forbid" (also "never", "false").
func ParseOverride(s string) (Override, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto", "default":
		return OverrideNone, true
	case "force", "always", "true":
		return OverrideForce, true
	case "forbid", "never", "false":
		return OverrideForbid, true
	}
	return OverrideNone, false
}

// CacheControl holds the request Cache-Control directives the cache
// honours (RFC 9111 section 5.2.1). The zero value is no directive.
type CacheControl struct {
	// NoCache asks for a fresh answer: do not read the cache, but store.
	NoCache bool
	// NoStore forbids both reading and storing.
	NoStore bool
	// OnlyIfCached asks for a stored answer or none (a 504).
	OnlyIfCached bool
	// MaxAge, when HasMaxAge, is the oldest entry the client accepts.
	// max-age=0 is a refresh, like no-cache.
	MaxAge    time.Duration
	HasMaxAge bool
}

// ParseCacheControl parses the values of a request's Cache-Control header
// fields (pass r.Header.Values("Cache-Control")). Directive names are
// case-insensitive; directives are separated by commas, values may be
// tokens or quoted strings (which may hold commas); unknown directives are
// ignored. A malformed max-age is ignored; when max-age repeats the
// smallest wins.
func ParseCacheControl(values ...string) CacheControl {
	var cc CacheControl
	for _, v := range values {
		for v != "" {
			var name, arg string
			name, arg, v = nextDirective(v)
			switch strings.ToLower(name) {
			case "no-cache":
				cc.NoCache = true
			case "no-store":
				cc.NoStore = true
			case "only-if-cached":
				cc.OnlyIfCached = true
			case "max-age":
				secs, err := strconv.ParseUint(arg, 10, 63)
				if err != nil {
					if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange || arg == "" {
						continue
					}
					secs = 1<<63 - 1 // RFC 9111 1.2.2: too large means "infinity"
				}
				d := time.Duration(1<<63 - 1)
				if secs < uint64(d/time.Second) {
					d = time.Duration(secs) * time.Second
				}
				if !cc.HasMaxAge || d < cc.MaxAge {
					cc.MaxAge, cc.HasMaxAge = d, true
				}
			}
		}
	}
	return cc
}

// nextDirective splits the first directive off s: its name, its argument
// (unquoted) and what follows the comma after it.
func nextDirective(s string) (name, arg, rest string) {
	s = strings.TrimLeft(s, " \t,")
	i := 0
	for i < len(s) && s[i] != '=' && s[i] != ',' {
		i++
	}
	name = strings.TrimSpace(s[:i])
	if i >= len(s) || s[i] == ',' {
		return name, "", s[i:]
	}
	s = strings.TrimLeft(s[i+1:], " \t")
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		j := 1
		for ; j < len(s) && s[j] != '"'; j++ {
			if s[j] == '\\' && j+1 < len(s) {
				j++
			}
			b.WriteByte(s[j])
		}
		rest = s[min(j+1, len(s)):]
		if k := strings.IndexByte(rest, ','); k >= 0 {
			rest = rest[k:]
		} else {
			rest = ""
		}
		return name, b.String(), rest
	}
	j := strings.IndexByte(s, ',')
	if j < 0 {
		return name, strings.TrimSpace(s), ""
	}
	return name, strings.TrimSpace(s[:j]), s[j:]
}

// Plan is what to do with one request.
type Plan struct {
	// Lookup reports that a stored answer may be served.
	Lookup bool
	// Store reports that the answer may be stored.
	Store bool
	// OnlyIfCached reports that a miss must not reach the upstream.
	OnlyIfCached bool
	// MaxAge, when HasMaxAge, is the oldest entry that may be served.
	MaxAge    time.Duration
	HasMaxAge bool
}

// Bypass reports a plan that neither reads nor stores (x-cache: BYPASS).
func (p Plan) Bypass() bool { return !p.Lookup && !p.Store }

// Decide combines whether the request is reproducible, the policy's
// override and the client's Cache-Control into a plan:
//
//   - OverrideForbid or no-store: neither read nor store.
//   - not reproducible and no OverrideForce: neither read nor store.
//   - otherwise store, and read unless no-cache or max-age=0 (a refresh).
//
// The client can narrow what the policy allows, never widen it.
func Decide(reproducible bool, o Override, cc CacheControl) Plan {
	if o == OverrideForbid || cc.NoStore || (!reproducible && o != OverrideForce) {
		return Plan{}
	}
	p := Plan{Lookup: true, Store: true, OnlyIfCached: cc.OnlyIfCached, MaxAge: cc.MaxAge, HasMaxAge: cc.HasMaxAge}
	if cc.NoCache || (cc.HasMaxAge && cc.MaxAge == 0) {
		p.Lookup = false
	}
	return p
}
