package moderation

import "strings"

// Redact replaces the personal data and secrets that b finds in text
// (the pii/* and secret/* categories that are enabled) with
// "[REDACTED:<category>]" and returns the new text and the findings, with
// spans in the original text, ordered by start. Overlapping spans are
// merged and labelled with the first one's category. Text without findings
// is returned as is.
func (b *Builtin) Redact(text string) (string, []Finding) {
	sc := b.pool.Get().(*scratch)
	sc.findings = sc.findings[:0]
	sc.scores = Scores{}
	detectAll(sc, text)
	var fs []Finding
	for _, f := range sc.findings {
		if f.Category.IsRedactable() && b.enabled[f.Category] {
			fs = append(fs, f)
		}
	}
	b.pool.Put(sc)
	if len(fs) == 0 {
		return text, nil
	}
	sortFindings(fs)
	var out strings.Builder
	out.Grow(len(text))
	pos := 0
	for k := 0; k < len(fs); {
		f := fs[k]
		end := f.End
		k++
		for k < len(fs) && fs[k].Start < end {
			end = max(end, fs[k].End)
			k++
		}
		out.WriteString(text[pos:f.Start])
		out.WriteString("[REDACTED:")
		out.WriteString(f.Category.String())
		out.WriteByte(']')
		pos = end
	}
	out.WriteString(text[pos:])
	return out.String(), fs
}

// Redact redacts text with the Default moderator's detectors.
func Redact(text string) (string, []Finding) { return Default().Redact(text) }
