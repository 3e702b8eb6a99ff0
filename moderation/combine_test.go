package moderation

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

type fixedModerator struct {
	res wire.ModerationResult
	err error
}

func (f fixedModerator) Moderate(ctx context.Context, in []Input) ([]wire.ModerationResult, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := make([]wire.ModerationResult, len(in))
	for i := range out {
		out[i] = f.res
	}
	return out, nil
}

func TestCombined(t *testing.T) {
	a := fixedModerator{res: wire.ModerationResult{Flagged: true,
		Categories:                map[string]bool{"hate": true, "violence": false},
		CategoryScores:            map[string]float64{"hate": 0.9, "violence": 0.2},
		CategoryAppliedInputTypes: map[string][]string{"hate": {"text"}}}}
	b := fixedModerator{res: wire.ModerationResult{
		Categories:                map[string]bool{"hate": false, "violence": false},
		CategoryScores:            map[string]float64{"hate": 0.1, "violence": 0.4},
		CategoryAppliedInputTypes: map[string][]string{"hate": {"text", "image"}}}}
	res, err := Combine(a, b).Moderate(context.Background(), []Input{{Text: "x"}, {Text: "y"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Flagged || !r.Categories["hate"] || r.Categories["violence"] {
			t.Errorf("result %d flags: %+v", i, r)
		}
		if r.CategoryScores["hate"] != 0.9 || r.CategoryScores["violence"] != 0.4 {
			t.Errorf("result %d scores: %v", i, r.CategoryScores)
		}
		if got := strings.Join(r.CategoryAppliedInputTypes["hate"], ","); got != "image,text" {
			t.Errorf("result %d applied types: %s", i, got)
		}
	}
}

func TestCombinedErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		ms   Combined
		want error
	}{
		{"one fails", Combine(Default(), fixedModerator{err: boom}), boom},
		{"all fail", Combine(fixedModerator{err: boom}, fixedModerator{err: ErrUnavailable}), ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.ms.Moderate(context.Background(), []Input{{Text: "x"}}); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCombinedCanceled(t *testing.T) {
	srv := fakeModerations(t, http.StatusOK, nil)
	defer srv.Close()
	r, _ := NewRemote(RemoteConfig{URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Combine(Default(), r).Moderate(ctx, []Input{{Text: "x"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestCombinedWithRemote(t *testing.T) {
	srv := fakeModerations(t, http.StatusOK, nil)
	defer srv.Close()
	r, _ := NewRemote(RemoteConfig{URL: srv.URL})
	res, err := Combine(Default(), r).Moderate(context.Background(), []Input{{Text: "bad mail a@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Categories["violence"] || !res[0].Categories["pii/email"] {
		t.Errorf("merged categories = %v", FlaggedCategories(res[0]))
	}
}
