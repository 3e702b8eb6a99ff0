package policy

import (
	"errors"
	"net/http"
	"strings"

	"github.com/llmgate/llmgate/wire"
)

// Errors of loading and evaluating a policy. Evaluation errors wrap one of
// ErrUndefined, ErrConflict, ErrBadDecision or ErrEval (and the OPA error
// behind it, if any); a load error wraps ErrLoad or ErrCompile. Callers
// test them with errors.Is. Every one of them must deny the request:
// [Deny] turns them into a 500 envelope that says nothing about the cause.
var (
	// ErrLoad: the policy source could not be read (missing directory,
	// unreadable file, no .rego file, bad data file).
	ErrLoad = errors.New("policy: cannot load policy")
	// ErrCompile: a module does not parse or compile, or no rule defines
	// the decision.
	ErrCompile = errors.New("policy: policy does not compile")
	// ErrUndefined: the decision is undefined for this input.
	ErrUndefined = errors.New("policy: decision is undefined")
	// ErrConflict: the decision is ambiguous: rules produced conflicting
	// values (OPA's eval_conflict_error) or the query more than one result.
	ErrConflict = errors.New("policy: decision is ambiguous")
	// ErrBadDecision: the decision does not have the documented shape; the
	// error is a *DecisionError naming the member.
	ErrBadDecision = errors.New("policy: bad decision")
	// ErrEval: evaluation failed (a builtin error, a cancelled context).
	ErrEval = errors.New("policy: evaluation failed")
	// ErrClosed: the engine was closed.
	ErrClosed = errors.New("policy: engine closed")
)

// Deny returns the error envelope for the outcome of [Engine.Decide]: nil
// when err is nil and d allows the request; a 500 server_error that names
// only requestID when err is not nil (an undefined, ambiguous or failed
// decision denies, and its cause stays in the logs); else the envelope of
// the denial:
//
//	404                  invalid_request_error / model_not_found (param "model")
//	429                  insufficient_quota / insufficient_quota
//	400                  invalid_request_error / code (content_policy_violation when unset)
//	403 and other 4xx    permission_error / code
//
// Decision.Type and Decision.Code override the type and code; the reasons,
// joined with "; ", are the message. For a 429 the middleware also sends
// `x-should-retry: false`.
func Deny(d Decision, err error, requestID string) *wire.Error {
	if err != nil {
		return wire.ServerError(requestID)
	}
	if d.Allow {
		return nil
	}
	status := d.HTTPStatus()
	e := &wire.Error{Status: status, Type: d.Type, Code: d.Code, Message: strings.Join(d.Reasons, "; ")}
	def := func(typ, code, msg string) {
		if e.Type == "" {
			e.Type = typ
		}
		if e.Code == "" {
			e.Code = code
		}
		if e.Message == "" {
			e.Message = msg
		}
	}
	switch status {
	case http.StatusNotFound:
		e.Param = "model"
		def(wire.TypeInvalidRequest, wire.CodeModelNotFound, "The model does not exist or you do not have access to it.")
	case http.StatusTooManyRequests:
		def(wire.TypeInsufficientQuota, wire.CodeInsufficientQuota, "You exceeded your current quota.")
	case http.StatusBadRequest:
		def(wire.TypeInvalidRequest, wire.CodeContentPolicyViolation, "The request was rejected by the content policy.")
	default:
		def(wire.TypePermission, "", "The request is not allowed by policy.")
	}
	return e
}
