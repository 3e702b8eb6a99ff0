package models

// OpenAIPricesAsOf is the date the built-in OpenAI prices were taken from
// OpenAI's published pricing page (standard tier, per 1M text tokens).
// Batch, flex and priority tiers, audio and image tokens are not covered.
const OpenAIPricesAsOf = "2025-08-07"

// NominalPrices marks made-up prices (the llmtest model's), in Prices.AsOf.
const NominalPrices = "nominal"

// micro-USD per 1M tokens, for the table below.
const usd = 1_000_000

// builtin is the built-in catalog, keyed by entry name. A name matches an
// entry exactly or as a prefix followed by "-" (see Catalog.Resolve), so
// "gpt-4o-2024-08-06" gets "gpt-4o"'s entry; snapshots whose price differs
// from their family have their own entry.
//
// Context windows and output limits are OpenAI's published model limits;
// for open models, the context length their authors publish (0 = unknown).
var builtin = map[string]Model{
	// GPT-5 family.
	"gpt-5":             oa(1.25*usd, 0.125*usd, 10*usd, 400_000, 128_000),
	"gpt-5-mini":        oa(0.25*usd, 0.025*usd, 2*usd, 400_000, 128_000),
	"gpt-5-nano":        oa(0.05*usd, 0.005*usd, 0.40*usd, 400_000, 128_000),
	"gpt-5-chat-latest": oa(1.25*usd, 0.125*usd, 10*usd, 128_000, 16_384),

	// GPT-4.1 family.
	"gpt-4.1":      oa(2*usd, 0.50*usd, 8*usd, 1_047_576, 32_768),
	"gpt-4.1-mini": oa(0.40*usd, 0.10*usd, 1.60*usd, 1_047_576, 32_768),
	"gpt-4.1-nano": oa(0.10*usd, 0.025*usd, 0.40*usd, 1_047_576, 32_768),
	"gpt-4.5-preview": deprecated(oa(75*usd, 37.5*usd, 150*usd, 128_000, 16_384),
		"gpt-4.1", "2025-04-14", "2025-07-14"),

	// GPT-4o family.
	"gpt-4o":            oa(2.50*usd, 1.25*usd, 10*usd, 128_000, 16_384),
	"gpt-4o-2024-05-13": oa(5*usd, -1, 15*usd, 128_000, 4_096),
	"gpt-4o-mini":       oa(0.15*usd, 0.075*usd, 0.60*usd, 128_000, 16_384),
	"chatgpt-4o-latest": oa(5*usd, -1, 15*usd, 128_000, 16_384),

	// o-series reasoning models.
	"o1":         oa(15*usd, 7.50*usd, 60*usd, 200_000, 100_000),
	"o1-pro":     oa(150*usd, -1, 600*usd, 200_000, 100_000),
	"o1-mini":    oa(1.10*usd, 0.55*usd, 4.40*usd, 128_000, 65_536),
	"o1-preview": deprecated(oa(15*usd, 7.50*usd, 60*usd, 128_000, 32_768), "o1", "", ""),
	"o3":         oa(2*usd, 0.50*usd, 8*usd, 200_000, 100_000),
	"o3-pro":     oa(20*usd, -1, 80*usd, 200_000, 100_000),
	"o3-mini":    oa(1.10*usd, 0.55*usd, 4.40*usd, 200_000, 100_000),
	"o4-mini":    oa(1.10*usd, 0.275*usd, 4.40*usd, 200_000, 100_000),

	// GPT-4 and GPT-3.5 (no prompt-cache discount).
	"gpt-4-turbo":         oa(10*usd, -1, 30*usd, 128_000, 4_096),
	"gpt-4-turbo-preview": oa(10*usd, -1, 30*usd, 128_000, 4_096),
	"gpt-4-0125-preview":  oa(10*usd, -1, 30*usd, 128_000, 4_096),
	"gpt-4-1106-preview":  oa(10*usd, -1, 30*usd, 128_000, 4_096),
	"gpt-4":               oa(30*usd, -1, 60*usd, 8_192, 8_192),
	"gpt-4-32k": deprecated(oa(60*usd, -1, 120*usd, 32_768, 32_768),
		"gpt-4o", "2024-06-06", "2025-06-06"),
	"gpt-4-vision-preview": deprecated(oa(10*usd, -1, 30*usd, 128_000, 4_096),
		"gpt-4o", "2024-06-06", "2024-12-06"),
	"gpt-3.5-turbo":          oa(0.50*usd, -1, 1.50*usd, 16_385, 4_096),
	"gpt-3.5-turbo-instruct": oa(1.50*usd, -1, 2*usd, 4_096, 4_096),

	// Embeddings (input only) and moderation (free).
	"text-embedding-3-small": oa(0.02*usd, -1, 0, 8_191, 0),
	"text-embedding-3-large": oa(0.13*usd, -1, 0, 8_191, 0),
	"text-embedding-ada-002": oa(0.10*usd, -1, 0, 8_191, 0),
	"omni-moderation-latest": oa(0, -1, 0, 0, 0),

	// Open models as vLLM (Hugging Face ids, organisation stripped) and
	// Ollama (tag stripped) name them. Self-hosted: prices unknown; the
	// tokenizer is the model's own, so token counts are o200k_base
	// estimates unless an override says otherwise.
	"llama3":         open(8_192),
	"meta-llama-3":   open(8_192),
	"llama3.1":       open(131_072),
	"llama-3.1":      open(131_072),
	"meta-llama-3.1": open(131_072),
	"llama3.2":       open(131_072),
	"llama-3.2":      open(131_072),
	"llama3.3":       open(131_072),
	"llama-3.3":      open(131_072),
	"qwen2.5":        open(32_768),
	"qwen2.5-coder":  open(32_768),
	"mistral":        open(32_768),
	"mistral-nemo":   open(128_000),
	"gemma2":         open(8_192),
	"gemma-2":        open(8_192),
	"gemma3":         open(131_072),
	"gemma-3":        open(131_072),
	"deepseek-r1":    open(131_072),
	"deepseek-v3":    open(131_072),
	"gpt-oss":        open(131_072),

	// llmtest, the project's built-in test model: nominal prices, so that
	// demos of budgets have something to count.
	"llmtest": {Prices: perM(1*usd, 0.10*usd, 4*usd, NominalPrices)},
}

func oa(input, cached, output float64, context, maxOutput int) Model {
	return Model{
		ContextWindow: context,
		MaxOutput:     maxOutput,
		Prices:        perM(int64(input), int64(cached), int64(output), OpenAIPricesAsOf),
	}
}

func open(context int) Model { return Model{ContextWindow: context} }

func deprecated(m Model, replacement, on, shutdown string) Model {
	m.Deprecated = true
	m.Replacement = replacement
	m.DeprecatedOn = on
	m.ShutdownOn = shutdown
	return m
}
