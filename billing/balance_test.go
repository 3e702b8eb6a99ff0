package billing

import (
	"context"
	"encoding/json"
	"testing"
)

func TestBalanceJSON(t *testing.T) {
	ctx := context.Background()
	l := NewMemory(MemoryConfig{Clock: newClock(t0)})
	charges := []Charge{
		{Scope: "org:acme", Budget: 100 * Dollar, Amount: 25 * Cent},
		{Scope: "key:k", Window: LastDays(7), Budget: Unlimited, Amount: 25 * Cent},
	}
	r, err := l.Reserve(ctx, charges)
	if err != nil || !r.Allowed {
		t.Fatal(r.Allowed, err)
	}
	tests := []struct {
		name string
		b    Balance
		want string
	}{
		{"budget", r.Balances[0], `{"scope":"org:acme","window":"month","budget_usd":100,"spent_usd":0,"reserved_usd":0.25,"remaining_usd":99.75,"start":"2026-03-01T00:00:00Z","end":"2026-04-01T00:00:00Z"}`},
		{"unlimited", r.Balances[1], `{"scope":"key:k","window":"7d","budget_usd":null,"spent_usd":0,"reserved_usd":0.25,"remaining_usd":null,"start":"2026-03-25T00:00:00Z","end":"2026-04-01T00:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.b)
			if err != nil || string(got) != tt.want {
				t.Errorf("json = %s, %v\nwant   %s", got, err, tt.want)
			}
		})
	}
}
