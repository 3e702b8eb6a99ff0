package models

import "testing"

func TestLookup(t *testing.T) {
	tests := []struct {
		model, name, encoding string
		known                 bool
	}{
		{"gpt-4o", "gpt-4o", O200kBase, true},
		{"gpt-4o-2024-08-06", "gpt-4o", O200kBase, true},
		{"gpt-4o-mini", "gpt-4o-mini", O200kBase, true},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini", O200kBase, true},
		{"ft:gpt-4o-mini-2024-07-18:org::id", "gpt-4o-mini", O200kBase, true},
		{"ft:gpt-3.5-turbo-0613:acme:suffix:abc123", "gpt-3.5-turbo", Cl100kBase, true},
		{"ft:davinci-002:acme::xyz", "davinci-002", Cl100kBase, true},
		{"davinci:ft-acme-2023-01-01-00-00-00", "davinci", R50kBase, true},
		{"gpt-4", "gpt-4", Cl100kBase, true},
		{"gpt-4-0613", "gpt-4", Cl100kBase, true},
		{"gpt-4-32k-0314", "gpt-4-32k", Cl100kBase, true},
		{"gpt-4-turbo-2024-04-09", "gpt-4-turbo", Cl100kBase, true},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1", O200kBase, true},
		{"gpt-5-mini", "gpt-5", O200kBase, true},
		{"gpt-3.5-turbo-instruct", "gpt-3.5-turbo", Cl100kBase, true},
		{"gpt-35-turbo-16k", "gpt-35-turbo", Cl100kBase, true},
		{"o1", "o1", O200kBase, true},
		{"o1-mini-2024-09-12", "o1-mini", O200kBase, true},
		{"o3-mini", "o3-mini", O200kBase, true},
		{"text-davinci-003", "text-davinci-003", P50kBase, true},
		{"code-davinci-002", "code-davinci-002", P50kBase, true},
		{"davinci", "davinci", R50kBase, true},
		{"text-embedding-3-small", "text-embedding-3-small", Cl100kBase, true},
		{"gpt-4ox", "gpt-4ox", "", false}, // not a "-" boundary
		{"o10", "o10", "", false},         // not o1
		{"llama-3-70b", "llama-3-70b", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			info, known := Lookup(tt.model)
			if info.Name != tt.name || info.Encoding != tt.encoding || known != tt.known {
				t.Errorf("Lookup(%q) = %+v, %v; want {%s %s}, %v", tt.model, info, known, tt.name, tt.encoding, tt.known)
			}
		})
	}
}

func TestEncodingFor(t *testing.T) {
	tests := []struct{ model, want string }{
		{"gpt-4o-2024-11-20", O200kBase},
		{"gpt-3.5-turbo-0125", Cl100kBase},
		{"text-davinci-002", P50kBase},
		{"ada", R50kBase},
		{"some-future-model", DefaultEncoding},
		{"ft:unknown-base:org::id", DefaultEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := EncodingFor(tt.model); got != tt.want {
				t.Errorf("EncodingFor(%q) = %q, want %q", tt.model, got, tt.want)
			}
		})
	}
}
