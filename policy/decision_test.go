package policy

import (
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestDecodeDecision(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		want  Decision
		field string // non-empty: decoding fails naming this member
	}{
		{name: "minimal allow", doc: `{"allow": true}`, want: Decision{Allow: true}},
		{name: "full allow", doc: `{"allow": true, "reasons": ["ok"], "model": "gpt-4o-mini", "max_tokens": 512,
			"limits": {"key": {"rpm": 10, "tpm": 1000}, "org": {"tpm": 5}}, "cache": "forbid",
			"log": ["principal.tier"], "redact": {"pii/email"}}`,
			want: Decision{Allow: true, Reasons: []string{"ok"}, Model: "gpt-4o-mini", MaxTokens: 512,
				Limits: Limits{Key: Limit{RPM: 10, TPM: 1000}, Org: Limit{TPM: 5}}, Cache: CacheForbid,
				Log: []string{"principal.tier"}, Redact: []string{"pii/email"}}},
		{name: "deny", doc: `{"allow": false, "status": 429, "type": "insufficient_quota", "code": "insufficient_quota", "reasons": ["broke"]}`,
			want: Decision{Status: 429, Type: "insufficient_quota", Code: "insufficient_quota", Reasons: []string{"broke"}}},
		{name: "nulls are absent", doc: `{"allow": true, "model": null, "max_tokens": null, "limits": null, "cache": null, "redact": null}`,
			want: Decision{Allow: true}},
		{name: "missing allow", doc: `{"reasons": []}`, field: "allow"},
		{name: "null allow", doc: `{"allow": null}`, field: "allow"},
		{name: "allow not bool", doc: `{"allow": "true"}`, field: "allow"},
		{name: "status string", doc: `{"allow": false, "status": "403"}`, field: "status"},
		{name: "status not 4xx", doc: `{"allow": false, "status": 500}`, field: "status"},
		{name: "status fraction", doc: `{"allow": false, "status": 403.5}`, field: "status"},
		{name: "reasons not strings", doc: `{"allow": false, "reasons": [1]}`, field: "reasons"},
		{name: "reasons a string", doc: `{"allow": false, "reasons": "no"}`, field: "reasons"},
		{name: "max_tokens zero", doc: `{"allow": true, "max_tokens": 0}`, field: "max_tokens"},
		{name: "cache unknown", doc: `{"allow": true, "cache": "maybe"}`, field: "cache"},
		{name: "limits bad scope", doc: `{"allow": true, "limits": {"team": {"rpm": 1}}}`, field: `limits."team"`},
		{name: "limits bad member", doc: `{"allow": true, "limits": {"key": {"rph": 1}}}`, field: "limits.key.rph"},
		{name: "limits negative", doc: `{"allow": true, "limits": {"key": {"rpm": -1}}}`, field: "limits.key.rpm"},
		{name: "unknown member", doc: `{"allow": true, "max_token": 5}`, field: "max_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := ast.MustParseTerm(tc.doc).Value
			d, err := decodeDecision(v)
			if tc.field != "" {
				var de *DecisionError
				if !errors.As(err, &de) || de.Field != tc.field || !errors.Is(err, ErrBadDecision) {
					t.Fatalf("err = %v, want a DecisionError on %q", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d, tc.want) {
				t.Fatalf("decision =\n%+v\nwant\n%+v", d, tc.want)
			}
		})
	}
}

func TestDeny(t *testing.T) {
	tests := []struct {
		name string
		d    Decision
		err  error
		want *envelope
	}{
		{name: "allowed", d: Decision{Allow: true}},
		{name: "engine error", d: Decision{Allow: true}, err: ErrUndefined,
			want: &envelope{500, "server_error", "", "", "The server had an error while processing your request. Include the request ID r1 in any report."}},
		{name: "default 403", d: Decision{},
			want: &envelope{403, "permission_error", "", "", "The request is not allowed by policy."}},
		{name: "403 with reasons and code", d: Decision{Reasons: []string{"a", "b"}, Code: "tier_closed"},
			want: &envelope{403, "permission_error", "tier_closed", "", "a; b"}},
		{name: "404", d: Decision{Status: 404, Reasons: []string{"no such model"}},
			want: &envelope{404, "invalid_request_error", "model_not_found", "model", "no such model"}},
		{name: "429", d: Decision{Status: 429},
			want: &envelope{429, "insufficient_quota", "insufficient_quota", "", "You exceeded your current quota."}},
		{name: "400", d: Decision{Status: 400, Reasons: []string{"flagged"}},
			want: &envelope{400, "invalid_request_error", "content_policy_violation", "", "flagged"}},
		{name: "type override", d: Decision{Status: 409, Type: "conflict_error"},
			want: &envelope{409, "conflict_error", "", "", "The request is not allowed by policy."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Deny(tc.d, tc.err, "r1")
			if tc.want == nil {
				if got != nil {
					t.Fatalf("Deny = %+v, want nil", got)
				}
				return
			}
			g := &envelope{got.Status, got.Type, got.Code, got.Param, got.Message}
			if *g != *tc.want {
				t.Fatalf("Deny = %+v, want %+v", *g, *tc.want)
			}
			if tc.d.HTTPStatus() == http.StatusOK && tc.err == nil {
				t.Fatal("a denial has status 200")
			}
		})
	}
}

// envelope mirrors the fields of wire.Error that Deny sets, for comparison.
type envelope struct {
	Status               int
	Type, Code, Param, M string
}
