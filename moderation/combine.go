package moderation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/llmgate/llmgate/wire"
)

// Combined runs several moderators concurrently on the same inputs and
// merges their results: the highest score per category, a category flagged
// when any moderator flags it, and the union of applied input types. If
// any moderator fails, Moderate fails with all the errors joined (a Remote
// with FailOpen does not fail). The zero value moderates nothing flagged.
// Combined is safe for concurrent use if its moderators are.
type Combined []Moderator

var _ Moderator = Combined(nil)

// Combine returns a Combined of ms.
func Combine(ms ...Moderator) Combined { return Combined(ms) }

// Moderate runs every moderator concurrently with ctx and waits for all of
// them; when ctx is done it returns ctx's error.
func (c Combined) Moderate(ctx context.Context, inputs []Input) ([]wire.ModerationResult, error) {
	if len(c) == 1 {
		return c[0].Moderate(ctx, inputs)
	}
	results := make([][]wire.ModerationResult, len(c))
	errs := make([]error, len(c))
	var wg sync.WaitGroup
	for i, m := range c {
		wg.Go(func() {
			res, err := m.Moderate(ctx, inputs)
			if err == nil && len(res) != len(inputs) {
				err = fmt.Errorf("moderation: moderator %d returned %d results for %d inputs", i, len(res), len(inputs))
			}
			results[i], errs[i] = res, err
		})
	}
	// The moderators see ctx and stop when it is done; waiting for them
	// means no goroutine outlives the call.
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := emptyResults(len(inputs))
	for _, res := range results {
		for i := range res {
			Merge(&out[i], res[i])
		}
	}
	return out, nil
}

// Merge folds src into dst: the highest score per category, flagged if
// either is, the union of applied input types. dst's maps must be non-nil.
func Merge(dst *wire.ModerationResult, src wire.ModerationResult) {
	dst.Flagged = dst.Flagged || src.Flagged
	for k, v := range src.Categories {
		dst.Categories[k] = dst.Categories[k] || v
	}
	for k, v := range src.CategoryScores {
		if old, ok := dst.CategoryScores[k]; !ok || v > old {
			dst.CategoryScores[k] = v
		}
	}
	if dst.CategoryAppliedInputTypes == nil && len(src.CategoryAppliedInputTypes) > 0 {
		dst.CategoryAppliedInputTypes = map[string][]string{}
	}
	for k, types := range src.CategoryAppliedInputTypes {
		cur := dst.CategoryAppliedInputTypes[k]
		for _, t := range types {
			if !slices.Contains(cur, t) {
				cur = append(slices.Clip(cur), t)
			}
		}
		slices.Sort(cur)
		dst.CategoryAppliedInputTypes[k] = cur
	}
}
