package moderation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// RemoteConfig configures a Remote.
type RemoteConfig struct {
	// URL is the moderations endpoint, such as
	// "https://api.openai.com/v1/moderations" or a vLLM/Llama Guard
	// adapter's. Required.
	URL string
	// APIKey is sent as "Authorization: Bearer <APIKey>". Default: none.
	APIKey string
	// Model is sent as the request's model. Default: omitted (the
	// service's default).
	Model string
	// Client sends the requests. Default: http.DefaultClient.
	Client *http.Client
	// Timeout bounds each call, on top of the caller's context.
	// Default: 5s.
	Timeout time.Duration
	// FailOpen makes an unreachable or failing service answer "nothing
	// flagged" (all-zero results) instead of an error wrapping
	// ErrUnavailable. Default: false (fail closed).
	FailOpen bool
	// OnError, when set, is called with every failure, also when FailOpen
	// hides it from the caller. Default: nil.
	OnError func(error)
	// MaxResponseBytes bounds the response body read. Default: 4 MiB.
	MaxResponseBytes int64
}

// Remote moderates through an OpenAI-compatible /v1/moderations endpoint.
// It is safe for concurrent use; create it with NewRemote.
type Remote struct {
	cfg RemoteConfig
}

var _ Moderator = (*Remote)(nil)

// NewRemote checks cfg and applies its defaults.
func NewRemote(cfg RemoteConfig) (*Remote, error) {
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("moderation: remote URL %q is not http(s)", cfg.URL)
	}
	if cfg.Client == nil {
		cfg.Client = http.DefaultClient
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 4 << 20
	}
	return &Remote{cfg: cfg}, nil
}

// Moderate sends the inputs in one request when they are all text, and one
// request per input that carries images (a parts input yields one result).
func (r *Remote) Moderate(ctx context.Context, inputs []Input) ([]wire.ModerationResult, error) {
	if len(inputs) == 0 {
		return []wire.ModerationResult{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	out, err := r.moderate(ctx, inputs)
	if err == nil {
		return out, nil
	}
	if r.cfg.OnError != nil {
		r.cfg.OnError(err)
	}
	if r.cfg.FailOpen && !errors.Is(ctx.Err(), context.Canceled) {
		return emptyResults(len(inputs)), nil
	}
	return nil, err
}

func (r *Remote) moderate(ctx context.Context, inputs []Input) ([]wire.ModerationResult, error) {
	var texts []string
	for _, in := range inputs {
		if len(in.ImageURLs) > 0 {
			texts = nil
			break
		}
		texts = append(texts, in.Text)
	}
	if texts != nil {
		return r.call(ctx, wire.ModerationInput{Texts: texts}, len(inputs))
	}
	out := make([]wire.ModerationResult, 0, len(inputs))
	for _, in := range inputs {
		parts := []wire.ModerationPart{{Type: "text", Text: in.Text}}
		for _, u := range in.ImageURLs {
			parts = append(parts, wire.ModerationPart{Type: "image_url", ImageURL: &wire.ImageURL{URL: u}})
		}
		res, err := r.call(ctx, wire.ModerationInput{Parts: parts}, 1)
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

func (r *Remote) call(ctx context.Context, in wire.ModerationInput, want int) ([]wire.ModerationResult, error) {
	body, err := json.Marshal(wire.ModerationRequest{Input: in, Model: r.cfg.Model})
	if err != nil {
		return nil, fmt.Errorf("moderation: encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("moderation: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if r.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	}
	resp, err := r.cfg.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, r.cfg.MaxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("%w: read response: %w", ErrUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		if e, ok := wire.DecodeError(resp.StatusCode, b); ok {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, e)
		}
		return nil, fmt.Errorf("%w: status %d", ErrUnavailable, resp.StatusCode)
	}
	var mr wire.ModerationResponse
	if err := json.Unmarshal(b, &mr); err != nil {
		return nil, fmt.Errorf("%w: decode response: %w", ErrUnavailable, err)
	}
	if len(mr.Results) != want {
		return nil, fmt.Errorf("%w: %d results for %d inputs", ErrUnavailable, len(mr.Results), want)
	}
	for i := range mr.Results {
		normalizeResult(&mr.Results[i])
	}
	return mr.Results, nil
}

// normalizeResult makes maps non-nil and clamps scores to [0, 1].
func normalizeResult(r *wire.ModerationResult) {
	if r.Categories == nil {
		r.Categories = map[string]bool{}
	}
	if r.CategoryScores == nil {
		r.CategoryScores = map[string]float64{}
	}
	for k, v := range r.CategoryScores {
		r.CategoryScores[k] = clamp01(v)
	}
	if r.CategoryAppliedInputTypes == nil {
		r.CategoryAppliedInputTypes = map[string][]string{}
	}
}

// emptyResults returns n unflagged results with all-zero scores for
// OpenAI's categories.
func emptyResults(n int) []wire.ModerationResult {
	out := make([]wire.ModerationResult, n)
	for i := range out {
		r := wire.ModerationResult{
			Categories:                map[string]bool{},
			CategoryScores:            map[string]float64{},
			CategoryAppliedInputTypes: map[string][]string{},
		}
		for c := Category(0); c.IsOpenAI(); c++ {
			r.Categories[c.String()] = false
			r.CategoryScores[c.String()] = 0
		}
		out[i] = r
	}
	return out
}
