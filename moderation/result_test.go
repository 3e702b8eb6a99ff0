package moderation

import (
	"math"
	"testing"
)

// TestResultFields checks every field of Result against the scores it was
// given, and that results share no maps.
func TestResultFields(t *testing.T) {
	m := Default()
	var mixed Scores
	mixed[Harassment], mixed[Hate], mixed[PIIEmail], mixed[Sexual] = 0.2, 0.5, 0.9, math.Copysign(0, -1)
	tests := []struct {
		name string
		s    Scores
	}{
		{"zero", Scores{}},
		{"text", m.Score("I will kill you, mail a@b.co")},
		{"mixed", mixed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := m.Result(&tt.s)
			if len(r.Categories) != int(NumCategories) || len(r.CategoryScores) != int(NumCategories) ||
				len(r.CategoryAppliedInputTypes) != int(NumCategories) {
				t.Fatalf("sizes %d %d %d", len(r.Categories), len(r.CategoryScores), len(r.CategoryAppliedInputTypes))
			}
			flagged := false
			for c := range NumCategories {
				name := c.String()
				want := tt.s[c] > 0 && tt.s[c] >= m.thresholds[c]
				flagged = flagged || want
				if r.Categories[name] != want {
					t.Errorf("%s flagged = %v", name, r.Categories[name])
				}
				got := r.CategoryScores[name]
				if got != tt.s[c] || math.Signbit(got) != math.Signbit(tt.s[c]) {
					t.Errorf("%s score = %v, want %v", name, got, tt.s[c])
				}
				if ts := r.CategoryAppliedInputTypes[name]; len(ts) != 1 || ts[0] != "text" {
					t.Errorf("%s input types = %v", name, ts)
				}
			}
			if r.Flagged != flagged {
				t.Errorf("Flagged = %v", r.Flagged)
			}
			r.Categories["hate"], r.CategoryScores["hate"] = true, 1
			r.CategoryAppliedInputTypes["hate"][0] = "image"
			again := m.Result(&Scores{})
			if again.Categories["hate"] || again.CategoryScores["hate"] != 0 || again.CategoryAppliedInputTypes["hate"][0] != "text" {
				t.Errorf("results share maps: %+v", again)
			}
		})
	}
}
