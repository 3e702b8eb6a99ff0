package vm

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// bytesource hands out choices from fuzz bytes; zeros when exhausted.
type bytesource struct{ b []byte }

func (s *bytesource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *bytesource) pick(n int) int { return int(s.byte()) % n }

func (s *bytesource) bool() bool { return s.byte()&1 == 1 }

// number returns a JSON number: small integers, fractions, zero, negative,
// huge and tiny values.
func (s *bytesource) number() any {
	switch s.pick(8) {
	case 0:
		return 0
	case 1:
		return int(s.byte())
	case 2:
		return float64(s.byte()) / 100
	case 3:
		return -int(s.byte())
	case 4:
		return 1e-7 * float64(s.byte())
	case 5:
		return math.MaxInt64
	case 6:
		return 9
	}
	return float64(s.byte()) * 1e6
}

// value returns an arbitrary JSON value of a few kinds, for fields that a
// policy expects to have another type.
func (s *bytesource) value() any {
	switch s.pick(6) {
	case 0:
		return s.number()
	case 1:
		return "x" + strconv.Itoa(s.pick(4))
	case 2:
		return s.bool()
	case 3:
		return nil
	case 4:
		return []any{s.number()}
	}
	return map[string]any{"k": s.number()}
}

var (
	fuzzTiers  = []string{"free", "pro", "enterprise", "gold", "", "batch"}
	fuzzModels = []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1-nano", "llmtest-small", "llmtest-a/b", "o3-pro", "gpt-4o-2024-05-13", ""}
	fuzzCats   = []string{"harassment", "hate", "violence", "sexual", "pii/email", "pii/phone", "self-harm"}
	fuzzZones  = []string{"UTC", "Europe/Paris", "America/New_York", "Mars/Olympus", ""}
)

// fuzzDoc builds an input document and data overrides from fuzz bytes.
func fuzzDoc(b []byte) (input, data map[string]any) {
	s := &bytesource{b}
	model := fuzzModels[s.pick(len(fuzzModels))]
	req := map[string]any{"model": model, "n": s.pick(4), "stream": s.bool()}
	switch s.pick(4) {
	case 0:
		req["tools"] = []any{}
	case 1:
		req["tools"] = []any{"get_weather"}
	case 2:
		req["tools"] = s.value()
	}
	if s.pick(4) == 0 {
		req["stream"] = s.value()
	}
	if s.bool() {
		req["has_images"] = s.bool()
	}
	principal := map[string]any{"key_id": "k1", "tier": fuzzTiers[s.pick(len(fuzzTiers))]}
	if s.pick(8) == 0 {
		principal["tier"] = s.value()
	}
	if s.pick(4) == 0 {
		principal["labels"] = map[string]any{"suspended": []string{"true", "false"}[s.pick(2)]}
	}
	mdl := map[string]any{"name": model, "known": true}
	switch s.pick(4) {
	case 0:
		mdl["deprecated"] = true
	case 1:
		mdl["deprecated"] = false
	case 2:
		mdl["deprecated"] = s.value()
	}
	if s.bool() {
		mdl["context_window"] = s.number()
	}
	input = map[string]any{
		"request":   req,
		"principal": principal,
		"model":     mdl,
		"tokens":    map[string]any{"prompt": s.number(), "max_completion": s.number()},
		"time":      map[string]any{"unix_ns": 1748858400000000000 + int64(s.byte())*3600e9},
	}
	switch s.pick(4) {
	case 0:
		input["cost"] = map[string]any{"estimate_usd": s.number()}
	case 1:
		input["cost"] = map[string]any{"estimate_usd": s.value()}
	case 2:
		input["cost"] = map[string]any{}
	}
	if n := s.pick(4); n > 0 {
		budgets := map[string]any{}
		for i := range n {
			budgets[[]string{"key", "user", "org"}[i]] = map[string]any{
				"window": "month", "budget_usd": s.number(), "remaining_usd": s.number(),
			}
		}
		input["budgets"] = budgets
	}
	if s.bool() {
		cats, scores := map[string]any{}, map[string]any{}
		for range s.pick(4) {
			c := fuzzCats[s.pick(len(fuzzCats))]
			cats[c] = s.bool()
			scores[c] = float64(s.byte()) / 255
		}
		input["moderation"] = map[string]any{"flagged": s.bool(), "categories": cats, "scores": scores}
	}

	cfg := map[string]any{}
	if s.bool() {
		cfg["deny_deprecated"] = s.bool()
	}
	if s.bool() {
		th := map[string]any{}
		for range s.pick(3) {
			th[fuzzCats[s.pick(len(fuzzCats))]] = float64(s.byte()) / 255
		}
		cfg["moderation"] = map[string]any{"thresholds": th}
		if s.bool() {
			cfg["moderation"].(map[string]any)["ignore"] = []any{fuzzCats[s.pick(len(fuzzCats))]}
		}
	}
	if s.bool() {
		tier := map[string]any{}
		if s.bool() {
			tier["hours"] = map[string]any{"from": s.pick(25), "to": s.pick(25), "tz": fuzzZones[s.pick(len(fuzzZones))]}
		}
		if s.bool() {
			tier["tools"] = s.bool()
		}
		if s.bool() {
			tier["stream"] = s.bool()
		}
		if s.bool() {
			tier["rewrite"] = map[string]any{model: "gpt-4o-mini"}
		}
		cfg["tiers"] = map[string]any{fuzzTiers[s.pick(3)]: tier}
	}
	return input, map[string]any{"llmgate_config": cfg}
}

// FuzzLibrary: the library's decision by the VM and by topdown agree on
// inputs and settings built from fuzz bytes.
func FuzzLibrary(f *testing.F) {
	for _, seed := range []string{
		"", "\x01\x02\x03", "\x00\x01\x00\x01\x01\x01\x01\x01\x01",
		"\x03\x03\x02\x01\x00\x05\x07\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0\xef\xee\xed\xec\xeb\xea",
		"\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01",
	} {
		f.Add([]byte(seed))
	}
	d, base := libraryDecider(f)
	baseJSON := jsonOf(base)
	f.Fuzz(func(t *testing.T, b []byte) {
		in, over := fuzzDoc(b)
		input := ast.MustInterfaceToValue(in)
		data := union(baseJSON, jsonOf(ast.MustInterfaceToValue(over)))
		d.agree(t, "fuzz", input, data, time.Unix(0, 1748858400000000000))
	})
}
