package billing

import (
	"encoding/json"
	"time"
)

// Balance is a scope's spend in one window.
type Balance struct {
	Scope  string
	Window Window
	// Budget is the charge's budget (Unlimited for none).
	Budget Money
	// Spent is what settled calls cost in the window; it may exceed Budget
	// by what calls generated beyond their reservations.
	Spent Money
	// Reserved is what calls in flight hold: their worst case until they
	// settle.
	Reserved Money
	// Allowed reports, in a Reservation, whether this charge fit its
	// budget. Reads leave it false.
	Allowed bool

	day int64 // the unix day the balance was taken on
}

// Start returns the start of the window the balance was taken in.
func (b Balance) Start() time.Time {
	start, _ := b.Window.bounds(b.day)
	return start
}

// End returns the end (exclusive) of the window the balance was taken in:
// when a calendar window resets, and when the oldest day leaves a rolling
// one.
func (b Balance) End() time.Time {
	_, end := b.Window.bounds(b.day)
	return end
}

// Remaining is what the scope may still reserve: Budget - Spent - Reserved,
// never negative; Unlimited when the budget is.
func (b Balance) Remaining() Money {
	if b.Budget == Unlimited {
		return Unlimited
	}
	return max(b.Budget-b.Spent-b.Reserved, 0)
}

// balanceJSON is Balance's JSON form, for /admin/usage and the policy
// input: dollars as numbers, null for an unlimited budget.
type balanceJSON struct {
	Scope        string   `json:"scope"`
	Window       string   `json:"window"`
	BudgetUSD    *float64 `json:"budget_usd"`
	SpentUSD     float64  `json:"spent_usd"`
	ReservedUSD  float64  `json:"reserved_usd"`
	RemainingUSD *float64 `json:"remaining_usd"`
	Start        string   `json:"start"`
	End          string   `json:"end"`
}

// MarshalJSON encodes the balance for /admin/usage and the policy input:
//
//	{"scope": "org:acme", "window": "month", "budget_usd": 100,
//	 "spent_usd": 12.5, "reserved_usd": 0.25, "remaining_usd": 87.25,
//	 "start": "2026-03-01T00:00:00Z", "end": "2026-04-01T00:00:00Z"}
//
// budget_usd and remaining_usd are null when the budget is Unlimited.
// Amounts are float64 dollars for reading; the ledger's arithmetic is
// on Money.
func (b Balance) MarshalJSON() ([]byte, error) {
	j := balanceJSON{
		Scope: b.Scope, Window: b.Window.String(),
		SpentUSD: b.Spent.USD(), ReservedUSD: b.Reserved.USD(),
		Start: b.Start().Format(time.RFC3339), End: b.End().Format(time.RFC3339),
	}
	if b.Budget != Unlimited {
		budget, remaining := b.Budget.USD(), b.Remaining().USD()
		j.BudgetUSD, j.RemainingUSD = &budget, &remaining
	}
	return json.Marshal(j)
}
