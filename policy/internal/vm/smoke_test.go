package vm

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

const baseInput = `{
	"request": {"id": "r1", "endpoint": "/v1/chat/completions", "model": "gpt-4o-mini", "stream": false, "n": 1, "max_tokens": 256, "messages": 2, "tools": []},
	"principal": {"key_id": "k1", "user": "alice", "org": "acme", "tier": "free"},
	"model": {"name": "gpt-4o-mini", "known": true, "encoding": "o200k_base", "deprecated": false},
	"tokens": {"prompt": 1200, "max_completion": 256},
	"cost": {"estimate_usd": 0.001},
	"budgets": {"key": {"window": "month", "spent_usd": 2, "budget_usd": 10, "remaining_usd": 8}},
	"time": {"rfc3339": "2025-06-02T10:00:00Z", "unix_ns": 1748858400000000000}
}`

func TestSmoke(t *testing.T) {
	src, data := library(t)
	c := compileModules(t, map[string]string{"llmgate.rego": src})
	q := compileQuery(t, c, "__x__ = data.llmgate.decision")
	p := program(t, c, q)
	input := ast.MustParseTerm(baseInput).Value
	now := time.Unix(1748858400, 0)
	got, err := p.Eval(context.Background(), &Env{Input: input, Data: data, Time: now})
	if err != nil {
		t.Fatal(err)
	}
	want, err := topdownEval(t, c, q, input, data, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("vm: %v\ntd: %v", got, want)
}
