package models

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Model is what a Catalog knows about one model, as Catalog.Resolve
// returns it. The zero value is an unknown model: no limits, unknown
// prices, no encoding.
type Model struct {
	// Name is the name to send upstream: the requested name after aliases
	// and version pinning ("gpt-4" pinned to "gpt-4-0613" has Name
	// "gpt-4-0613"), in the spelling it was given.
	Name string
	// Entry is the catalog entry that matched ("gpt-4o" for
	// "gpt-4o-2024-08-06"), or "" for an unknown model.
	Entry string
	// Encoding is the tokenizer encoding: the entry's when it sets one,
	// else EncodingFor(Name).
	Encoding string
	// ContextWindow is the model's context length in tokens (prompt plus
	// completion); 0 means unknown.
	ContextWindow int
	// MaxOutput is the most completion tokens one response may have; 0
	// means unknown (or none, for embedding models).
	MaxOutput int
	// Prices are the model's prices; see Prices.Known.
	Prices Prices
	// FineTune reports that Name is a fine-tune ("ft:gpt-4o-mini-…"). Its
	// limits and encoding are the base model's; its prices are unknown
	// unless an override names the fine-tune, since fine-tunes are priced
	// differently from their base.
	FineTune bool
	// Deprecated reports that the provider deprecated the model.
	Deprecated bool
	// Replacement is the model the provider recommends instead, when
	// Deprecated; may be empty.
	Replacement string
	// DeprecatedOn is the date ("2006-01-02") the deprecation was announced,
	// and ShutdownOn the date the model stops (or stopped) being served;
	// either may be empty when unknown.
	DeprecatedOn, ShutdownOn string
}

// DeprecatedHeader is the response header that tells a client, in words,
// that the model it asked for is deprecated: "use gpt-4o", or "deprecated"
// when there is no replacement. The standard headers (Deprecation, RFC
// 9745; Sunset, RFC 8594) carry only dates and need a date to be sent at
// all; this one carries the replacement, which is what a developer needs.
const DeprecatedHeader = "x-llmgate-deprecated"

// httpDate is the IMF-fixdate of RFC 9110 (net/http's TimeFormat).
const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

// Header is one HTTP response header, as a name and a value. models knows
// nothing about HTTP; the middleware adds these to the response.
type Header struct{ Name, Value string }

// DeprecationHeaders returns the headers that announce a deprecated model,
// or nil when the model is not deprecated:
//   - "Deprecation: @<unix seconds>" (RFC 9745) when DeprecatedOn is known;
//   - "Sunset: <HTTP-date>" (RFC 8594) when ShutdownOn is known;
//   - DeprecatedHeader: "use <replacement>" or "deprecated", always.
func (m Model) DeprecationHeaders() []Header {
	if !m.Deprecated {
		return nil
	}
	h := make([]Header, 0, 3)
	if t, err := time.Parse(time.DateOnly, m.DeprecatedOn); err == nil {
		h = append(h, Header{"Deprecation", fmt.Sprintf("@%d", t.Unix())})
	}
	if t, err := time.Parse(time.DateOnly, m.ShutdownOn); err == nil {
		h = append(h, Header{"Sunset", t.UTC().Format(httpDate)})
	}
	v := "deprecated"
	if m.Replacement != "" {
		v = "use " + m.Replacement
	}
	return append(h, Header{DeprecatedHeader, v})
}

// Override changes or adds a catalog entry from configuration. Nil or empty
// fields keep the entry's value; the YAML and JSON names are those of the
// proxy's `models:` section, with prices in US dollars per 1M tokens:
//
//	models:
//	  gpt-4o: {input: 2.5, cached_input: 1.25, output: 10}
//	  my-llama: {context_window: 8192, encoding: cl100k_base}
type Override struct {
	// Input, CachedInput and Output are prices in USD per 1M tokens. When
	// Input is set and CachedInput is not, and the entry had no prices,
	// CachedInput is Input.
	Input       *float64 `yaml:"input,omitempty" json:"input,omitempty"`
	CachedInput *float64 `yaml:"cached_input,omitempty" json:"cached_input,omitempty"`
	Output      *float64 `yaml:"output,omitempty" json:"output,omitempty"`
	// AsOf dates the prices. Default: "config" when a price is set.
	AsOf string `yaml:"as_of,omitempty" json:"as_of,omitempty"`
	// ContextWindow and MaxOutput are limits in tokens.
	ContextWindow *int `yaml:"context_window,omitempty" json:"context_window,omitempty"`
	MaxOutput     *int `yaml:"max_output,omitempty" json:"max_output,omitempty"`
	// Encoding is a tokenizer encoding name ("o200k_base", …).
	Encoding string `yaml:"encoding,omitempty" json:"encoding,omitempty"`
	// Deprecated marks or unmarks the model; Replacement names its successor.
	Deprecated  *bool  `yaml:"deprecated,omitempty" json:"deprecated,omitempty"`
	Replacement string `yaml:"replacement,omitempty" json:"replacement,omitempty"`
}

