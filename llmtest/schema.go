package llmtest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// maxSchemaDepth bounds nesting: deeper objects get their required
// properties only and deeper arrays their minItems (0 when unset), so
// recursive schemas ($ref to an ancestor) terminate.
const maxSchemaDepth = 6

// schemaGen generates JSON values that validate against a JSON Schema
// (draft 4 to 2020-12 keywords): type (or a list of types, the first that
// is not "null"), enum, const, properties and required (optional
// properties are included with probability 1/2), items, minItems,
// maxItems, uniqueItems, minimum, maximum, exclusiveMinimum,
// exclusiveMaximum (as numbers, or draft 4 booleans), multipleOf,
// minLength, maxLength, format (date, date-time, time, email, uri, url,
// uuid, ipv4, hostname), anyOf and oneOf (the first branch that is not
// "null"), allOf (object branches merged), and local $ref ("#/…"). It does
// not honour pattern, patternProperties, not, if/then/else or
// dependencies. Strings are words of the corpus.
type schemaGen struct {
	rng   *rand.Rand
	words []string
	root  any
}

// generateJSON returns a JSON document generated from the schema raw
// (empty means {}: an object with no properties, as tool parameters
// default to).
func generateJSON(raw json.RawMessage, rng *rand.Rand, words []string) (string, error) {
	var root any = map[string]any{"type": "object"}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &root); err != nil {
			return "", fmt.Errorf("llmtest: schema: %w", err)
		}
	}
	g := &schemaGen{rng: rng, words: words, root: root}
	b, err := json.Marshal(g.value(root, 0))
	if err != nil {
		return "", fmt.Errorf("llmtest: schema: %w", err)
	}
	return string(b), nil
}

func (g *schemaGen) value(s any, depth int) any {
	m, ok := s.(map[string]any)
	if !ok { // true, false or not a schema: any value will do for true
		return g.words1()
	}
	if ref, ok := m["$ref"].(string); ok && depth < 4*maxSchemaDepth {
		if target, ok := g.resolve(ref); ok {
			return g.value(target, depth+1)
		}
	}
	if c, ok := m["const"]; ok {
		return c
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		return e[g.rng.IntN(len(e))]
	}
	for _, k := range []string{"anyOf", "oneOf"} {
		if bs, ok := m[k].([]any); ok && len(bs) > 0 {
			for _, b := range bs {
				if bm, ok := b.(map[string]any); !ok || bm["type"] != "null" {
					return g.value(b, depth+1)
				}
			}
			return nil
		}
	}
	if all, ok := m["allOf"].([]any); ok && len(all) > 0 {
		return g.value(mergeAll(m, all), depth+1)
	}
	switch schemaType(m) {
	case "object":
		return g.object(m, depth)
	case "array":
		return g.array(m, depth)
	case "integer":
		return g.integer(m)
	case "number":
		return g.number(m)
	case "boolean":
		return g.rng.IntN(2) == 0
	case "null":
		return nil
	}
	return g.str(m)
}

// schemaType is the type to generate: the first listed type that is not
// "null", else inferred from the keywords present.
func schemaType(m map[string]any) string {
	switch t := m["type"].(type) {
	case string:
		return t
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				return s
			}
		}
		if len(t) > 0 {
			return "null"
		}
	}
	switch {
	case m["properties"] != nil || m["required"] != nil:
		return "object"
	case m["items"] != nil:
		return "array"
	case m["minimum"] != nil || m["maximum"] != nil:
		return "number"
	}
	return "string"
}

