package policy

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

// agreeExprs are Rego expressions whose value becomes the decision's reasons
// (via sprintf %v), evaluated by both evaluators.
var agreeExprs = []string{
	`input.request.temperature`,
	`object.get(input.request, "temperature", "none")`,
	`object.get(input.request, "top_p", "none")`,
	`object.get(input, ["model", "context_window"], -1)`,
	`object.keys(input.model)`,
	`object.keys(input.budgets)`,
	`count(input.budgets)`,
	`count(input.request)`,
	`count(input.principal)`,
	`[k | input.request[k]]`,
	`[k | some k, _ in input.principal]`,
	`json.marshal(input.principal)`,
	`json.marshal(input.budgets)`,
	`json.marshal(input.model)`,
	`input.model == input.model`,
	`input.request == {}`,
	`input.budgets == {}`,
	`input.model == {"name": "gpt-4o-mini"}`,
	`{"name": "gpt-4o-mini"} == input.model`,
	`input.principal in {input.principal}`,
	`is_object(input.request)`,
	`type_name(input.budgets)`,
	`input.request.stream == false`,
	`not input.request.temperature`,
	`not input.request.metadata`,
	`input.cost.estimate_usd * 1000000`,
	`input.cost.estimate_usd == 0.0003336`,
	`1 == 1.0`,
	`input.tokens.prompt / 7`,
	`input.tokens.prompt % 7`,
	`input.time.unix_ns`,
	`time.now_ns() == input.time.unix_ns`,
	`time.clock([input.time.unix_ns, "Europe/Paris"])`,
	`count(input.request.user)`,
	`upper(input.request.user)`,
	`substring(input.request.user, 1, 3)`,
	`indexof(input.request.user, "é")`,
	`sprintf("%q", [input.request.user])`,
	`sprintf("%v", [input.cost.estimate_usd])`,
	`sprintf("%d", [input.tokens.prompt])`,
	`sprintf("%v", [0.1 + 0.2])`,
	`input.budgets.key.remaining_usd < input.cost.estimate_usd`,
	`[s | some s, b in input.budgets; b.remaining_usd > 1]`,
	`{s | input.budgets[s]}`,
	`walk(input.principal)`,
	`[p | walk(input.tokens, [p, _])]`,
	`object.union(input.tokens, {"x": 1})`,
	`object.remove(input.tokens, ["prompt"])`,
	`object.filter(input.model, ["name"])`,
	`input.request.tools == []`,
	`input.request.tools[0]`,
	`input.moderation.scores`,
	`input.moderation.categories["pii/email"]`,
	`{k: v | some k, v in input.model}`,
	`input.model[_] == "gpt-4o-mini"`,
	`input.principal.labels`,
	`input.request.metadata.team`,
	`data.llmgate_config.tiers[input.principal.tier].max_tokens`,
	`input.tokens.prompt > 1e3`,
	`input.tokens.prompt + 9007199254740993`,
	`input.time.unix_ns + 1`,
	`round(input.cost.estimate_usd * 1e7)`,
	`input["request"]["model"]`,
	`[x | x := input[_].name]`,
	`input.model.deprecated`,
	`input.model.deprecated == false`,
	`array.concat(input.request.tools, ["z"])`,
	`startswith(input.request.model, "gpt")`,
	`regex.match("^gpt", input.request.model)`,
	`glob.match("gpt-*", ["/"], input.model.name)`,
	`units.parse_bytes("1KiB")`,
	`numbers.range(1, 3)`,
	`to_number("1e400")`,
	`to_number("x")`,
	`1 / 0`,
	`input.tokens.prompt / 0`,
	`{"a": 1} == {"a": 1.0}`,
	`input.request.n == 1.0`,
	`format_int(input.tokens.prompt, 16)`,
	`count(input)`,
	`object.keys(input)`,
	`[k | input[k]]`,
	`strings.count(input.request.user, "é")`,
	`trim_space(input.request.user)`,
	`input.request.user < "zz"`,
	`{input.model, input.model}`,
	`count({input.model, input.principal})`,
	`[input.model] == [input.model]`,
	`input.model != input.principal`,
	`input.budgets.key == input.budgets.key`,
	`input.budgets.key in [input.budgets.key]`,
	`object.get(input.budgets, "user", "none")`,
	`object.get(input.budgets, ["key", "window"], "none")`,
	`object.get(input.model, "deprecated", "none")`,
	`object.subset(input.model, {"name": "gpt-4o-mini"})`,
	`object.subset({"name": "gpt-4o-mini", "x": 1}, input.model)`,
	`object.get(input.request, "metadata", "none")`,
	`sort(object.keys(input.request))`,
	`max([input.tokens.prompt, 3.5])`,
	`sum([input.cost.estimate_usd, 1])`,
	`input.model.input_per_mtok * 1`,
	`abs(0 - input.tokens.prompt)`,
	`ceil(input.cost.estimate_usd)`,
}

func agreeInputs() map[string]*Input {
	a := fullInput()
	a.Request.User = "héllo wörld ✓ 𝄞"
	a.Budgets.Key.RemainingUSD = 0.1 + 0.2
	b := sampleInput()
	b.Request.User = ""
	b.Budgets = Budgets{}
	b.Cost.EstimateUSD = nil
	b.Model = Model{Name: "unknown-x"}
	b.Request.Temperature = nil
	c := sampleInput()
	c.Request.Tools = nil
	c.Tokens.Prompt = 1 << 40
	c.Cost.EstimateUSD = ptr(1e21)
	c.Budgets.Key.RemainingUSD = 1e-9
	return map[string]*Input{"full": a, "sparse": b, "big": c}
}

// TestEvaluatorsAgreeOnTrickyExprs: the IR evaluator and topdown give the
// same decision for each of agreeExprs (undefined against false, missing
// members, whole-object uses of the lazy input, numbers, unicode) on each
// of agreeInputs.
func TestEvaluatorsAgreeOnTrickyExprs(t *testing.T) {
	for i, x := range agreeExprs {
		src := fmt.Sprintf("package llmgate\n\nimport rego.v1\n\ndecision := {\"allow\": true, \"reasons\": [sprintf(\"%%v\", [v])]} if v := %s\n", x)
		files := map[string]string{"p.rego": src, "data.json": `{"llmgate_config": {"tiers": {"free": {"max_tokens": 7}}}}`}
		ir, err1 := New(context.Background(), Config{FS: mapFS(files), PollInterval: -1, Evaluator: EvaluatorIR, Now: fixedClock(t0)})
		td, err2 := New(context.Background(), Config{FS: mapFS(files), PollInterval: -1, Evaluator: EvaluatorTopdown, Now: fixedClock(t0)})
		if err1 != nil || err2 != nil {
			t.Logf("load fail %s: %v / %v", x, err1, err2)
			if (err1 == nil) != (err2 == nil) {
				t.Errorf("%d %s: load ir=%v td=%v", i, x, err1, err2)
			}
			continue
		}
		for name, in := range agreeInputs() {
			d1, e1 := ir.Decide(context.Background(), in)
			d2, e2 := td.Decide(context.Background(), in)
			if !reflect.DeepEqual(d1, d2) || !sameError(e1, e2) {
				t.Errorf("%s on %s:\n  ir:      %v %v\n  topdown: %v %v", x, name, d1.Reasons, e1, d2.Reasons, e2)
			}
		}
		ir.Close()
		td.Close()
	}
}