// Config builds a Catalog. The zero Config is the built-in catalog.
type Config struct {
	// Models overrides built-in entries by exact entry name, or adds new
	// entries. A new entry starts from what the catalog, with the overrides
	// of existing entries applied, resolves its name to
	// ("gpt-4o-2024-11-20" starts as "gpt-4o"), so overriding a snapshot's
	// price leaves its family alone. Names match case-insensitively.
	Models map[string]Override `yaml:"models,omitempty" json:"models,omitempty"`
	// Aliases maps a requested name to the name to use instead: version
	// pinning ("gpt-4": "gpt-4-0613") or plain aliases ("fast": "gpt-4o-mini").
	// Aliases chain; a cycle is a configuration error.
	Aliases map[string]string `yaml:"aliases,omitempty" json:"aliases,omitempty"`
	// NoBuiltin starts from an empty catalog instead of the built-in one.
	NoBuiltin bool `yaml:"no_builtin,omitempty" json:"no_builtin,omitempty"`
}

// ErrConfig wraps every error New returns about a bad Config.
var ErrConfig = errors.New("models: invalid catalog config")

// Catalog resolves model names to Models: aliases first, then the entries.
// It is immutable after New and safe for concurrent use. The zero Catalog
// (and a nil *Catalog) knows no models and has no aliases.
type Catalog struct {
	entries map[string]Model  // lower-cased entry name → entry (Name empty)
	aliases map[string]string // lower-cased name → target, as written
}

// Builtin returns the built-in catalog with no overrides or aliases. It is
// built once and shared: build your own with New to change it.
func Builtin() *Catalog { return builtinCatalog() }

var builtinCatalog = sync.OnceValue(func() *Catalog {
	c, err := New(Config{})
	if err != nil {
		panic(err) // the built-in table is valid; TestBuiltinTable checks it
	}
	return c
})

