package billing

import (
	"math"
	"testing"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

func usage(prompt, cached, completion, reasoning int) wire.Usage {
	u := wire.Usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	if cached != 0 {
		u.PromptTokensDetails = &wire.PromptTokensDetails{CachedTokens: cached}
	}
	if reasoning != 0 {
		u.CompletionTokensDetails = &wire.CompletionTokensDetails{ReasoningTokens: reasoning}
	}
	return u
}

func TestCost(t *testing.T) {
	gpt4o := models.Prices{Input: 2_500_000, CachedInput: 1_250_000, Output: 10_000_000, AsOf: "x"}
	o4mini := models.Prices{Input: 1_100_000, CachedInput: 275_000, Output: 4_400_000, AsOf: "x"}
	nano := models.Prices{Input: 50_000, CachedInput: 5_000, Output: 400_000, AsOf: "x"}
	tests := []struct {
		name   string
		prices models.Prices
		usage  wire.Usage
		want   Money
	}{
		{"zero", gpt4o, wire.Usage{}, 0},
		// 1M prompt tokens at $2.50 and 1M completion tokens at $10.
		{"1M in 1M out", gpt4o, usage(1_000_000, 0, 1_000_000, 0), 12_500_000_000},
		// 1000 × 2.5e6 pUSD = 2.5e9 pUSD = 2_500_000 nUSD.
		{"1000 in", gpt4o, usage(1000, 0, 0, 0), 2_500_000},
		// 600 uncached × 2.5 + 400 cached × 1.25 + 200 out × 10 (µUSD/1M → pUSD/token)
		{"cached", gpt4o, usage(1000, 400, 200, 0), (600*2_500_000 + 400*1_250_000 + 200*10_000_000) / 1000},
		// Reasoning tokens are inside completion_tokens: 500 out, not 800.
		{"reasoning", o4mini, usage(100, 0, 500, 300), (100*1_100_000 + 500*4_400_000) / 1000},
		{"cached and reasoning", o4mini, usage(2000, 1024, 800, 640), (976*1_100_000 + 1024*275_000 + 800*4_400_000) / 1000},
		// A provider reporting reasoning outside completion_tokens: the larger is billed.
		{"reasoning beyond completion", o4mini, usage(0, 0, 10, 50), 50 * 4_400_000 / 1000},
		// Cached beyond prompt is capped at prompt.
		{"cached > prompt", gpt4o, usage(100, 500, 0, 0), 100 * 1_250_000 / 1000},
		{"negative counts", gpt4o, usage(-5, -1, -7, 0), 0},
		// One cached nano token is 5000 pUSD = 5 nUSD exactly.
		{"sub-cent exact", nano, usage(1, 1, 0, 0), 5},
		// 1 output token of a $0.0015/1M model is 1500 pUSD → 1.5 nUSD, rounded up to 2.
		{"rounds up", models.Prices{Output: 1500}, usage(0, 0, 1, 0), 2},
		{"rounds once", models.Prices{Input: 1500, Output: 1500}, usage(1, 0, 1, 0), 3},
		{"free", models.Prices{}, usage(1000, 0, 1000, 0), 0},
		{"saturates", models.Prices{Input: models.MaxPrice, Output: models.MaxPrice}, usage(math.MaxInt, 0, math.MaxInt, 0), Unlimited},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(tt.prices, tt.usage); got != tt.want {
				t.Errorf("Cost = %d (%v), want %d (%v)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestWorstCase(t *testing.T) {
	p := models.Prices{Input: 2_500_000, CachedInput: 1_250_000, Output: 10_000_000}
	tests := []struct {
		name               string
		prompt, completion int
		want               Money
	}{
		{"prompt only", 1000, 0, 2_500_000},
		{"both", 1000, 4096, 2_500_000 + 40_960_000},
		{"negative", -1, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WorstCase(p, tt.prompt, tt.completion); got != tt.want {
				t.Errorf("WorstCase = %d, want %d", got, tt.want)
			}
			if got := Cost(p, usage(tt.prompt, 0, tt.completion, 0)); got != tt.want {
				t.Errorf("Cost without cache = %d, want WorstCase %d", got, tt.want)
			}
		})
	}
}

func TestMoneyString(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{0, "$0.00"},
		{Dollar, "$1.00"},
		{Cent, "$0.01"},
		{2_500_000, "$0.0025"},
		{1, "$0.000000001"},
		{-3_123_456_789, "-$3.123456789"},
		{Unlimited, "unlimited"},
		{math.MinInt64, "-$9223372036.854775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.m.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
	if got := (150 * Cent).USD(); got != 1.5 {
		t.Errorf("USD() = %v", got)
	}
}
