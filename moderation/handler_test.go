package moderation

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

func TestHandler(t *testing.T) {
	h := Handler(Default())
	tests := []struct {
		name    string
		method  string
		body    string
		status  int
		results int
		flagged []bool
		code    string
	}{
		{"string", "POST", `{"input":"I will kill you"}`, 200, 1, []bool{true}, ""},
		{"array", "POST", `{"input":["hello","mail a@example.com"],"model":"m"}`, 200, 2, []bool{false, true}, ""},
		{"parts", "POST", `{"input":[{"type":"text","text":"hello"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`, 200, 1, []bool{false}, ""},
		{"missing input", "POST", `{}`, 400, 0, nil, wire.CodeMissingRequired},
		{"empty array", "POST", `{"input":[]}`, 400, 0, nil, wire.CodeInvalidValue},
		{"number", "POST", `{"input":42}`, 400, 0, nil, wire.CodeInvalidType},
		{"model number", "POST", `{"input":"hello","model":5}`, 400, 0, nil, wire.CodeInvalidType},
		{"bad part", "POST", `{"input":[{"type":"audio"}]}`, 400, 0, nil, wire.CodeInvalidValue},
		{"bad json", "POST", `{"input":`, 400, 0, nil, wire.CodeInvalidJSON},
		{"get", "GET", ``, 405, 0, nil, wire.CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, "/v1/moderations", strings.NewReader(tt.body)))
			if rec.Code != tt.status {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if tt.status != 200 {
				e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
				if !ok || e.Code != tt.code {
					t.Fatalf("envelope %s", rec.Body)
				}
				want := "input"
				switch {
				case tt.code == wire.CodeMethodNotAllowed || tt.code == wire.CodeInvalidJSON:
					want = ""
				case strings.Contains(tt.body, `"model":5`):
					want = "model"
				}
				if e.Param != want {
					t.Errorf("param = %q, want %q", e.Param, want)
				}
				return
			}
			var resp wire.ModerationResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.Results) != tt.results || !strings.HasPrefix(resp.ID, "modr-") || resp.Model == "" {
				t.Fatalf("response %s", rec.Body)
			}
			for i, f := range tt.flagged {
				if resp.Results[i].Flagged != f {
					t.Errorf("result %d flagged = %v", i, resp.Results[i].Flagged)
				}
			}
		})
	}
}

func TestHandlerUnavailable(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(fixedModerator{err: ErrUnavailable}).ServeHTTP(rec,
		httptest.NewRequest("POST", "/v1/moderations", strings.NewReader(`{"input":"x"}`)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
}
