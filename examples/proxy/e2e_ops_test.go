package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond (a request to the proxy) until it holds or 10s pass;
// it is how a test waits for a signal the proxy handles asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKeyReloadOnSIGHUP revokes and adds keys in the configuration file;
// SIGHUP applies both without a restart.
func TestKeyReloadOnSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	tiers := "tiers:\n  alice: {models: [\"*\"]}\n  bob: {models: [\"*\"]}\n"
	path := filepath.Join(t.TempDir(), "proxy.yaml")
	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(testKeysYAML("alice") + tiers)
	p := startProxy(t, "-config", path)
	const body = `{"model":"llmtest-1","messages":[{"role":"user","content":"hi"}],"max_tokens":1}`
	status := func(key string) int { return rawChat(t, p.URL, key, body).StatusCode }
	hup := func() {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}

	if got := status("sk-alice"); got != 200 {
		t.Fatalf("alice before reload: %d", got)
	}
	if got := status("sk-bob"); got != 401 {
		t.Fatalf("bob before he exists: %d", got)
	}

	// Revoke alice. The signal is handled asynchronously: wait for the
	// reload's log line, then the very next request must be refused.
	write(strings.Replace(testKeysYAML("alice"), "tier: alice}", "tier: alice, revoked: true}", 1) + tiers)
	hup()
	waitFor(t, "the first reload", func() bool { return strings.Count(p.output(), "configuration reloaded") == 1 })
	if got := status("sk-alice"); got != 401 {
		t.Errorf("alice after revocation: %d, want 401", got)
	}

	// Add bob (alice stays revoked).
	write(strings.Replace(testKeysYAML("alice", "bob"), "tier: alice}", "tier: alice, revoked: true}", 1) + tiers)
	hup()
	waitFor(t, "the second reload", func() bool { return strings.Count(p.output(), "configuration reloaded") == 2 })
	if got := status("sk-bob"); got != 200 {
		t.Errorf("bob after reload: %d, want 200", got)
	}
	if got := status("sk-alice"); got != 401 {
		t.Errorf("alice after the second reload: %d, want 401", got)
	}

	// A file that does not load changes nothing.
	write("keys: [oops\n")
	hup()
	waitFor(t, "the failed reload", func() bool { return strings.Contains(p.output(), "reload failed") })
	if got := status("sk-bob"); got != 200 {
		t.Errorf("bob after a broken file: %d, want 200", got)
	}
}

// TestGracefulShutdownFinishesStream sends SIGTERM while a slow stream is in
// flight: the stream still ends with [DONE] and the process exits 0.
func TestGracefulShutdownFinishesStream(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	p := configProxy(t, testKeysYAML("slow")+"tiers:\n  slow: {models: [\"*\"]}\n")
	req, _ := http.NewRequest("POST", p.URL+"/v1/chat/completions", strings.NewReader(
		`{"model":"llmtest-1","stream":true,"messages":[{"role":"user","content":"Tell me a long story."}],"max_tokens":40}`))
	req.Header.Set("Authorization", "Bearer sk-slow")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Llmtest-Fault", "per_token=20ms")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	events := 0
	for events == 0 && sc.Scan() { // the stream has started
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
		}
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused once the listener is closed.
	waitFor(t, "the listener to close", func() bool {
		r, err := http.Get(p.URL + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err != nil
	})
	done, after := false, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "data: ") {
			events++
			after++
		}
		if line == "data: [DONE]" {
			done = true
		}
	}
	if err := sc.Err(); err != nil || !done {
		t.Fatalf("stream after SIGTERM: %d events, [DONE] %v, err %v", events, done, err)
	}
	if after < 3 { // some content, then [DONE]
		t.Errorf("only %d of %d events after SIGTERM; the stream did not overlap the shutdown", after, events)
	}
	werr := make(chan error, 1)
	go func() { werr <- p.cmd.Wait() }()
	select {
	case err := <-werr:
		var exit *exec.ExitError
		if errors.As(err, &exit) || err != nil {
			t.Fatalf("proxy exit: %v\n%s", err, p.output())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not exit after its last stream")
	}
	if !strings.Contains(p.output(), "letting streams finish") {
		t.Errorf("no shutdown log line:\n%s", p.output())
	}
	t.Logf("stream ran %v past SIGTERM", time.Since(start).Round(time.Millisecond))
}

// curlLine matches the demo's printed curl command (two lines joined).
var curlLine = regexp.MustCompile(`curl -s (\S+) -H '([^']*)' -H '([^']*)' -d '([^']*)'`)

// TestQuickStartCurl starts the demo configuration, as `go run
// ./examples/proxy` does, and sends the request of the curl line it prints.
// When curl is installed, the printed line itself is run by the shell.
func TestQuickStartCurl(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the proxy binary")
	}
	p := startProxy(t)
	var printed string
	waitFor(t, "the curl line", func() bool {
		out := p.output()
		i := strings.Index(out, "  curl -s ")
		if i < 0 || !strings.Contains(out[i:], "}'\n") {
			return false
		}
		printed = out[i : i+strings.Index(out[i:], "}'\n")+2]
		return true
	})
	joined := strings.Join(strings.Fields(strings.ReplaceAll(printed, "\\\n", " ")), " ")
	m := curlLine.FindStringSubmatch(joined)
	if m == nil {
		t.Fatalf("cannot parse the printed curl line:\n%s", printed)
	}
	if m[1] != p.URL+"/v1/chat/completions" || m[2] != "Authorization: Bearer "+p.Key {
		t.Errorf("curl line targets %s with %q; want %s/v1/chat/completions and the demo key", m[1], m[2], p.URL)
	}
	req, _ := http.NewRequest("POST", m[1], strings.NewReader(m[4]))
	for _, h := range []string{m[2], m[3]} {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"chat.completion"`) {
		t.Fatalf("the quick start request: %d %s", res.StatusCode, b)
	}

	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("curl is not installed; checked the parsed request only")
		return
	}
	out, err := exec.CommandContext(context.Background(), "sh", "-c", printed+" -w '\\n%{http_code}'").CombinedOutput()
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "\n200") {
		t.Errorf("running the printed line: %v\n%s", err, out)
	}
}

// TestHelpFlag: `proxy -h` (and -help) prints the usage and exits 0, as a
// request for help is not an error; an unknown flag still fails.
func TestHelpFlag(t *testing.T) {
	for _, tc := range []struct {
		flag string
		ok   bool
	}{{"-h", true}, {"-help", true}, {"-no-such-flag", false}} {
		cmd := exec.Command(os.Args[0], tc.flag)
		cmd.Env = append(os.Environ(), "LLMGATE_PROXY_MAIN=1")
		out, err := cmd.CombinedOutput()
		if (err == nil) != tc.ok || !strings.Contains(string(out), "-upstream") || strings.Contains(string(out), "help requested") {
			t.Errorf("proxy %s: %v (want success %v)\n%s", tc.flag, err, tc.ok, out)
		}
	}
}
