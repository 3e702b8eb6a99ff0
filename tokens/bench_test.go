package tokens

import (
	"strings"
	"testing"
)

// benchTexts builds ~16 KiB inputs per kind of text from the vector
// corpus: code, prose (Latin-script languages), CJK, and mixed (all
// vectors, in corpus order: code, prose, CJK, RTL, Indic, emoji, numbers).
func benchTexts(b *testing.B) []struct{ kind, text string } {
	b.Helper()
	kinds := map[string][]string{}
	for _, v := range loadVectors(b) {
		cat, _, _ := strings.Cut(v.Name, "/")
		switch cat {
		case "code":
			kinds["code"] = append(kinds["code"], v.Text)
		case "prose":
			kinds["prose"] = append(kinds["prose"], v.Text)
		case "cjk":
			kinds["cjk"] = append(kinds["cjk"], v.Text)
		}
		if cat != "random" && cat != "repeat" {
			kinds["mixed"] = append(kinds["mixed"], v.Text)
		}
	}
	var out []struct{ kind, text string }
	for _, k := range []string{"code", "prose", "cjk", "mixed"} {
		var sb strings.Builder
		for sb.Len() < 16<<10 {
			for _, t := range kinds[k] {
				sb.WriteString(t)
				sb.WriteByte('\n')
			}
		}
		out = append(out, struct{ kind, text string }{k, sb.String()})
	}
	return out
}

// BenchmarkCount compares Count with tiktoken-go's EncodeOrdinary (the
// fastest way it has to count) on the same inputs; MB/s is input bytes.
func BenchmarkCount(b *testing.B) {
	texts := benchTexts(b)
	for _, name := range []string{"cl100k_base", "o200k_base"} {
		enc, ref := mustGet(b, name), reference(b, name)
		for _, tx := range texts {
			if got, want := enc.Count(tx.text), len(ref.EncodeOrdinary(tx.text)); got != want {
				b.Fatalf("%s/%s: count %d, tiktoken-go %d", name, tx.kind, got, want)
			}
			b.Run(name+"/"+tx.kind+"/llmgate", func(b *testing.B) {
				b.SetBytes(int64(len(tx.text)))
				b.ReportAllocs()
				for b.Loop() {
					enc.Count(tx.text)
				}
			})
			b.Run(name+"/"+tx.kind+"/tiktoken-go", func(b *testing.B) {
				b.SetBytes(int64(len(tx.text)))
				b.ReportAllocs()
				for b.Loop() {
					_ = len(ref.EncodeOrdinary(tx.text))
				}
			})
		}
	}
}

// BenchmarkEncode measures Encode (ids, not just a count) on mixed text.
func BenchmarkEncode(b *testing.B) {
	texts := benchTexts(b)
	enc := mustGet(b, "o200k_base")
	mixed := texts[len(texts)-1].text
	b.SetBytes(int64(len(mixed)))
	b.ReportAllocs()
	for b.Loop() {
		enc.Encode(mixed)
	}
}
