package policy

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// CacheMode is what a decision says about the response cache.
type CacheMode string

// Cache modes. The empty mode leaves the cache layer's own rules in force.
const (
	CacheDefault CacheMode = ""
	CacheAllow   CacheMode = "allow"  // the response may be served from and stored in the cache
	CacheForce   CacheMode = "force"  // cache even what the cache layer would bypass
	CacheForbid  CacheMode = "forbid" // never serve from or store in the cache
)

// Limit overrides the RPM and TPM of one scope; 0 leaves a value as
// configured.
type Limit struct {
	RPM int `json:"rpm,omitempty"`
	TPM int `json:"tpm,omitempty"`
}

// Limits are per-scope overrides of the limiter's RPM and TPM.
type Limits struct {
	Key  Limit `json:"key,omitzero"`
	User Limit `json:"user,omitzero"`
	Org  Limit `json:"org,omitzero"`
}

// Decision is the policy's decision document (`data.llmgate.decision` by
// default), decoded strictly: an unknown member or a member of the wrong
// type makes the evaluation fail with [ErrBadDecision].
//
// The zero Decision denies with no reasons. See README.md for the JSON
// shape and what the middleware does with each member.
type Decision struct {
	// Allow admits the request. Required.
	Allow bool `json:"allow"`
	// Reasons explain a denial (or notes on an allowed request); a denial's
	// reasons become the client's error message.
	Reasons []string `json:"reasons,omitempty"`
	// Status is the HTTP status of a denial, 400–499. Default: 403; 404 is
	// sent as model_not_found, 429 as insufficient_quota.
	Status int `json:"status,omitempty"`
	// Type and Code override the error envelope's type and code.
	Type string `json:"type,omitempty"`
	Code string `json:"code,omitempty"`
	// Model, when set, replaces the request's model.
	Model string `json:"model,omitempty"`
	// MaxTokens, when > 0, caps the completion tokens: a request asking
	// for more, or for no limit, is sent with max tokens = MaxTokens.
	MaxTokens int `json:"max_tokens,omitempty"`
	// Limits override the limiter's RPM/TPM per scope.
	Limits Limits `json:"limits,omitzero"`
	// Cache says whether the response cache may be used.
	Cache CacheMode `json:"cache,omitempty"`
	// Log lists input paths ("principal.tier", "cost.estimate_usd") to
	// include in the decision log record.
	Log []string `json:"log,omitempty"`
	// Redact lists moderation categories whose matches are redacted from
	// the request instead of blocking it.
	Redact []string `json:"redact,omitempty"`
}

// HTTPStatus returns the status of a denial: Status, or 403 when unset; 200
// for an allowed request.
func (d *Decision) HTTPStatus() int {
	switch {
	case d.Allow:
		return http.StatusOK
	case d.Status == 0:
		return http.StatusForbidden
	}
	return d.Status
}

// decodeDecision decodes a decision value strictly.
func decodeDecision(v ast.Value) (Decision, error) {
	var d Decision
	obj, ok := v.(ast.Object)
	if !ok {
		return d, badDecision("", "an object", v)
	}
	seenAllow := false
	err := obj.Iter(func(k, val *ast.Term) error {
		name, ok := k.Value.(ast.String)
		if !ok {
			return badDecision("", "an object with string keys", obj)
		}
		if _, null := val.Value.(ast.Null); null && string(name) != "allow" {
			return nil // an optional member set to null is absent
		}
		var err error
		switch f := string(name); f {
		case "allow":
			d.Allow, err = asBool(f, val.Value)
			seenAllow = true
		case "reasons":
			d.Reasons, err = asStrings(f, val.Value)
		case "status":
			d.Status, err = asInt(f, val.Value)
			if err == nil && (d.Status < 400 || d.Status > 499) {
				err = &DecisionError{Field: f, Msg: fmt.Sprintf("must be a 4xx status, got %d", d.Status)}
			}
		case "type":
			d.Type, err = asString(f, val.Value)
		case "code":
			d.Code, err = asString(f, val.Value)
		case "model":
			d.Model, err = asString(f, val.Value)
		case "max_tokens":
			d.MaxTokens, err = asInt(f, val.Value)
			if err == nil && d.MaxTokens < 1 {
				err = &DecisionError{Field: f, Msg: fmt.Sprintf("must be at least 1, got %d", d.MaxTokens)}
			}
		case "limits":
			d.Limits, err = asLimits(val.Value)
		case "cache":
			var s string
			s, err = asString(f, val.Value)
			d.Cache = CacheMode(s)
			if err == nil && d.Cache != CacheAllow && d.Cache != CacheForce && d.Cache != CacheForbid {
				err = &DecisionError{Field: f, Msg: fmt.Sprintf(`must be "allow", "force" or "forbid", got %q`, s)}
			}
		case "log":
			d.Log, err = asStrings(f, val.Value)
		case "redact":
			d.Redact, err = asStrings(f, val.Value)
		default:
			err = &DecisionError{Field: f, Msg: "unknown member"}
		}
		return err
	})
	if err == nil && !seenAllow {
		err = &DecisionError{Field: "allow", Msg: "missing"}
	}
	return d, err
}

