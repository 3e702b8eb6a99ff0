package moderation

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/llmgate/llmgate/wire"
)

// Input is one thing to moderate: a message, a string of a
// /v1/moderations array, or the parts of one multi-modal input.
type Input struct {
	// Text is the input's text (text parts joined with newlines).
	Text string
	// ImageURLs are the input's images (URLs or data: URLs). Moderators
	// that cannot read images ignore them.
	ImageURLs []string
}

// Moderator classifies inputs. It returns exactly one result per input, in
// order, in OpenAI's omni-moderation shape with llmgate's extra
// categories. A moderator that could not decide returns an error (wrapping
// ErrUnavailable when a remote service failed); flagged content is a
// result, not an error.
//
// The middleware moderates a whole request in one call (one Input per
// message) and a stream incrementally through a StreamFilter.
// Implementations must be safe for concurrent use.
type Moderator interface {
	Moderate(ctx context.Context, inputs []Input) ([]wire.ModerationResult, error)
}

// ErrUnavailable is wrapped by errors of moderators that could not reach or
// understand their service.
var ErrUnavailable = errors.New("moderation: moderator unavailable")

// InputsFromWire converts a /v1/moderations input to Inputs: one per
// string, or a single one for an array of parts.
func InputsFromWire(in wire.ModerationInput) []Input {
	if in.Parts != nil {
		var text []string
		var imgs []string
		for _, p := range in.Parts {
			switch {
			case p.Type == "text":
				text = append(text, p.Text)
			case p.ImageURL != nil:
				imgs = append(imgs, p.ImageURL.URL)
			}
		}
		return []Input{{Text: strings.Join(text, "\n"), ImageURLs: imgs}}
	}
	out := make([]Input, len(in.Texts))
	for i, t := range in.Texts {
		out[i] = Input{Text: t}
	}
	return out
}

// FlaggedCategories returns the names of r's flagged categories, sorted.
func FlaggedCategories(r wire.ModerationResult) []string {
	var out []string
	for name, f := range r.Categories {
		if f {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
