package wire_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmgate/llmgate/wire"
)

// TestEnvelopeDecodesInOpenAIClient sends each kind of envelope from a test
// server and checks that the official client decodes it into its error type
// with the same message, type, param and code.
func TestEnvelopeDecodesInOpenAIClient(t *testing.T) {
	cases := []*wire.Error{
		wire.InvalidParam("messages[2].role", "'robot' is not one of 'system', 'developer', 'user', 'assistant', 'tool', 'function' - 'messages[2].role'"),
		wire.InvalidAPIKey(),
		wire.ModelNotFound("gpt-9"),
		wire.Errorf(http.StatusTooManyRequests, wire.TypeTokens, wire.CodeRateLimitExceeded, "", "Rate limit reached for tokens."),
		wire.Errorf(http.StatusForbidden, wire.TypePermission, "", "", "You may not use this model."),
		wire.ServerError("req_123"),
	}
	for _, want := range cases {
		t.Run(want.Type+"/"+want.Code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				wire.WriteError(w, want)
			}))
			defer srv.Close()
			client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("k"), option.WithMaxRetries(0))
			_, err := client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model:    "gpt-4o-mini",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v (%T) is not an *openai.Error", err, err)
			}
			if apiErr.StatusCode != want.HTTPStatus() || apiErr.Message != want.Message ||
				apiErr.Type != want.Type || apiErr.Param != want.Param || apiErr.Code != want.Code {
				t.Errorf("client decoded status=%d message=%q type=%q param=%q code=%q, want %d %q %q %q %q",
					apiErr.StatusCode, apiErr.Message, apiErr.Type, apiErr.Param, apiErr.Code,
					want.HTTPStatus(), want.Message, want.Type, want.Param, want.Code)
			}
		})
	}
}

func TestEnvelopeNulls(t *testing.T) {
	got := string(wire.MarshalEnvelope(&wire.Error{Status: 500, Message: "boom", Type: wire.TypeServer}))
	want := `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}` + "\n"
	if got != want {
		t.Errorf("got %s want %s", got, want)
	}
}

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
		want wire.Error
	}{
		{`{"error":{"message":"m","type":"t","param":"p","code":"c"}}`, true, wire.Error{Status: 400, Message: "m", Type: "t", Param: "p", Code: "c"}},
		{`{"error":{"message":"m","type":"t","param":null,"code":429}}`, true, wire.Error{Status: 400, Message: "m", Type: "t", Code: "429"}},
		{`{"error":{"message":"","type":"t"}}`, false, wire.Error{}},
		{`not json`, false, wire.Error{}},
		{`{"detail":"x"}`, false, wire.Error{}},
	} {
		e, ok := wire.DecodeError(400, []byte(tc.body))
		if ok != tc.ok {
			t.Fatalf("%s: ok=%v", tc.body, ok)
		}
		if ok && *e != tc.want {
			t.Errorf("%s: got %+v want %+v", tc.body, *e, tc.want)
		}
	}
}

func TestWriteErrorKeepsHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Retry-After", "2")
	wire.WriteError(rec, wire.Errorf(429, wire.TypeRequests, wire.CodeRateLimitExceeded, "", "slow down"))
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("code=%d headers=%v", rec.Code, rec.Header())
	}
	var err error = wire.InvalidParam("n", "bad")
	var we *wire.Error
	if !errors.As(err, &we) || we.HTTPStatus() != 400 {
		t.Errorf("errors.As failed: %v", err)
	}
}
