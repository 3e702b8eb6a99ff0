package middleware

import (
	"context"
	"fmt"

	"github.com/llmgate/llmgate/limiter"
)

// State returns the current state of a principal's limits — one Result per
// limit of its tier, with Remaining and ResetAfter — without charging
// anything: each bucket is read with a reservation of cost 0. It is what an
// admin endpoint shows; policy overrides of single requests are not
// reflected. A principal whose tier limits nothing has no results.
func (l *Limit) State(ctx context.Context, p *Principal) ([]limiter.Result, error) {
	if p == nil || p.KeyID == "" {
		return nil, fmt.Errorf("middleware: limit state needs a principal with a key id")
	}
	reader := *l
	reader.tokens = nil // costs are zeroed below; never call a user hook with a bare Call
	lc := &limitCall{l: &reader, c: &Call{Principal: p}}
	lc.build()
	if lc.n == 0 {
		return nil, nil
	}
	for i := range lc.reqs[:lc.n] {
		lc.reqs[i].Cost = 0
	}
	ctx, cancel := l.bound(ctx)
	defer cancel()
	res, err := l.store.Reserve(ctx, lc.reqs[:lc.n])
	if err != nil {
		return nil, fmt.Errorf("middleware: limit state: %w", err)
	}
	return append([]limiter.Result(nil), res.Results()...), nil
}
