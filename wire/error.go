package wire

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Error types and codes of the contract (DESIGN.md). They are the values
// OpenAI itself sends, so OpenAI clients understand them.
const (
	TypeInvalidRequest    = "invalid_request_error"
	TypePermission        = "permission_error"
	TypeServer            = "server_error"
	TypeInsufficientQuota = "insufficient_quota"
	TypeRequests          = "requests" // rate limit on requests
	TypeTokens            = "tokens"   // rate limit on tokens

	CodeInvalidValue           = "invalid_value"
	CodeUnknownParameter       = "unknown_parameter"
	CodeInvalidType            = "invalid_type"
	CodeMissingRequired        = "missing_required_parameter"
	CodeInvalidJSON            = "invalid_json"
	CodeInvalidAPIKey          = "invalid_api_key"
	CodeModelNotFound          = "model_not_found"
	CodeRateLimitExceeded      = "rate_limit_exceeded"
	CodeInsufficientQuota      = "insufficient_quota"
	CodeContentPolicyViolation = "content_policy_violation"
	CodeRequestTooLarge        = "request_too_large"
	CodeUnsupportedMediaType   = "unsupported_media_type"
	CodeMethodNotAllowed       = "method_not_allowed"
	CodeUnknownURL             = "unknown_url"
	CodeUpstreamError          = "upstream_error"
)

// Error is an OpenAI error: the value of the "error" member of the envelope
// {"error":{"message","type","param","code"}}. Status is the HTTP status it
// is sent with and is not part of the body. An empty Param or Code is sent
// as null, as OpenAI does.
//
// Error implements error, so layers can return it and callers can find it
// with errors.As.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"message"`
	Type    string `json:"type"`
	Param   string `json:"param"`
	Code    string `json:"code"`
}

// Error returns "wire: <status> <type>/<code>: <message>".
func (e *Error) Error() string {
	return fmt.Sprintf("wire: %d %s/%s: %s", e.Status, e.Type, e.Code, e.Message)
}

// HTTPStatus returns the status the error is sent with (500 when unset).
func (e *Error) HTTPStatus() int {
	if e.Status == 0 {
		return http.StatusInternalServerError
	}
	return e.Status
}

type errorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// MarshalJSON encodes the error with null param and code when they are empty.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(errorBody{e.Message, e.Type, nullable(e.Param), nullable(e.Code)})
}

// UnmarshalJSON accepts null or a string for param and code. OpenAI-compatible
// servers sometimes send a numeric code; it is kept as its decimal text.
func (e *Error) UnmarshalJSON(b []byte) error {
	var raw struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   *string         `json:"param"`
		Code    json.RawMessage `json:"code"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	status := e.Status
	*e = Error{Status: status, Message: raw.Message, Type: raw.Type}
	if raw.Param != nil {
		e.Param = *raw.Param
	}
	if len(raw.Code) > 0 && raw.Code[0] == '"' {
		_ = json.Unmarshal(raw.Code, &e.Code)
	} else if len(raw.Code) > 0 && string(raw.Code) != "null" {
		e.Code = string(raw.Code)
	}
	return nil
}

// Envelope is the body of every error response: {"error": {...}}.
type Envelope struct {
	Error *Error `json:"error"`
}

// DecodeError parses an error envelope. It reports false when body is not one.
func DecodeError(status int, body []byte) (*Error, bool) {
	var env Envelope
	if json.Unmarshal(body, &env) != nil || env.Error == nil || env.Error.Message == "" {
		return nil, false
	}
	env.Error.Status = status
	return env.Error, true
}

// MarshalEnvelope returns the envelope of e as JSON, ending with a newline.
func MarshalEnvelope(e *Error) []byte {
	b, err := json.Marshal(Envelope{Error: e})
	if err != nil { // unreachable: every field is a string
		b = []byte(`{"error":{"message":"internal error","type":"server_error","param":null,"code":null}}`)
	}
	return append(b, '\n')
}

// WriteError sends e as an envelope with its status. Headers already set on
// w (retry-after, x-ratelimit-*) are kept; Content-Type and Content-Length
// are set here.
func WriteError(w http.ResponseWriter, e *Error) {
	body := MarshalEnvelope(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Content-Encoding")
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(body)
}

// Errorf returns an Error with the message formatted from format and args.
func Errorf(status int, typ, code, param, format string, args ...any) *Error {
	return &Error{Status: status, Type: typ, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam returns a 400 invalid_request_error with code invalid_value
// naming param.
func InvalidParam(param, format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, TypeInvalidRequest, CodeInvalidValue, param, format, args...)
}

// InvalidAPIKey returns the one 401 sent for missing, malformed, unknown and
// revoked keys alike.
func InvalidAPIKey() *Error {
	return &Error{
		Status:  http.StatusUnauthorized,
		Type:    TypeInvalidRequest,
		Code:    CodeInvalidAPIKey,
		Message: "Incorrect or missing API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
	}
}

// ModelNotFound returns the 404 for a model that does not exist or that the
// caller may not use.
func ModelNotFound(model string) *Error {
	return Errorf(http.StatusNotFound, TypeInvalidRequest, CodeModelNotFound, "model",
		"The model '%s' does not exist or you do not have access to it.", model)
}

// ServerError returns a 500 server_error with a message that reveals nothing
// about the cause.
func ServerError(requestID string) *Error {
	msg := "The server had an error while processing your request."
	if requestID != "" {
		msg += " Include the request ID " + requestID + " in any report."
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Message: msg}
}
