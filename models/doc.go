// Package models is llmgate's model catalog: what it knows about a model by
// name — tokenizer encoding, context window, output cap, prices per 1M
// tokens (with the date they were taken) and deprecation.
//
//	cat, _ := models.New(models.Config{Aliases: map[string]string{"gpt-4": "gpt-4-0613"}})
//	m, known := cat.Resolve("gpt-4")        // pinned: m.Name == "gpt-4-0613"
//	fmt.Println(m.ContextWindow, m.Prices.Input, m.Encoding)
//
//	info, _ := models.Lookup("ft:gpt-4o-mini-2024-07-18:acme::abc123")
//	// info.Name == "gpt-4o-mini", info.Encoding == "o200k_base"
//	enc := models.EncodingFor("my-new-model") // "o200k_base": the documented fallback
//
// [Lookup] and [EncodingFor] answer the encoding question alone; a
// [Catalog] ([Builtin], or [New] with overrides and aliases from
// configuration) answers all of them. Everything is immutable after
// construction and safe for concurrent use.
package models
