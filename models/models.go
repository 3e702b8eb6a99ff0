package models

import "strings"

// Encoding names, as tiktoken spells them.
const (
	// O200kBase is the encoding of gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the
	// o-series reasoning models.
	O200kBase = "o200k_base"
	// Cl100kBase is the encoding of gpt-4, gpt-3.5-turbo and the
	// text-embedding-3 / ada-002 embedding models.
	Cl100kBase = "cl100k_base"
	// P50kBase is the encoding of text-davinci-002/003 and the codex models.
	P50kBase = "p50k_base"
	// R50kBase is the encoding of the GPT-3 base models (davinci, curie,
	// babbage, ada) and their first-generation variants.
	R50kBase = "r50k_base"
)

// DefaultEncoding is the encoding [EncodingFor] returns for a model the
// catalog does not know. Every chat model OpenAI released since gpt-4o
// (May 2024) uses o200k_base, so an unknown name is most likely a newer
// model of that family; for a self-hosted model with its own tokenizer
// the count is an estimate either way.
const DefaultEncoding = O200kBase

// Info is what the catalog knows about one model. The zero value is an
// unknown model with no encoding.
//
// More fields (prices, context window, deprecation) will be added; code
// that builds an Info should use field names.
type Info struct {
	// Name is the catalog name the model was resolved to: the family for
	// a dated snapshot or variant ("gpt-4o-2024-08-06" → "gpt-4o"), the
	// base model's family for a fine-tune
	// ("ft:gpt-4o-mini-2024-07-18:org::id" → "gpt-4o-mini").
	Name string
	// Encoding is the tokenizer encoding, one of the constants above.
	Encoding string
}

// family is a catalog entry matched by prefix: the name itself, and the
// name followed by "-" and anything (dated snapshots, sizes, previews).
type family struct {
	name     string
	encoding string
}

// exact holds names whose encoding differs from what the prefix rules
// would give, and names without a family.
var exact = map[string]string{
	"davinci-002":                  Cl100kBase,
	"babbage-002":                  Cl100kBase,
	"text-davinci-003":             P50kBase,
	"text-davinci-002":             P50kBase,
	"text-davinci-001":             R50kBase,
	"text-curie-001":               R50kBase,
	"text-babbage-001":             R50kBase,
	"text-ada-001":                 R50kBase,
	"davinci":                      R50kBase,
	"curie":                        R50kBase,
	"babbage":                      R50kBase,
	"ada":                          R50kBase,
	"code-davinci-002":             P50kBase,
	"code-davinci-001":             P50kBase,
	"code-cushman-002":             P50kBase,
	"code-cushman-001":             P50kBase,
	"davinci-codex":                P50kBase,
	"cushman-codex":                P50kBase,
	"text-davinci-edit-001":        P50kBase,
	"code-davinci-edit-001":        P50kBase,
	"text-embedding-ada-002":       Cl100kBase,
	"text-embedding-3-small":       Cl100kBase,
	"text-embedding-3-large":       Cl100kBase,
	"text-similarity-davinci-001":  R50kBase,
	"text-similarity-curie-001":    R50kBase,
	"text-similarity-babbage-001":  R50kBase,
	"text-similarity-ada-001":      R50kBase,
	"text-search-davinci-doc-001":  R50kBase,
	"text-search-curie-doc-001":    R50kBase,
	"text-search-babbage-doc-001":  R50kBase,
	"text-search-ada-doc-001":      R50kBase,
	"code-search-babbage-code-001": R50kBase,
	"code-search-ada-code-001":     R50kBase,
	"gpt-35-turbo":                 Cl100kBase, // Azure's spelling
	"omni-moderation-latest":       O200kBase,
	"chatgpt-4o-latest":            O200kBase,
}

// families is checked in order: longer prefixes before the shorter
// prefixes they extend ("gpt-4o" before "gpt-4").
var families = []family{
	{"gpt-5", O200kBase},
	{"gpt-4.5", O200kBase},
	{"gpt-4.1", O200kBase},
	{"gpt-4o-mini", O200kBase},
	{"gpt-4o", O200kBase},
	{"gpt-4-turbo", Cl100kBase},
	{"gpt-4-32k", Cl100kBase},
	{"gpt-4", Cl100kBase},
	{"gpt-3.5-turbo", Cl100kBase},
	{"gpt-35-turbo", Cl100kBase},
	{"gpt-oss", O200kBase},
	{"o4-mini", O200kBase},
	{"o3-mini", O200kBase},
	{"o3-pro", O200kBase},
	{"o3", O200kBase},
	{"o1-mini", O200kBase},
	{"o1-preview", O200kBase},
	{"o1-pro", O200kBase},
	{"o1", O200kBase},
	{"codex-mini", O200kBase},
	{"omni-moderation", O200kBase},
	{"text-moderation", Cl100kBase},
}

// Lookup returns what the catalog knows about model, and whether it knows
// it. It understands:
//   - catalog names ("gpt-4o", "gpt-3.5-turbo", "text-davinci-003");
//   - dated snapshots and other suffixed variants of a family
//     ("gpt-4o-2024-08-06", "gpt-4-0613", "gpt-4.1-nano"), resolved to the
//     family's name;
//   - fine-tunes, "ft:BASE:ORG:SUFFIX:ID" and the older "BASE:ft-ORG-…"
//     ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "davinci:ft-acme-2023…"),
//     resolved as their base model.
//
// For an unknown model it returns Info{Name: model} and false; see
// [EncodingFor] for the fallback encoding.
func Lookup(model string) (Info, bool) {
	name := baseModel(model)
	if enc, ok := exact[name]; ok {
		return Info{Name: name, Encoding: enc}, true
	}
	for _, f := range families {
		if name == f.name || (strings.HasPrefix(name, f.name) && name[len(f.name)] == '-') {
			return Info{Name: f.name, Encoding: f.encoding}, true
		}
	}
	return Info{Name: model}, false
}

// EncodingFor returns the tokenizer encoding of model: the catalog's
// answer when [Lookup] knows the model, else [DefaultEncoding].
func EncodingFor(model string) string {
	if info, ok := Lookup(model); ok {
		return info.Encoding
	}
	return DefaultEncoding
}

// baseModel strips the fine-tune decorations from a model name.
func baseModel(model string) string {
	if rest, ok := strings.CutPrefix(model, "ft:"); ok {
		base, _, _ := strings.Cut(rest, ":")
		return base
	}
	// Legacy fine-tunes: "davinci:ft-org-2023-01-01-00-00-00".
	if base, suffix, ok := strings.Cut(model, ":"); ok && strings.HasPrefix(suffix, "ft-") {
		return base
	}
	return model
}
