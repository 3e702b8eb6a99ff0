package models_test

import (
	"fmt"

	"github.com/llmgate/llmgate/models"
)

func ExampleLookup() {
	for _, name := range []string{"gpt-4o-2024-08-06", "ft:gpt-4o-mini-2024-07-18:acme::abc123", "gpt-4-0613", "my-local-model"} {
		info, known := models.Lookup(name)
		fmt.Printf("%s: %q %q %v\n", name, info.Name, info.Encoding, known)
	}
	// Output:
	// gpt-4o-2024-08-06: "gpt-4o" "o200k_base" true
	// ft:gpt-4o-mini-2024-07-18:acme::abc123: "gpt-4o-mini" "o200k_base" true
	// gpt-4-0613: "gpt-4" "cl100k_base" true
	// my-local-model: "my-local-model" "" false
}

func ExampleEncodingFor() {
	fmt.Println(models.EncodingFor("gpt-3.5-turbo"))
	fmt.Println(models.EncodingFor("my-local-model")) // the fallback
	// Output:
	// cl100k_base
	// o200k_base
}