func asLimits(v ast.Value) (Limits, error) {
	var l Limits
	obj, ok := v.(ast.Object)
	if !ok {
		return l, badDecision("limits", "an object", v)
	}
	err := obj.Iter(func(k, val *ast.Term) error {
		scope, _ := k.Value.(ast.String)
		var dst *Limit
		switch scope {
		case "key":
			dst = &l.Key
		case "user":
			dst = &l.User
		case "org":
			dst = &l.Org
		default:
			return &DecisionError{Field: "limits." + k.String(), Msg: "unknown scope (want key, user or org)"}
		}
		o, ok := val.Value.(ast.Object)
		if !ok {
			return badDecision("limits."+string(scope), "an object", val.Value)
		}
		return o.Iter(func(k, val *ast.Term) error {
			field := "limits." + string(scope) + "." + strings.Trim(k.String(), `"`)
			n, err := asInt(field, val.Value)
			if err == nil && n < 0 {
				err = &DecisionError{Field: field, Msg: "must not be negative"}
			}
			switch k.Value {
			case ast.String("rpm"):
				dst.RPM = n
			case ast.String("tpm"):
				dst.TPM = n
			default:
				return &DecisionError{Field: field, Msg: "unknown member (want rpm or tpm)"}
			}
			return err
		})
	})
	return l, err
}

func asBool(field string, v ast.Value) (bool, error) {
	b, ok := v.(ast.Boolean)
	if !ok {
		return false, badDecision(field, "a boolean", v)
	}
	return bool(b), nil
}

func asString(field string, v ast.Value) (string, error) {
	s, ok := v.(ast.String)
	if !ok {
		return "", badDecision(field, "a string", v)
	}
	return string(s), nil
}

func asInt(field string, v ast.Value) (int, error) {
	n, ok := v.(ast.Number)
	if !ok {
		return 0, badDecision(field, "an integer", v)
	}
	i, ok := n.Int()
	if !ok {
		return 0, badDecision(field, "an integer", v)
	}
	return i, nil
}

// asStrings accepts an array or a set of strings; a set comes out sorted.
func asStrings(field string, v ast.Value) ([]string, error) {
	var out []string
	add := func(t *ast.Term) error {
		s, ok := t.Value.(ast.String)
		if !ok {
			return badDecision(field, "an array of strings", v)
		}
		out = append(out, string(s))
		return nil
	}
	switch c := v.(type) {
	case *ast.Array:
		out = make([]string, 0, c.Len())
		return out, c.Iter(add)
	case ast.Set:
		out = make([]string, 0, c.Len())
		return out, c.Iter(add) // sets iterate in sorted order
	}
	return nil, badDecision(field, "an array of strings", v)
}

// DecisionError reports a decision document that does not have the
// documented shape. It matches [ErrBadDecision] with errors.Is.
type DecisionError struct {
	Field string // the member, "" for the document itself
	Msg   string
}

// Error returns "policy: bad decision: <field>: <msg>".
func (e *DecisionError) Error() string {
	if e.Field == "" {
		return "policy: bad decision: " + e.Msg
	}
	return "policy: bad decision: " + e.Field + ": " + e.Msg
}

// Is reports whether target is ErrBadDecision.
func (e *DecisionError) Is(target error) bool { return target == ErrBadDecision }

func badDecision(field, want string, got ast.Value) error {
	return &DecisionError{Field: field, Msg: "must be " + want + ", got " + ast.ValueName(got)}
}