// New builds a catalog from the built-in table and cfg. It fails (wrapping
// ErrConfig) on a negative or out-of-range price or limit, an unknown
// encoding, a malformed date, an empty alias, or an alias cycle.
func New(cfg Config) (*Catalog, error) {
	c := &Catalog{
		entries: make(map[string]Model, len(builtin)+len(cfg.Models)),
		aliases: make(map[string]string, len(cfg.Aliases)),
	}
	if !cfg.NoBuiltin {
		for name, m := range builtin {
			c.entries[strings.ToLower(name)] = m
		}
	}
	// Overrides of existing entries first, then new entries, each in name
	// order, so that a new entry's starting point does not depend on map
	// iteration.
	names := make([]string, 0, len(cfg.Models))
	for name := range cfg.Models {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		_, oldI := c.entries[strings.ToLower(names[i])]
		_, oldJ := c.entries[strings.ToLower(names[j])]
		if oldI != oldJ {
			return oldI
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		key := strings.ToLower(name)
		if key == "" {
			return nil, fmt.Errorf("%w: empty model name", ErrConfig)
		}
		m, ok := c.entries[key]
		if !ok {
			m, _ = c.lookup(key)
		}
		if err := apply(&m, cfg.Models[name]); err != nil {
			return nil, fmt.Errorf("%w: model %q: %w", ErrConfig, name, err)
		}
		c.entries[key] = m
	}
	for name, target := range cfg.Aliases {
		if name == "" || target == "" {
			return nil, fmt.Errorf("%w: alias %q → %q: empty name", ErrConfig, name, target)
		}
		c.aliases[strings.ToLower(name)] = target
	}
	for name := range c.aliases {
		seen := map[string]bool{name: true}
		for n := name; ; {
			t, ok := c.aliases[n]
			if !ok {
				break
			}
			n = strings.ToLower(t)
			if seen[n] {
				return nil, fmt.Errorf("%w: alias cycle through %q", ErrConfig, name)
			}
			seen[n] = true
		}
	}
	return c, nil
}

func apply(m *Model, o Override) error {
	priced := false
	for _, p := range []struct {
		v   *float64
		dst *Price
	}{{o.Input, &m.Prices.Input}, {o.CachedInput, &m.Prices.CachedInput}, {o.Output, &m.Prices.Output}} {
		if p.v == nil {
			continue
		}
		v, err := USD(*p.v)
		if err != nil {
			return err
		}
		*p.dst, priced = v, true
	}
	if o.Input != nil && o.CachedInput == nil && !m.Prices.Known() {
		m.Prices.CachedInput = m.Prices.Input
	}
	switch {
	case o.AsOf != "":
		m.Prices.AsOf = o.AsOf
	case priced:
		m.Prices.AsOf = "config"
	}
	for _, l := range []struct {
		v   *int
		dst *int
	}{{o.ContextWindow, &m.ContextWindow}, {o.MaxOutput, &m.MaxOutput}} {
		if l.v == nil {
			continue
		}
		if *l.v < 0 {
			return fmt.Errorf("negative token limit %d", *l.v)
		}
		*l.dst = *l.v
	}
	if o.Encoding != "" {
		switch o.Encoding {
		case O200kBase, Cl100kBase, P50kBase, R50kBase:
			m.Encoding = o.Encoding
		default:
			return fmt.Errorf("unknown encoding %q", o.Encoding)
		}
	}
	if o.Deprecated != nil {
		m.Deprecated = *o.Deprecated
	}
	if o.Replacement != "" {
		m.Replacement = o.Replacement
	}
	return nil
}

// Resolve returns the model a request for name should use, and whether the
// catalog knows it. It follows aliases (exact, case-insensitive names) to
// their end, then matches the target against the entries:
//   - an exact entry name, case-insensitively ("GPT-4o" → "gpt-4o");
//   - a fine-tune, "ft:BASE:ORG:SUFFIX:ID" or "BASE:ft-…", as its base
//     model with FineTune set and prices unknown, unless the full
//     fine-tune name is an entry itself;
//   - an open model as vLLM or Ollama names it: a Hugging Face
//     organisation ("meta-llama/") and an Ollama tag (":8b") are ignored;
//   - the longest entry that is a prefix of the name followed by "-"
//     ("gpt-4.1-nano-2025-04-14" → "gpt-4.1-nano", not "gpt-4.1").
//
// An unknown model comes back as Model{Name: target, Encoding:
// EncodingFor(target)} and false.
func (c *Catalog) Resolve(name string) (Model, bool) {
	target := c.follow(name)
	m, ok := c.lookup(strings.ToLower(target))
	m.Name = target
	if m.Encoding == "" {
		m.Encoding = EncodingFor(target)
	}
	return m, ok
}

// Target returns the name a request for name is sent upstream as: name
// after aliases and version pinning.
func (c *Catalog) Target(name string) string { return c.follow(name) }

// follow applies aliases; New rejected cycles, and the loop is bounded
// anyway.
func (c *Catalog) follow(name string) string {
	if c == nil {
		return name
	}
	for range len(c.aliases) {
		t, ok := c.aliases[strings.ToLower(name)]
		if !ok {
			break
		}
		name = t
	}
	return name
}

// lookup finds the entry of a lower-cased, alias-free name.
func (c *Catalog) lookup(key string) (Model, bool) {
	if c == nil {
		return Model{}, false
	}
	if m, ok := c.entries[key]; ok {
		m.Entry = key
		return m, true
	}
	if base := baseModel(key); base != key {
		m, ok := c.lookup(base)
		if ok {
			m.FineTune = true
			m.Prices = Prices{}
		}
		return m, ok
	}
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		key = key[i+1:]
	}
	if i := strings.IndexByte(key, ':'); i >= 0 {
		key = key[:i]
	}
	for k := key; k != ""; {
		if m, ok := c.entries[k]; ok {
			m.Entry = k
			return m, true
		}
		i := strings.LastIndexByte(k, '-')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return Model{}, false
}

// Models returns the names of the catalog's entries, sorted.
func (c *Catalog) Models() []string {
	if c == nil {
		return nil
	}
	names := make([]string, 0, len(c.entries))
	for n := range c.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
