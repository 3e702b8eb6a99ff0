package moderation

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmgate/llmgate/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeModerations serves /v1/moderations, flagging inputs containing "bad".
func fakeModerations(t *testing.T, status int, seen *atomic.Value) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if seen != nil {
			seen.Store(string(b) + " auth=" + r.Header.Get("Authorization"))
		}
		if status != http.StatusOK {
			wire.WriteError(w, wire.Errorf(status, wire.TypeServer, "", "", "boom"))
			return
		}
		var req wire.ModerationRequest
		if err := json.Unmarshal(b, &req); err != nil {
			t.Errorf("bad request body: %v", err)
		}
		var resp wire.ModerationResponse
		for _, in := range InputsFromWire(req.Input) {
			bad := strings.Contains(in.Text, "bad")
			score := 0.01
			if bad {
				score = 0.97
			}
			types := []string{"text"}
			if len(in.ImageURLs) > 0 {
				types = append(types, "image")
			}
			resp.Results = append(resp.Results, wire.ModerationResult{
				Flagged:                   bad,
				Categories:                map[string]bool{"violence": bad},
				CategoryScores:            map[string]float64{"violence": score},
				CategoryAppliedInputTypes: map[string][]string{"violence": types},
			})
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
}

func TestRemote(t *testing.T) {
	var seen atomic.Value
	srv := fakeModerations(t, http.StatusOK, &seen)
	defer srv.Close()
	r, err := NewRemote(RemoteConfig{URL: srv.URL, APIKey: "k", Model: "omni-moderation-latest"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		inputs  []Input
		flagged []bool
		body    string
	}{
		{"texts in one call", []Input{{Text: "fine"}, {Text: "bad"}}, []bool{false, true}, `"input":["fine","bad"]`},
		{"one text", []Input{{Text: "bad"}}, []bool{true}, `"input":"bad"`},
		{"images as parts", []Input{{Text: "fine", ImageURLs: []string{"https://x/y.png"}}}, []bool{false}, `"type":"image_url"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Moderate(context.Background(), tt.inputs)
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range tt.flagged {
				if res[i].Flagged != f {
					t.Errorf("result %d flagged = %v", i, res[i].Flagged)
				}
			}
			body := seen.Load().(string)
			if !strings.Contains(body, tt.body) || !strings.Contains(body, "auth=Bearer k") || !strings.Contains(body, `"model":"omni-moderation-latest"`) {
				t.Errorf("request = %s", body)
			}
		})
	}
}

func TestRemoteFailure(t *testing.T) {
	down := fakeModerations(t, http.StatusInternalServerError, nil)
	defer down.Close()
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	}))
	defer slow.Close()
	defer close(block)
	tests := []struct {
		name     string
		url      string
		failOpen bool
		timeout  time.Duration
	}{
		{"5xx closed", down.URL, false, 0},
		{"5xx open", down.URL, true, 0},
		{"timeout closed", slow.URL, false, 20 * time.Millisecond},
		{"timeout open", slow.URL, true, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hook error
			r, err := NewRemote(RemoteConfig{URL: tt.url, FailOpen: tt.failOpen, Timeout: tt.timeout,
				OnError: func(err error) { hook = err }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.Moderate(context.Background(), []Input{{Text: "a"}, {Text: "b"}})
			if !errors.Is(hook, ErrUnavailable) {
				t.Errorf("OnError got %v", hook)
			}
			if tt.failOpen {
				if err != nil || len(res) != 2 || res[0].Flagged {
					t.Fatalf("fail open: %v, %v", res, err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("fail closed: err = %v", err)
			}
		})
	}
}

func TestNewRemoteBadURL(t *testing.T) {
	if _, err := NewRemote(RemoteConfig{URL: "ftp://x"}); err == nil {
		t.Fatal("want error")
	}
}
