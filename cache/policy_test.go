package cache

import (
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
)

func ptr[T any](v T) *T { return &v }

func TestReproducible(t *testing.T) {
	tests := []struct {
		name string
		temp *float64
		seed *int64
		n    *int
		want bool
	}{
		{"temperature 0", ptr(0.0), nil, nil, true},
		{"temperature absent (default 1)", nil, nil, nil, false},
		{"temperature 0.7", ptr(0.7), nil, nil, false},
		{"seed", ptr(0.9), ptr(int64(7)), nil, true},
		{"seed, no temperature", nil, ptr(int64(7)), nil, true},
		{"n 1", ptr(0.0), nil, ptr(1), true},
		{"n 2", ptr(0.0), nil, ptr(2), false},
		{"n 2 with seed", nil, ptr(int64(1)), ptr(2), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reproducible(tc.temp, tc.seed, tc.n); got != tc.want {
				t.Errorf("Reproducible = %v, want %v", got, tc.want)
			}
			chat := &wire.ChatCompletionRequest{Temperature: tc.temp, Seed: tc.seed, N: tc.n}
			cmpl := &wire.CompletionRequest{Temperature: tc.temp, Seed: tc.seed, N: tc.n}
			if ReproducibleChat(chat) != tc.want || ReproducibleCompletion(cmpl) != tc.want {
				t.Error("the wire forms disagree")
			}
		})
	}
	if ReproducibleChat(nil) || ReproducibleCompletion(nil) {
		t.Error("nil request is reproducible")
	}
}

func TestParseCacheControl(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   CacheControl
	}{
		{"none", nil, CacheControl{}},
		{"no-cache", []string{"no-cache"}, CacheControl{NoCache: true}},
		{"case and spaces", []string{"  No-Store ,NO-CACHE"}, CacheControl{NoCache: true, NoStore: true}},
		{"several fields", []string{"no-cache", "no-store"}, CacheControl{NoCache: true, NoStore: true}},
		{"max-age", []string{"max-age=60"}, CacheControl{MaxAge: time.Minute, HasMaxAge: true}},
		{"max-age quoted", []string{`max-age="5"`}, CacheControl{MaxAge: 5 * time.Second, HasMaxAge: true}},
		{"smallest max-age", []string{"max-age=60, max-age=5"}, CacheControl{MaxAge: 5 * time.Second, HasMaxAge: true}},
		{"bad max-age ignored", []string{"max-age=-1, max-age=x, max-age"}, CacheControl{}},
		{"huge max-age", []string{"max-age=99999999999999999999999"}, CacheControl{MaxAge: 1<<63 - 1, HasMaxAge: true}},
		{"quoted comma", []string{`foo="a, no-store", only-if-cached`}, CacheControl{OnlyIfCached: true}},
		{"quoted escape", []string{`foo="a\", no-store", no-cache`}, CacheControl{NoCache: true}},
		{"unknown ignored", []string{"private, must-revalidate, no-transform"}, CacheControl{}},
		{"empty items", []string{",,no-store,,"}, CacheControl{NoStore: true}},
		{"prefix is not a match", []string{"no-cache-please, no-stored"}, CacheControl{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCacheControl(tc.values...); got != tc.want {
				t.Errorf("ParseCacheControl(%q) = %+v, want %+v", tc.values, got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name         string
		reproducible bool
		o            Override
		cc           CacheControl
		lookup       bool
		store        bool
	}{
		{"reproducible", true, OverrideNone, CacheControl{}, true, true},
		{"not reproducible", false, OverrideNone, CacheControl{}, false, false},
		{"forced", false, OverrideForce, CacheControl{}, true, true},
		{"forbidden", true, OverrideForbid, CacheControl{}, false, false},
		{"no-cache refreshes", true, OverrideNone, CacheControl{NoCache: true}, false, true},
		{"max-age=0 refreshes", true, OverrideNone, CacheControl{HasMaxAge: true}, false, true},
		{"no-store", true, OverrideNone, CacheControl{NoStore: true}, false, false},
		{"no-store beats force", false, OverrideForce, CacheControl{NoStore: true}, false, false},
		{"client cannot widen", false, OverrideNone, CacheControl{MaxAge: time.Hour, HasMaxAge: true}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Decide(tc.reproducible, tc.o, tc.cc)
			if p.Lookup != tc.lookup || p.Store != tc.store {
				t.Errorf("Decide = %+v, want lookup %v store %v", p, tc.lookup, tc.store)
			}
			if p.Bypass() != (!tc.lookup && !tc.store) {
				t.Error("Bypass disagrees")
			}
		})
	}
	p := Decide(true, OverrideNone, CacheControl{MaxAge: time.Minute, HasMaxAge: true, OnlyIfCached: true})
	if !p.HasMaxAge || p.MaxAge != time.Minute || !p.OnlyIfCached {
		t.Errorf("plan %+v", p)
	}
	for s, want := range map[string]Override{"": OverrideNone, "Force": OverrideForce, "never": OverrideForbid} {
		if got, ok := ParseOverride(s); !ok || got != want {
			t.Errorf("ParseOverride(%q) = %v, %v", s, got, ok)
		}
	}
	if _, ok := ParseOverride("maybe"); ok {
		t.Error("ParseOverride(maybe) ok")
	}
}
