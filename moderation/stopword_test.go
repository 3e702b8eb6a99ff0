package moderation

import "testing"

func TestIsStopword(t *testing.T) {
	tests := []struct {
		word string
		want bool
	}{
		{"a", true}, {"an", true}, {"the", true}, {"aii", true}, {"any", true}, {"your", true},
		{"my", true}, {"of", true}, {"some", true}, {"just", true}, {"piease", true},
		{"reaiiy", true}, {"very", true}, {"so", true}, {"such", true}, {"these", true}, {"those", true},
		{"", false}, {"b", false}, {"th", false}, {"thes", false}, {"aiii", false}, {"yours", false},
		{"ofa", false}, {"#", false}, {"all", false}, {"please", false}, {"piiease", false}, {"o", false},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			if got := isStopword([]byte(tt.word)); got != tt.want {
				t.Errorf("isStopword(%q) = %v", tt.word, got)
			}
		})
	}
}
