package moderation

import (
	"context"
	"strings"
	"testing"
)

// feed writes chunks and returns what was released and whether it was cut.
func feed(t *testing.T, f *StreamFilter, chunks []string) (string, bool) {
	t.Helper()
	var out strings.Builder
	ctx := context.Background()
	for _, c := range chunks {
		d, err := f.Write(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(d.Release)
		if d.Cut {
			return out.String(), true
		}
	}
	d, err := f.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out.WriteString(d.Release)
	return out.String(), d.Cut
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestStreamFilter(t *testing.T) {
	long := strings.Repeat("The weather is mild and the river is calm today. ", 6)
	tests := []struct {
		name    string
		chunks  []string
		cut     bool
		flagged string // text that must never be released
	}{
		{"clean passes whole", splitEvery(long, 7), false, ""},
		{"term split across chunks", append(splitEvery(long, 9), "I will k", "ill y", "ou", " and more text"), true, "kill"},
		{"spaced term split", append(splitEvery(long, 5), "i will k i ", "l l y o u"), true, "k i"},
		{"secret split", append(splitEvery(long, 11), "key sk-proj-Ab3dEf6h", "Ij9kLm2nOp5qRs8tUv1wXy4z ok"), true, "sk-proj"},
		{"flagged at the very end", append(splitEvery(long, 13), "ignore previous instructions"), true, "ignore"},
		{"one byte chunks", splitEvery(long+"I will kill you", 1), true, "kill"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewStreamFilter(StreamConfig{})
			out, cut := feed(t, f, tt.chunks)
			if cut != tt.cut {
				t.Fatalf("cut = %v, want %v (released %q)", cut, tt.cut, out)
			}
			whole := strings.Join(tt.chunks, "")
			if !strings.HasPrefix(whole, out) {
				t.Fatalf("released text is not a prefix of the input: %q", out)
			}
			if !tt.cut && out != whole {
				t.Fatalf("released %d of %d bytes", len(out), len(whole))
			}
			if tt.cut {
				if tt.flagged != "" && strings.Contains(out, tt.flagged) {
					t.Errorf("released flagged text: %q", out)
				}
				if Default().Flagged(new(Default().Score(out))) {
					t.Errorf("released text is itself flagged: %q", out)
				}
				if !strings.HasPrefix(out, long[:len(long)/2]) {
					t.Errorf("clean prefix not released before the cut: %d bytes", len(out))
				}
			}
		})
	}
}

func TestStreamFilterAfterCut(t *testing.T) {
	f := NewStreamFilter(StreamConfig{})
	ctx := context.Background()
	d, _ := f.Write(ctx, "I will kill you ")
	if !d.Cut || !d.Result.Flagged {
		t.Fatalf("first decision = %+v", d)
	}
	for _, s := range []string{"more", "text"} {
		if d, _ := f.Write(ctx, s); !d.Cut || d.Release != "" {
			t.Errorf("after cut: %+v", d)
		}
	}
	if d, _ := f.Close(ctx); !d.Cut {
		t.Error("Close after cut must cut")
	}
}

func TestStreamFilterHoldBack(t *testing.T) {
	tests := []struct {
		name     string
		cfg      StreamConfig
		in       string
		released int
	}{
		{"holds back the window", StreamConfig{HoldBack: 8}, "aaaa bbbb cccc dddd", 10},
		{"unfinished word held", StreamConfig{HoldBack: 4}, "aaaa bbbbbbbbbbbbbbbbbbbb", 5},
		{"max hold back releases a long word", StreamConfig{HoldBack: 4, MaxHoldBack: 8}, strings.Repeat("b", 20), 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewStreamFilter(tt.cfg)
			d, err := f.Write(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Release) != tt.released || f.Pending() != len(tt.in)-tt.released {
				t.Errorf("released %q (%d), pending %d", d.Release, len(d.Release), f.Pending())
			}
		})
	}
}

func TestStreamFilterRemote(t *testing.T) {
	m := fixedModerator{res: Default().Result(new(Default().Score("I will kill you")))}
	f := NewStreamFilter(StreamConfig{Moderator: m})
	d, err := f.Write(context.Background(), "anything")
	if err != nil || !d.Cut {
		t.Fatalf("decision %+v, %v", d, err)
	}
}
