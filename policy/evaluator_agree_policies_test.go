package policy

import (
	"context"
	"reflect"
	"testing"
)

var agreePolicies = []string{
	// conflicts
	"x := 1 if input.request.stream == false\nx := 2 if input.request.n == 1\ndecision := {\"allow\": x == 1}",
	"f(a) := 1 if a > 0\nf(a) := 2 if a > 1\ndecision := {\"allow\": f(input.tokens.prompt) == 1}",
	"o[k] := 1 if k := \"a\"\no[k] := 2 if k := \"a\"\ndecision := {\"allow\": count(o) == 1}",
	// undefined vs false
	"decision := {\"allow\": input.request.temperature > 0.5}",
	"decision := {\"allow\": input.request.top_p > 0.5}",
	"default a := false\na if input.request.top_p\ndecision := {\"allow\": a}",
	"decision := {\"allow\": not_set}\nnot_set if not input.request.top_p",
	"decision := {\"allow\": true, \"reasons\": [r | r := input.request.tools[_]]}",
	// every / some
	"decision := {\"allow\": ok}\nok if every t in input.request.tools { startswith(t, \"a\") }",
	"decision := {\"allow\": ok}\ndefault ok := false\nok if every s, b in input.budgets { b.remaining_usd > 1 }",
	// else
	"decision := {\"allow\": v == 2}\nv := 1 if input.request.n > 5\nelse := 2 if input.request.n > 0\nelse := 3",
	// with
	"decision := {\"allow\": a with input.request.n as 7}\na if input.request.n == 7",
	"decision := {\"allow\": a with input.principal as {\"tier\": \"x\"}}\na if input.principal.tier == \"x\"",
	"decision := {\"allow\": a with data.llmgate_config.tiers.free.max_tokens as 3}\na if data.llmgate_config.tiers.free.max_tokens == 3",
	// numbers
	"decision := {\"allow\": true, \"max_tokens\": input.tokens.prompt / 2}",
	"decision := {\"allow\": true, \"max_tokens\": 1024.0}",
	"decision := {\"allow\": true, \"max_tokens\": 2.5 * 2}",
	"decision := {\"allow\": true, \"status\": 404.0}",
	"decision := {\"allow\": false, \"status\": 4.29e2}",
	"decision := {\"allow\": true, \"limits\": {\"key\": {\"rpm\": input.tokens.prompt * 0.5}}}",
	// sets in decision
	"decision := {\"allow\": false, \"reasons\": {\"b\", \"a\"}}",
	"decision := {\"allow\": true, \"redact\": {c | some c, _ in input.moderation.categories}}",
	// null members
	"decision := {\"allow\": true, \"model\": null, \"reasons\": null}",
	// objects with non string keys
	"decision := {\"allow\": true, 1: 2}",
	// time
	"decision := {\"allow\": time.now_ns() == input.time.unix_ns}",
	"decision := {\"allow\": time.parse_rfc3339_ns(input.time.rfc3339) == input.time.unix_ns}",
	// print
	"decision := {\"allow\": true} if { print(input.principal); true }",
	// strings unicode
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%s|%d\", [upper(input.request.user), count(input.request.user)])]}",
	"decision := {\"allow\": true, \"reasons\": split(input.request.user, \"\")}",
	"decision := {\"allow\": true, \"reasons\": [x | x := substring(input.request.user, 0, 2)]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(input.moderation)]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(input)]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(input.request)]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [input.budgets])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [input.model])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [input])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [object.get(input, \"model\", 0)])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [[input.model, input.tokens]])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [{\"m\": input.budgets}])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [{input.budgets}])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v\", [input.budgets.key])]}",
	"decision := {\"allow\": input.budgets.key == {\"window\": \"month\", \"spent_usd\": 2, \"budget_usd\": 10, \"remaining_usd\": 8}}",
	"decision := {\"allow\": input.tokens == {\"prompt\": 1200, \"max_completion\": 256}}",
	"decision := {\"allow\": {\"prompt\": 1200, \"max_completion\": 256} == input.tokens}",
	"decision := {\"allow\": input.tokens == input.tokens}",
	"decision := {\"allow\": input.tokens != {\"prompt\": 1}}",
	"decision := {\"allow\": input.tokens in [{\"prompt\": 1200, \"max_completion\": 256}]}",
	"decision := {\"allow\": {\"prompt\": 1200, \"max_completion\": 256} in [input.tokens]}",
	"decision := {\"allow\": input.tokens < {\"z\": 1}}",
	"s := {input.tokens, {\"prompt\": 1200, \"max_completion\": 256}}\ndecision := {\"allow\": count(s) == 1}",
	"o := {input.tokens: 1}\ndecision := {\"allow\": o[{\"prompt\": 1200, \"max_completion\": 256}] == 1}",
	"decision := {\"allow\": x == input.tokens}\nx := {\"prompt\": 1200, \"max_completion\": 256}",
	"decision := {\"allow\": [input.tokens] == [{\"prompt\": 1200, \"max_completion\": 256}]}",
	"decision := {\"allow\": input.tokens == input.cost}",
	"t := input.tokens\ndecision := {\"allow\": t.prompt == 1200}",
	"decision := {\"allow\": input.budgets[\"key\"].window == \"month\"}",
	"decision := {\"allow\": count([b | some b in input.budgets]) == 2}",
	"decision := {\"allow\": input.budgets.key.remaining_usd >= input.budgets.org.remaining_usd}",
	"decision := {\"allow\": object.keys(input.budgets) == {\"key\", \"org\"}}",
	"decision := {\"allow\": input.budgets.user == null}",
	"a if not to_number(input.request.user) > 0\ndefault a := false\ndecision := {\"allow\": a}",
	"decision := {\"allow\": count([x | x := to_number(input.request.user)]) == 0}",
	"decision := {\"allow\": a}\ndefault a := false\na if { some t in [\"1\", \"x\"]; to_number(t) > 5 }",
	"decision := {\"allow\": true, \"reasons\": [x | some x in split(input.request.user, \" \"); regex.match(x, \"a\")]}",
	"decision := {\"allow\": true, \"reasons\": [x | x := object.get(input.moderation, [\"scores\", \"hate\"], \"none\")]}",
	"decision := {\"allow\": input.request.n == 1, \"reasons\": [sprintf(\"%.2f\", [input.cost.estimate_usd])]}",
	"decision := {\"allow\": true, \"reasons\": [sprintf(\"%v %v\", [input.budgets.key.remaining_usd, input.model.input_per_mtok])]}",
	"decision := {\"allow\": true, \"reasons\": [format_int(input.time.unix_ns, 10)]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(time.clock([input.time.unix_ns, \"America/New_York\"]))]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(time.clock([input.time.unix_ns, \"Bad/Zone\"]))]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(units.parse(input.request.user))]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal(input.request.temperature + 0)]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal([k | some k, v in input.request; v == false])]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal([k | some k, v in input.request; v == 0])]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal([k | some k, v in input.request; v == \"\"])]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal({k | input.model[k] == input.model[k]})]}",
	"decision := {\"allow\": true, \"reasons\": [json.marshal([x | walk(input, [p, x]); is_number(x)])]}",
	"decision := {\"allow\": is_null(object.get(input.budgets, \"user\", null))}",
}

