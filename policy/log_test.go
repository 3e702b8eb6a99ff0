package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestDecisionLog(t *testing.T) {
	const pol = `package llmgate

decision := {
	"allow": input.principal.tier == "free",
	"status": 403,
	"reasons": ["r"],
	"log": ["principal.tier", "cost.estimate_usd", "request.prompt", "principal.labels", "request", "nothing.here"],
}
`
	var buf bytes.Buffer
	clock := []time.Time{t0, t0.Add(1500 * time.Microsecond)}
	now := func() time.Time { tm := clock[0]; clock = append(clock[1:], clock[0]); return tm }
	e := newEngine(t, Config{
		FS:           mapFS(map[string]string{"p.rego": pol}),
		PollInterval: -1,
		Now:          now,
		DecisionLog:  slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	in := sampleInput()
	in.Request.Prompt = "my secret plans"
	in.Principal.Labels = map[string]string{"team": "search", "db_password": "hunter2"}
	if _, err := e.Decide(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	for _, leak := range []string{"secret plans", "hunter2"} {
		if strings.Contains(line, leak) {
			t.Fatalf("decision log leaks %q: %s", leak, line)
		}
	}
	fields := rec["input"].(map[string]any)
	checks := map[string]any{
		"msg":        "policy decision",
		"request_id": "req-1",
		"allow":      true,
		"eval":       float64(1500 * time.Microsecond),
		"revision":   e.Revision(),
	}
	for k, want := range checks {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v", k, rec[k], want)
		}
	}
	inputChecks := map[string]any{
		"principal.tier":    "free",
		"cost.estimate_usd": 0.0003336,
		"request.prompt":    "***",
		"nothing.here":      nil,
	}
	for k, want := range inputChecks {
		if fields[k] != want {
			t.Errorf("input %s = %v, want %v", k, fields[k], want)
		}
	}
	if labels := fields["principal.labels"].(map[string]any); labels["db_password"] != "***" || labels["team"] != "search" {
		t.Errorf("labels = %v", labels)
	}
	if req := fields["request"].(map[string]any); req["prompt"] != "***" || req["model"] != "gpt-4o-mini" {
		t.Errorf("request = %v", req)
	}

	// A denied decision logs its status; a failed one logs the error.
	buf.Reset()
	in.Principal.Tier = "pro"
	if _, err := e.Decide(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"status":403`) || !strings.Contains(buf.String(), `"reasons":["r"]`) {
		t.Errorf("denial record: %s", buf.String())
	}
}

func TestDecisionLogError(t *testing.T) {
	var buf bytes.Buffer
	e := newEngine(t, Config{
		FS:           mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := {\"allow\": 1}\n"}),
		PollInterval: -1,
		DecisionLog:  slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	if _, err := e.Decide(context.Background(), sampleInput()); err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(buf.String(), `"level":"ERROR"`) || !strings.Contains(buf.String(), "bad decision: allow") {
		t.Errorf("error record: %s", buf.String())
	}
}

func TestPrintGoesToLogger(t *testing.T) {
	var buf bytes.Buffer
	e := newEngine(t, Config{
		FS:           mapFS(map[string]string{"p.rego": "package llmgate\n\ndecision := {\"allow\": true} if print(\"tier\", input.principal.tier)\n"}),
		PollInterval: -1,
		Logger:       slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if _, err := e.Decide(context.Background(), sampleInput()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `output="tier free"`) {
		t.Errorf("print output: %s", buf.String())
	}
}

// TestDecisionLogMaskCoversSubPaths: a path below a masked one
// (request.metadata.team below request.metadata) is masked too.
func TestDecisionLogMaskCoversSubPaths(t *testing.T) {
	const pol = `package llmgate

decision := {"allow": true, "log": ["request.metadata.team", "request.metadata"]}
`
	var buf bytes.Buffer
	e := newEngine(t, Config{FS: mapFS(map[string]string{"p.rego": pol}), PollInterval: -1,
		DecisionLog: slog.New(slog.NewJSONHandler(&buf, nil))})
	in := sampleInput()
	in.Request.Metadata = map[string]string{"team": "sk-live-TOPSECRET"}
	if _, err := e.Decide(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "TOPSECRET") {
		t.Fatalf("decision log leaks a masked member: %s", buf.String())
	}
}

// TestDecisionLogErrorWithholdsInput: a builtin's error quotes the operand
// it failed on, here the prompt; the logged error keeps the builtin's name
// and location and withholds the rest, with either evaluator.
func TestDecisionLogErrorWithholdsInput(t *testing.T) {
	const pol = `package llmgate

decision := {"allow": to_number(input.request.prompt) > 0}
`
	for _, ev := range []Evaluator{EvaluatorIR, EvaluatorTopdown} {
		var buf bytes.Buffer
		e := newEngine(t, Config{FS: mapFS(map[string]string{"p.rego": pol}), PollInterval: -1, Evaluator: ev,
			DecisionLog: slog.New(slog.NewJSONHandler(&buf, nil))})
		in := sampleInput()
		in.Request.Prompt = "my key is sk-live-TOPSECRET"
		if _, err := e.Decide(context.Background(), in); err == nil {
			t.Fatal("decision did not fail")
		}
		if strings.Contains(buf.String(), "TOPSECRET") {
			t.Errorf("%v: decision log leaks request.prompt through err: %s", ev, buf.String())
		}
		if !strings.Contains(buf.String(), "p.rego:3: eval_builtin_error: to_number: message withheld") {
			t.Errorf("%v: the logged error lost the builtin's name or location: %s", ev, buf.String())
		}
	}
}
