package tokens

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

// vectorFile is testdata/vectors.json, made by testdata/gen/gen.mjs with
// OpenAI's tiktoken (npm WASM build), encode_ordinary.
type vectorFile struct {
	Generator string   `json:"generator"`
	Vectors   []vector `json:"vectors"`
}

type vector struct {
	Name   string `json:"name"`
	Text   string `json:"text"`
	Cl100k []int  `json:"cl100k_base"`
	O200k  []int  `json:"o200k_base"`
	P50k   []int  `json:"p50k_base"`
	R50k   []int  `json:"r50k_base"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 400 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	return f.Vectors
}

func mustGet(t testing.TB, name string) *Encoding {
	t.Helper()
	enc, err := Get(name)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestVectors(t *testing.T) {
	vectors := loadVectors(t)
	for _, name := range []string{"cl100k_base", "o200k_base", "p50k_base", "r50k_base"} {
		enc := mustGet(t, name)
		t.Run(name, func(t *testing.T) {
			for _, v := range vectors {
				want := map[string][]int{"cl100k_base": v.Cl100k, "o200k_base": v.O200k, "p50k_base": v.P50k, "r50k_base": v.R50k}[name]
				t.Run(v.Name, func(t *testing.T) {
					if got := enc.Count(v.Text); got != len(want) {
						t.Errorf("Count(%q) = %d, want %d", v.Text, got, len(want))
					}
					got := enc.Encode(v.Text)
					if !slices.Equal(got, want) {
						t.Errorf("Encode(%q)\n got %v\nwant %v", v.Text, got, want)
					}
					back, err := enc.Decode(want)
					if err != nil || back != v.Text {
						t.Errorf("Decode(want) = %q, %v; want %q", back, err, v.Text)
					}
				})
			}
		})
	}
}