// TestEvaluatorsAgreeOnPolicies: the IR evaluator and topdown give the same
// decision, or fail alike, for each of agreePolicies on each of
// agreeInputs.
func TestEvaluatorsAgreeOnPolicies(t *testing.T) {
	for i, src := range agreePolicies {
		files := map[string]string{"p.rego": "package llmgate\n\nimport rego.v1\n\n" + src + "\n", "data.json": `{"llmgate_config": {"tiers": {"free": {"max_tokens": 7}}}}`}
		ir, err1 := New(context.Background(), Config{FS: mapFS(files), PollInterval: -1, Evaluator: EvaluatorIR, Now: fixedClock(t0)})
		td, err2 := New(context.Background(), Config{FS: mapFS(files), PollInterval: -1, Evaluator: EvaluatorTopdown, Now: fixedClock(t0)})
		if err1 != nil || err2 != nil {
			t.Logf("%d load: ir=%v td=%v", i, err1, err2)
			if err2 == nil {
				t.Errorf("%d: topdown loads, ir does not: %v", i, err1)
			}
			continue
		}
		for name, in := range agreeInputs() {
			d1, e1 := ir.Decide(context.Background(), in)
			d2, e2 := td.Decide(context.Background(), in)
			if !reflect.DeepEqual(d1, d2) || !sameError(e1, e2) {
				t.Errorf("%d %q on %s:\n  ir:      %+v %v\n  topdown: %+v %v", i, src, name, d1, e1, d2, e2)
			}
		}
		ir.Close()
		td.Close()
	}
}
