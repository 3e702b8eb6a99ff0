// Package billing prices calls and keeps budgets: the cost of a call from
// its usage, and a ledger of spend per scope (key, user, org) and window
// (calendar day or month in UTC, rolling N days) that reserves a call's
// worst case before it runs and settles to the real cost after, so that
// concurrent calls cannot overspend.
//
//	m, _ := models.Builtin().Resolve("gpt-4o-mini")
//	worst := billing.WorstCase(m.Prices, promptTokens, maxTokens)
//	res, err := ledger.Reserve(ctx, []billing.Charge{
//		{Scope: "key:k_1", Window: billing.Monthly, Budget: 10 * billing.Dollar, Amount: worst},
//		{Scope: "org:acme", Window: billing.Monthly, Budget: 100 * billing.Dollar, Amount: worst},
//	})
//	if err == nil && res.Allowed { /* forward */ }
//	_ = res.Settle(ctx, billing.Cost(m.Prices, usage))
//
// Money is int64 nano-USD. MemoryLedger and RedisLedger implement Ledger
// and are safe for concurrent use; a Reservation is not.
package billing
