// Package models is llmgate's model catalog: what it knows about a model
// by name.
//
// Today a catalog entry carries the model's tokenizer encoding; later
// versions add prices, context windows, aliases and deprecation dates to
// the same [Info] type.
//
//	info, known := models.Lookup("ft:gpt-4o-mini-2024-07-18:acme::abc123")
//	// info.Name == "gpt-4o-mini", info.Encoding == "o200k_base", known == true
//	enc := models.EncodingFor("my-new-model") // "o200k_base": the documented fallback
//
// Every function is safe for concurrent use; the built-in catalog is
// read-only.
package models
