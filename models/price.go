package models

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Price is a price per one million tokens in micro-USD (millionths of a US
// dollar): $2.50 per 1M tokens is Price(2_500_000). One micro-USD per 1M
// tokens is one pico-USD per token, so tokens × Price is an exact cost in
// pico-USD with no rounding (see the billing package).
//
// The zero Price is free.
type Price int64

// MaxPrice bounds a Price: $1,000,000 per 1M tokens, far above any
// published price, small enough that tokens × Price cannot overflow an
// int64 for any request the billing package accepts.
const MaxPrice Price = 1_000_000 * 1_000_000

// USD returns a Price from US dollars per 1M tokens, rounded to the nearest
// micro-USD. It fails on a negative, NaN or too large value.
func USD(dollarsPerM float64) (Price, error) {
	if math.IsNaN(dollarsPerM) || dollarsPerM < 0 || dollarsPerM*1e6 > float64(MaxPrice) {
		return 0, fmt.Errorf("models: price %v USD per 1M tokens out of range [0, %v]", dollarsPerM, MaxPrice)
	}
	return Price(math.Round(dollarsPerM * 1e6)), nil
}

// String formats the price in dollars per 1M tokens with at least two
// decimals and no trailing zeros beyond them: "$2.50", "$0.075", "$0.005".
func (p Price) String() string {
	sign := ""
	v := int64(p)
	if v < 0 {
		sign, v = "-", -v
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", v%1_000_000), "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + strconv.FormatInt(v/1_000_000, 10) + "." + frac
}

// Prices are what a model costs per 1M tokens. The zero value has unknown
// prices (AsOf is empty), which bill as free.
type Prices struct {
	// Input is the price of prompt tokens not served from the prompt cache.
	Input Price
	// CachedInput is the price of prompt tokens served from the prompt cache
	// (usage.prompt_tokens_details.cached_tokens). A model without a cache
	// discount has CachedInput == Input.
	CachedInput Price
	// Output is the price of completion tokens, reasoning tokens included.
	Output Price
	// AsOf says where the prices come from: the date they were taken from
	// the provider's published pricing ("2025-08-07"), "config" for prices
	// set by an override without a date, "nominal" for made-up prices of
	// test models, or "" when the prices are unknown.
	AsOf string
}

// Known reports whether the prices were set by anyone (AsOf is not empty).
// Unknown prices are all zero: a call to such a model costs nothing, so a
// policy that must bound spend should refuse models without known prices.
func (p Prices) Known() bool { return p.AsOf != "" }

// perM builds a Prices from dollars per 1M tokens written as micro-USD
// literals; cached < 0 means "no cache discount".
func perM(input, cached, output int64, asOf string) Prices {
	if cached < 0 {
		cached = input
	}
	return Prices{Input: Price(input), CachedInput: Price(cached), Output: Price(output), AsOf: asOf}
}
