package models_test

import (
	"fmt"

	"github.com/llmgate/llmgate/models"
)

func ExampleCatalog_Resolve() {
	price := 0.30
	cat, err := models.New(models.Config{
		Aliases: map[string]string{"gpt-4": "gpt-4-0613", "fast": "gpt-4o-mini"},
		Models:  map[string]models.Override{"llama3.1": {Input: &price, Output: &price}},
	})
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"gpt-4", "fast", "gpt-4.1-nano-2025-04-14", "llama3.1:8b", "my-model"} {
		m, known := cat.Resolve(name)
		fmt.Printf("%s → %s (entry %q, %s, %d ctx): in %v cached %v out %v as of %q, known %v\n",
			name, m.Name, m.Entry, m.Encoding, m.ContextWindow,
			m.Prices.Input, m.Prices.CachedInput, m.Prices.Output, m.Prices.AsOf, known)
	}
	// Output:
	// gpt-4 → gpt-4-0613 (entry "gpt-4", cl100k_base, 8192 ctx): in $30.00 cached $30.00 out $60.00 as of "2025-08-07", known true
	// fast → gpt-4o-mini (entry "gpt-4o-mini", o200k_base, 128000 ctx): in $0.15 cached $0.075 out $0.60 as of "2025-08-07", known true
	// gpt-4.1-nano-2025-04-14 → gpt-4.1-nano-2025-04-14 (entry "gpt-4.1-nano", o200k_base, 1047576 ctx): in $0.10 cached $0.025 out $0.40 as of "2025-08-07", known true
	// llama3.1:8b → llama3.1:8b (entry "llama3.1", o200k_base, 131072 ctx): in $0.30 cached $0.30 out $0.30 as of "config", known true
	// my-model → my-model (entry "", o200k_base, 0 ctx): in $0.00 cached $0.00 out $0.00 as of "", known false
}

func ExampleModel_DeprecationHeaders() {
	m, _ := models.Builtin().Resolve("gpt-4.5-preview")
	for _, h := range m.DeprecationHeaders() {
		fmt.Printf("%s: %s\n", h.Name, h.Value)
	}
	// Output:
	// Deprecation: @1744588800
	// Sunset: Mon, 14 Jul 2025 00:00:00 GMT
	// x-llmgate-deprecated: use gpt-4.1
}
