package billing

import (
	"math"
	"math/bits"
	"strconv"
	"strings"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

// Money is an amount of US dollars in nano-USD (billionths of a dollar),
// held exactly as an integer: sums of Money never drift the way sums of
// floats do. An int64 holds ±$9.2 billion. The zero value is $0.
type Money int64

// Units of Money.
const (
	NanoUSD  Money = 1
	MicroUSD Money = 1_000
	Cent     Money = 10_000_000
	Dollar   Money = 1_000_000_000
)

// Unlimited as a Charge's budget means "no budget": the charge is recorded
// but never denied. It is also the Remaining of such a balance.
const Unlimited Money = math.MaxInt64

// MaxAmount bounds budgets (other than Unlimited) and amounts a Ledger
// accepts: 2^53 nano-USD, about $9 million per window and scope, the
// largest integer the Redis ledger's Lua script compares exactly.
const MaxAmount Money = 1 << 53

// USD returns m in dollars, for display and JSON; do arithmetic on Money.
func (m Money) USD() float64 { return float64(m) / float64(Dollar) }

// String formats m in dollars with at least two decimals and up to nine,
// without trailing zeros: "$1.00", "$0.0025", "-$3.123456789";
// "unlimited" for Unlimited.
func (m Money) String() string {
	if m == Unlimited {
		return "unlimited"
	}
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign, u = "-", -u
	}
	frac := strings.TrimRight(strconv.FormatUint(u%uint64(Dollar)+uint64(Dollar), 10)[1:], "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return sign + "$" + strconv.FormatUint(u/uint64(Dollar), 10) + "." + frac
}

// Cost returns what a call with usage costs at prices:
//   - prompt tokens served from the prompt cache
//     (prompt_tokens_details.cached_tokens, at most prompt_tokens) at
//     CachedInput, the rest of prompt_tokens at Input;
//   - completion_tokens at Output. Reasoning tokens are part of
//     completion_tokens and are not added again; only when a provider
//     reports more reasoning tokens than completion tokens is the larger
//     number billed.
//
// Negative counts count as zero. The sum is exact (tokens × micro-USD per
// 1M tokens is pico-USD), and is rounded once, up, to whole nano-USD: a
// call is never billed less than it cost, and at most one nano-USD more.
// A cost beyond the range of Money saturates at Unlimited.
func Cost(prices models.Prices, usage wire.Usage) Money {
	prompt := max(usage.PromptTokens, 0)
	cached := min(max(usage.CachedTokens(), 0), prompt)
	output := max(usage.CompletionTokens, usage.ReasoningTokens(), 0)
	return cost(prompt-cached, prices.Input, cached, prices.CachedInput, output, prices.Output)
}

// WorstCase returns the most a call can cost: promptTokens at the full
// input price (whether the prompt cache will serve any of it is not known
// before the call) plus maxCompletionTokens at the output price. Billing
// reserves this before forwarding a request.
func WorstCase(prices models.Prices, promptTokens, maxCompletionTokens int) Money {
	return cost(max(promptTokens, 0), prices.Input, 0, 0, max(maxCompletionTokens, 0), prices.Output)
}

// cost sums three tokens×price products in 128 bits of pico-USD and rounds
// the sum up to nano-USD.
func cost(n1 int, p1 models.Price, n2 int, p2 models.Price, n3 int, p3 models.Price) Money {
	var hi, lo uint64
	for _, t := range [3]struct {
		n int
		p models.Price
	}{{n1, p1}, {n2, p2}, {n3, p3}} {
		if t.n <= 0 || t.p <= 0 {
			continue
		}
		h, l := bits.Mul64(uint64(t.n), uint64(t.p))
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi, c = bits.Add64(hi, h, c)
		if c != 0 {
			return Unlimited
		}
	}
	if hi >= 1000 { // the quotient would not fit 64 bits
		return Unlimited
	}
	q, r := bits.Div64(hi, lo, 1000)
	if q >= math.MaxInt64 {
		return Unlimited
	}
	if r != 0 {
		q++
	}
	return Money(q)
}
