package models

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestBuiltinTable(t *testing.T) {
	for name, m := range builtin {
		t.Run(name, func(t *testing.T) {
			if name != strings.ToLower(name) {
				t.Errorf("entry name %q is not lower case", name)
			}
			p := m.Prices
			if p.Input < 0 || p.CachedInput < 0 || p.Output < 0 || p.Input > MaxPrice || p.Output > MaxPrice {
				t.Errorf("prices out of range: %+v", p)
			}
			if p.Known() && p.CachedInput > p.Input {
				t.Errorf("cached input %v costs more than input %v", p.CachedInput, p.Input)
			}
			if !p.Known() && (p.Input != 0 || p.Output != 0) {
				t.Errorf("unknown prices but non-zero: %+v", p)
			}
			if p.Known() && p.AsOf != NominalPrices {
				if _, err := time.Parse(time.DateOnly, p.AsOf); err != nil {
					t.Errorf("AsOf %q: %v", p.AsOf, err)
				}
			}
			for _, d := range []string{m.DeprecatedOn, m.ShutdownOn} {
				if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
					t.Errorf("date %q: %v", d, err)
				}
			}
			if m.Replacement != "" {
				if _, ok := builtin[m.Replacement]; !ok {
					t.Errorf("replacement %q is not in the catalog", m.Replacement)
				}
			}
			if m.MaxOutput > m.ContextWindow {
				t.Errorf("max output %d > context window %d", m.MaxOutput, m.ContextWindow)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	c := Builtin()
	tests := []struct {
		name, entry, encoding string
		known, fineTune       bool
		input, cached, output Price
		context               int
	}{
		{"gpt-4o", "gpt-4o", O200kBase, true, false, 2_500_000, 1_250_000, 10_000_000, 128_000},
		{"GPT-4o", "gpt-4o", O200kBase, true, false, 2_500_000, 1_250_000, 10_000_000, 128_000},
		{"gpt-4o-2024-08-06", "gpt-4o", O200kBase, true, false, 2_500_000, 1_250_000, 10_000_000, 128_000},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13", O200kBase, true, false, 5_000_000, 5_000_000, 15_000_000, 128_000},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini", O200kBase, true, false, 150_000, 75_000, 600_000, 128_000},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano", O200kBase, true, false, 100_000, 25_000, 400_000, 1_047_576},
		{"gpt-4.1-2025-04-14", "gpt-4.1", O200kBase, true, false, 2_000_000, 500_000, 8_000_000, 1_047_576},
		{"gpt-5-nano", "gpt-5-nano", O200kBase, true, false, 50_000, 5_000, 400_000, 400_000},
		{"o4-mini-2025-04-16", "o4-mini", O200kBase, true, false, 1_100_000, 275_000, 4_400_000, 200_000},
		{"gpt-4-0613", "gpt-4", Cl100kBase, true, false, 30_000_000, 30_000_000, 60_000_000, 8_192},
		{"gpt-4-1106-preview", "gpt-4-1106-preview", Cl100kBase, true, false, 10_000_000, 10_000_000, 30_000_000, 128_000},
		{"gpt-3.5-turbo-0125", "gpt-3.5-turbo", Cl100kBase, true, false, 500_000, 500_000, 1_500_000, 16_385},
		{"gpt-3.5-turbo-instruct", "gpt-3.5-turbo-instruct", Cl100kBase, true, false, 1_500_000, 1_500_000, 2_000_000, 4_096},
		{"text-embedding-3-small", "text-embedding-3-small", Cl100kBase, true, false, 20_000, 20_000, 0, 8_191},
		{"ft:gpt-4o-mini-2024-07-18:acme::abc123", "gpt-4o-mini", O200kBase, true, true, 0, 0, 0, 128_000},
		{"meta-llama/Llama-3.1-8B-Instruct", "llama-3.1", O200kBase, true, false, 0, 0, 0, 131_072},
		{"llama3.1:8b", "llama3.1", O200kBase, true, false, 0, 0, 0, 131_072},
		{"llama3:70b", "llama3", O200kBase, true, false, 0, 0, 0, 8_192},
		{"Qwen/Qwen2.5-7B-Instruct", "qwen2.5", O200kBase, true, false, 0, 0, 0, 32_768},
		{"mistralai/Mistral-Nemo-Instruct-2407", "mistral-nemo", O200kBase, true, false, 0, 0, 0, 128_000},
		{"mistral:7b", "mistral", O200kBase, true, false, 0, 0, 0, 32_768},
		{"google/gemma-2-9b-it", "gemma-2", O200kBase, true, false, 0, 0, 0, 8_192},
		{"deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek-r1", O200kBase, true, false, 0, 0, 0, 131_072},
		{"llmtest-tiny", "llmtest", O200kBase, true, false, 1_000_000, 100_000, 4_000_000, 0},
		{"gpt-4ox", "", O200kBase, false, false, 0, 0, 0, 0},
		{"o10", "", O200kBase, false, false, 0, 0, 0, 0},
		{"my-model", "", O200kBase, false, false, 0, 0, 0, 0},
		{"", "", O200kBase, false, false, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := c.Resolve(tt.name)
			if ok != tt.known || m.Name != tt.name || m.Entry != tt.entry || m.Encoding != tt.encoding || m.FineTune != tt.fineTune {
				t.Errorf("Resolve(%q) = %+v, %v; want entry %q encoding %q known %v fine-tune %v",
					tt.name, m, ok, tt.entry, tt.encoding, tt.known, tt.fineTune)
			}
			p := m.Prices
			if p.Input != tt.input || p.CachedInput != tt.cached || p.Output != tt.output || m.ContextWindow != tt.context {
				t.Errorf("Resolve(%q): prices %+v context %d; want %v/%v/%v context %d",
					tt.name, p, m.ContextWindow, tt.input, tt.cached, tt.output, tt.context)
			}
		})
	}
}

func TestAliases(t *testing.T) {
	c, err := New(Config{Aliases: map[string]string{
		"gpt-4":  "gpt-4-0613",
		"fast":   "cheap",
		"cheap":  "gpt-4o-mini",
		"Legacy": "gpt-4",
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, target, entry string }{
		{"gpt-4", "gpt-4-0613", "gpt-4"},
		{"GPT-4", "gpt-4-0613", "gpt-4"},
		{"fast", "gpt-4o-mini", "gpt-4o-mini"},
		{"legacy", "gpt-4-0613", "gpt-4"}, // two hops, case-insensitive
		{"gpt-4-0613", "gpt-4-0613", "gpt-4"},
		{"gpt-4o", "gpt-4o", "gpt-4o"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := c.Resolve(tt.name)
			if !ok || m.Name != tt.target || m.Entry != tt.entry || c.Target(tt.name) != tt.target {
				t.Errorf("Resolve(%q) = %q (entry %q), %v; Target %q; want %q (entry %q)",
					tt.name, m.Name, m.Entry, ok, c.Target(tt.name), tt.target, tt.entry)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"self alias", Config{Aliases: map[string]string{"a": "a"}}, "cycle"},
		{"two-cycle", Config{Aliases: map[string]string{"a": "b", "b": "A"}}, "cycle"},
		{"three-cycle", Config{Aliases: map[string]string{"a": "b", "b": "c", "c": "a", "d": "a"}}, "cycle"},
		{"empty target", Config{Aliases: map[string]string{"a": ""}}, "empty"},
		{"negative price", Config{Models: map[string]Override{"m": {Input: ptr(-1.0)}}}, "out of range"},
		{"huge price", Config{Models: map[string]Override{"m": {Output: ptr(2e6)}}}, "out of range"},
		{"negative context", Config{Models: map[string]Override{"m": {ContextWindow: ptr(-1)}}}, "negative"},
		{"bad encoding", Config{Models: map[string]Override{"m": {Encoding: "gpt2"}}}, "encoding"},
		{"empty name", Config{Models: map[string]Override{"": {}}}, "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v; want ErrConfig containing %q", err, tt.want)
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	c, err := New(Config{
		Models: map[string]Override{
			"gpt-4o":                 {Input: ptr(2.0), AsOf: "2026-01-01"},
			"gpt-4o-2024-11-20":      {Output: ptr(12.5)},
			"my-llama":               {Input: ptr(0.1), Output: ptr(0.2), ContextWindow: ptr(8192), Encoding: Cl100kBase},
			"llama3.1":               {Input: ptr(0.05)},
			"ft:gpt-4o-mini:acme::x": {Input: ptr(0.3), CachedInput: ptr(0.15), Output: ptr(1.2)},
			"gpt-4.1":                {Deprecated: ptr(true), Replacement: "gpt-5"},
		},
		Aliases: map[string]string{"house": "my-llama"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		input, cached, output Price
		asOf, encoding, entry string
		context               int
		fineTune, deprecated  bool
	}{
		// Only the overridden price changes; the rest of the entry stays.
		{"gpt-4o", 2_000_000, 1_250_000, 10_000_000, "2026-01-01", O200kBase, "gpt-4o", 128_000, false, false},
		// A new snapshot entry starts from its (overridden) family; the family keeps its output price.
		{"gpt-4o-2024-11-20", 2_000_000, 1_250_000, 12_500_000, "config", O200kBase, "gpt-4o-2024-11-20", 128_000, false, false},
		{"gpt-4o-2024-08-06", 2_000_000, 1_250_000, 10_000_000, "2026-01-01", O200kBase, "gpt-4o", 128_000, false, false},
		{"house", 100_000, 100_000, 200_000, "config", Cl100kBase, "my-llama", 8192, false, false},
		{"llama3.1:70b", 50_000, 50_000, 0, "config", O200kBase, "llama3.1", 131_072, false, false},
		{"ft:gpt-4o-mini:acme::x", 300_000, 150_000, 1_200_000, "config", O200kBase, "ft:gpt-4o-mini:acme::x", 128_000, true, false},
		{"ft:gpt-4o-mini:acme::y", 0, 0, 0, "", O200kBase, "gpt-4o-mini", 128_000, true, false},
		{"gpt-4.1-mini", 400_000, 100_000, 1_600_000, OpenAIPricesAsOf, O200kBase, "gpt-4.1-mini", 1_047_576, false, false},
		{"gpt-4.1", 2_000_000, 500_000, 8_000_000, OpenAIPricesAsOf, O200kBase, "gpt-4.1", 1_047_576, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := c.Resolve(tt.name)
			p := m.Prices
			if !ok || p.Input != tt.input || p.CachedInput != tt.cached || p.Output != tt.output || p.AsOf != tt.asOf ||
				m.Encoding != tt.encoding || m.Entry != tt.entry || m.ContextWindow != tt.context ||
				m.FineTune != tt.fineTune || m.Deprecated != tt.deprecated {
				t.Errorf("Resolve(%q) = %+v, %v; want %+v", tt.name, m, ok, tt)
			}
		})
	}
	// The built-in catalog is not changed by overrides.
	if m, _ := Builtin().Resolve("gpt-4o"); m.Prices.Input != 2_500_000 {
		t.Errorf("built-in gpt-4o input = %v after overrides", m.Prices.Input)
	}
}

func TestNoBuiltin(t *testing.T) {
	c, err := New(Config{NoBuiltin: true, Models: map[string]Override{"house": {ContextWindow: ptr(4096)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Resolve("gpt-4o"); ok {
		t.Error("gpt-4o known without the built-in table")
	}
	if m, ok := c.Resolve("house-v2"); !ok || m.ContextWindow != 4096 {
		t.Errorf("Resolve(house-v2) = %+v, %v", m, ok)
	}
	if got := c.Models(); len(got) != 1 || got[0] != "house" {
		t.Errorf("Models() = %v", got)
	}
	var zero *Catalog
	if m, ok := zero.Resolve("gpt-4o"); ok || m.Name != "gpt-4o" || m.Encoding != O200kBase {
		t.Errorf("nil catalog Resolve = %+v, %v", m, ok)
	}
}

func TestDeprecationHeaders(t *testing.T) {
	tests := []struct {
		name string
		want []Header
	}{
		{"gpt-4o", nil},
		{"gpt-4-32k-0613", []Header{
			{"Deprecation", "@1717632000"},
			{"Sunset", "Fri, 06 Jun 2025 00:00:00 GMT"},
			{DeprecatedHeader, "use gpt-4o"},
		}},
		{"o1-preview", []Header{{DeprecatedHeader, "use o1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _ := Builtin().Resolve(tt.name)
			got := m.DeprecationHeaders()
			if len(got) != len(tt.want) {
				t.Fatalf("DeprecationHeaders() = %v; want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("header %d = %v; want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if h := (Model{Deprecated: true}).DeprecationHeaders(); len(h) != 1 || h[0].Value != "deprecated" {
		t.Errorf("no replacement: %v", h)
	}
}

func TestPrice(t *testing.T) {
	tests := []struct {
		usd  float64
		want Price
		str  string
	}{
		{2.5, 2_500_000, "$2.50"},
		{0.075, 75_000, "$0.075"},
		{0.005, 5_000, "$0.005"},
		{0.0000015, 2, "$0.000002"}, // rounded to the nearest micro-USD
		{150, 150_000_000, "$150.00"},
		{0, 0, "$0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			p, err := USD(tt.usd)
			if err != nil || p != tt.want || p.String() != tt.str {
				t.Errorf("USD(%v) = %v (%d), %v; want %s (%d)", tt.usd, p, int64(p), err, tt.str, tt.want)
			}
		})
	}
	if Price(-1_500_000).String() != "-$1.50" {
		t.Errorf("negative: %s", Price(-1_500_000))
	}
}

func TestCatalogConcurrent(t *testing.T) {
	c, err := New(Config{Aliases: map[string]string{"gpt-4": "gpt-4-0613"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if m, ok := c.Resolve("gpt-4"); !ok || m.Name != "gpt-4-0613" {
					t.Errorf("Resolve = %+v, %v", m, ok)
					return
				}
			}
		})
	}
	wg.Wait()
}