// resolve follows a local JSON pointer reference.
func (g *schemaGen) resolve(ref string) (any, bool) {
	path, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	cur := g.root
	for tok := range strings.SplitSeq(strings.TrimPrefix(path, "/"), "/") {
		if tok == "" {
			continue
		}
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			if cur, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// mergeAll merges the branches of allOf into one schema: properties are
// united, required lists joined, other keywords taken from the first
// schema that has them.
func mergeAll(m map[string]any, all []any) map[string]any {
	out := map[string]any{}
	props := map[string]any{}
	var req []any
	for _, s := range append([]any{m}, all...) {
		sm, ok := s.(map[string]any)
		if !ok {
			continue
		}
		for k, v := range sm {
			switch k {
			case "allOf":
			case "properties":
				if pm, ok := v.(map[string]any); ok {
					for pk, pv := range pm {
						if _, dup := props[pk]; !dup {
							props[pk] = pv
						}
					}
				}
			case "required":
				if r, ok := v.([]any); ok {
					req = append(req, r...)
				}
			default:
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	if len(props) > 0 {
		out["properties"] = props
	}
	if len(req) > 0 {
		out["required"] = req
	}
	return out
}

func (g *schemaGen) object(m map[string]any, depth int) map[string]any {
	out := map[string]any{}
	props, _ := m["properties"].(map[string]any)
	required := map[string]bool{}
	if r, ok := m["required"].([]any); ok {
		for _, x := range r {
			if s, ok := x.(string); ok {
				required[s] = true
			}
		}
	}
	// Iterate in sorted order so the PRNG draws do not depend on map order.
	for _, k := range sortedKeys(props) {
		if required[k] || (depth < maxSchemaDepth && g.rng.IntN(2) == 0) {
			out[k] = g.value(props[k], depth+1)
		}
	}
	for k := range required { // required but not described: any string
		if _, ok := out[k]; !ok {
			out[k] = g.words1()
		}
	}
	return out
}

func (g *schemaGen) array(m map[string]any, depth int) []any {
	lo, hasLo := intKey(m, "minItems")
	hi, hasHi := intKey(m, "maxItems")
	if !hasLo && depth < maxSchemaDepth {
		lo = 1
	}
	if hasHi && lo > hi {
		lo = hi
	}
	top := lo + 2
	if hasHi {
		top = min(hi, top)
	}
	hi = top
	n := lo
	if depth < maxSchemaDepth && hi > lo {
		n += g.rng.IntN(hi - lo + 1)
	}
	items := m["items"]
	if items == nil {
		items = map[string]any{"type": "string"}
	}
	unique, _ := m["uniqueItems"].(bool)
	out := make([]any, 0, n)
	seen := map[string]bool{}
	for tries := 0; len(out) < n && tries < 20*n+20; tries++ {
		v := g.value(items, depth+1)
		if unique {
			b, _ := json.Marshal(v)
			if seen[string(b)] {
				continue
			}
			seen[string(b)] = true
		}
		out = append(out, v)
	}
	return out
}

// bounds returns the inclusive/exclusive numeric bounds of m.
func bounds(m map[string]any) (lo, hi float64, loEx, hiEx, hasLo, hasHi bool) {
	lo, hasLo = numKey(m, "minimum")
	hi, hasHi = numKey(m, "maximum")
	if v, ok := numKey(m, "exclusiveMinimum"); ok && (!hasLo || v >= lo) {
		lo, hasLo, loEx = v, true, true
	} else if b, _ := m["exclusiveMinimum"].(bool); b && hasLo {
		loEx = true
	}
	if v, ok := numKey(m, "exclusiveMaximum"); ok && (!hasHi || v <= hi) {
		hi, hasHi, hiEx = v, true, true
	} else if b, _ := m["exclusiveMaximum"].(bool); b && hasHi {
		hiEx = true
	}
	switch {
	case !hasLo && !hasHi:
		lo, hi = 0, 100
	case !hasLo:
		lo = hi - 100
	case !hasHi:
		hi = lo + 100
	}
	return lo, hi, loEx, hiEx, hasLo, hasHi
}

func (g *schemaGen) integer(m map[string]any) int64 {
	flo, fhi, loEx, hiEx, _, _ := bounds(m)
	lo, hi := math.Ceil(flo), math.Floor(fhi)
	if loEx && lo == flo {
		lo++
	}
	if hiEx && hi == fhi {
		hi--
	}
	step := 1.0
	if mo, ok := numKey(m, "multipleOf"); ok && mo >= 1 && mo == math.Trunc(mo) {
		step = mo
	}
	klo, khi := math.Ceil(lo/step), math.Floor(hi/step)
	if khi < klo {
		return int64(klo * step)
	}
	span := min(khi-klo, 1<<40)
	return int64((klo + float64(g.rng.Int64N(int64(span)+1))) * step)
}

func (g *schemaGen) number(m map[string]any) float64 {
	if mo, ok := numKey(m, "multipleOf"); ok && mo > 0 {
		lo, hi, loEx, hiEx, _, _ := bounds(m)
		klo, khi := math.Ceil(lo/mo), math.Floor(hi/mo)
		if loEx && klo*mo == lo {
			klo++
		}
		if hiEx && khi*mo == hi {
			khi--
		}
		if khi < klo {
			return klo * mo
		}
		return (klo + float64(g.rng.Int64N(int64(min(khi-klo, 1<<40))+1))) * mo
	}
	lo, hi, loEx, hiEx, _, _ := bounds(m)
	v := math.Round((lo+g.rng.Float64()*(hi-lo))*100) / 100
	if v < lo || v > hi || (loEx && v == lo) || (hiEx && v == hi) {
		v = lo + (hi-lo)/2
	}
	return v
}

func (g *schemaGen) str(m map[string]any) string {
	var s string
	switch f, _ := m["format"].(string); f {
	case "date":
		s = fmt.Sprintf("20%02d-%02d-%02d", 20+g.rng.IntN(10), 1+g.rng.IntN(12), 1+g.rng.IntN(28))
	case "date-time":
		s = fmt.Sprintf("20%02d-%02d-%02dT%02d:%02d:00Z", 20+g.rng.IntN(10), 1+g.rng.IntN(12), 1+g.rng.IntN(28), g.rng.IntN(24), g.rng.IntN(60))
	case "time":
		s = fmt.Sprintf("%02d:%02d:00Z", g.rng.IntN(24), g.rng.IntN(60))
	case "email":
		s = g.word() + "@example.com"
	case "uri", "url", "uri-reference", "iri":
		s = "https://example.com/" + g.word()
	case "uuid":
		s = fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Int64N(1<<48))
	case "ipv4":
		s = fmt.Sprintf("192.0.2.%d", 1+g.rng.IntN(254))
	case "hostname":
		s = g.word() + ".example.com"
	default:
		s = g.words1()
	}
	if lo, ok := intKey(m, "minLength"); ok {
		for len([]rune(s)) < lo {
			s += " " + g.word()
		}
	}
	if hi, ok := intKey(m, "maxLength"); ok && len([]rune(s)) > hi {
		r := []rune(s)[:hi]
		if hi > 0 && r[hi-1] == ' ' {
			r[hi-1] = 's'
		}
		s = string(r)
	}
	return s
}

// words1 returns one to three words.
func (g *schemaGen) words1() string {
	n := 1 + g.rng.IntN(3)
	w := make([]string, n)
	for i := range w {
		w[i] = g.word()
	}
	return strings.Join(w, " ")
}

func (g *schemaGen) word() string {
	if len(g.words) == 0 {
		return "word"
	}
	return g.words[g.rng.IntN(len(g.words))]
}

func numKey(m map[string]any, k string) (float64, bool) {
	v, ok := m[k].(float64)
	return v, ok
}

func intKey(m map[string]any, k string) (int, bool) {
	v, ok := m[k].(float64)
	if !ok || v < 0 || v > 1<<20 {
		return 0, false
	}
	return int(v), true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
