package middleware

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/llmgate/llmgate/wire"
)

// Validation of decoded requests: the rules that need values, not JSON
// types (the decoder already checked every type and required member it
// could only see in the JSON). Each rule fails with a 400
// invalid_request_error naming the exact parameter.

// Limits OpenAI applies.
const (
	maxStop        = 4
	maxN           = 128
	maxTools       = 128
	maxTopLogprobs = 20
	maxLogitBias   = 100
	// maxOutputTokens bounds max_tokens and max_completion_tokens where
	// the catalog knows no output limit: no model writes 2^31 tokens,
	// and the products that reserve tokens (by n, best_of and prompts)
	// stay far from overflowing.
	maxOutputTokens = math.MaxInt32
)

func badValue(param, format string, args ...any) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidValue, param, format, args...)
}

func missingParam(param string) *wire.Error {
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeMissingRequired, param,
		"Missing required parameter: '%s'.", param)
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// floatRange checks lo <= *v <= hi when v is set.
func floatRange(param string, v *float64, lo, hi float64) *wire.Error {
	switch {
	case v == nil:
		return nil
	case *v < lo:
		return badValue(param, "Invalid '%s': decimal below minimum value. Expected a value >= %s, but got %s instead.",
			param, fmtFloat(lo), fmtFloat(*v))
	case *v > hi:
		return badValue(param, "Invalid '%s': decimal above maximum value. Expected a value <= %s, but got %s instead.",
			param, fmtFloat(hi), fmtFloat(*v))
	}
	return nil
}

// intRange checks lo <= *v <= hi when v is set; hi < lo means no maximum.
func intRange(param string, v *int, lo, hi int) *wire.Error {
	switch {
	case v == nil:
		return nil
	case *v < lo:
		return badValue(param, "Invalid '%s': integer below minimum value. Expected a value >= %d, but got %d instead.",
			param, lo, *v)
	case hi >= lo && *v > hi:
		return badValue(param, "Invalid '%s': integer above maximum value. Expected a value <= %d, but got %d instead.",
			param, hi, *v)
	}
	return nil
}

// checkModel checks that model was sent as a non-empty string.
func checkModel(model string, seen bool) *wire.Error {
	switch {
	case !seen:
		return missingParam("model")
	case model == "":
		return badValue("model", "Invalid 'model': empty string. Expected a non-empty model name.")
	}
	return nil
}

// sampling holds the parameters chat and legacy completions share.
type sampling struct {
	temperature, topP, frequency, presence *float64
	n                                      *int
	stop                                   wire.Stop
	logitBias                              map[string]float64
	stream                                 bool
	streamOptions                          *wire.StreamOptions
}

func (s *sampling) check() *wire.Error {
	if e := floatRange("temperature", s.temperature, 0, 2); e != nil {
		return e
	}
	if e := floatRange("top_p", s.topP, 0, 1); e != nil {
		return e
	}
	if e := floatRange("frequency_penalty", s.frequency, -2, 2); e != nil {
		return e
	}
	if e := floatRange("presence_penalty", s.presence, -2, 2); e != nil {
		return e
	}
	if e := intRange("n", s.n, 1, maxN); e != nil {
		return e
	}
	if len(s.stop) > maxStop {
		return badValue("stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.",
			maxStop, len(s.stop))
	}
	if e := checkLogitBias(s.logitBias); e != nil {
		return e
	}
	if s.streamOptions != nil && !s.stream {
		return badValue("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is true.")
	}
	return nil
}

// checkLogitBias checks that keys are token ids and values are in
// −100…100. Of several bad entries it reports the smallest key, so the
// answer does not depend on map order.
func checkLogitBias(m map[string]float64) *wire.Error {
	var badKey string
	var bad *wire.Error
	for k, v := range m {
		if bad != nil && k >= badKey {
			continue
		}
		param := "logit_bias." + k
		switch {
		case !isTokenID(k):
			badKey, bad = k, badValue(param, "Invalid '%s': key %s is not a token id. Expected a non-negative integer in decimal.", param, quoteValue(k))
		case v < -maxLogitBias || v > maxLogitBias:
			badKey, bad = k, badValue(param, "Invalid '%s': expected a value between -100 and 100, but got %s instead.", param, fmtFloat(v))
		}
	}
	return bad
}

// isTokenID reports whether s is a non-negative decimal integer that fits
// in 32 bits, without sign or leading zeros.
func isTokenID(s string) bool {
	if len(s) == 0 || len(s) > 10 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	return v <= 1<<31-1
}

// validName reports whether s matches ^[a-zA-Z0-9_-]{1,64}$.
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func badName(param, name string) *wire.Error {
	return badValue(param, "Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$', but got %s instead.",
		param, quoteValue(name))
}

// validateCompletion checks a legacy completion request.
func validateCompletion(r *wire.CompletionRequest, seen presence) *wire.Error {
	if e := checkModel(r.Model, seen.model); e != nil {
		return e
	}
	if !seen.prompt {
		return missingParam("prompt")
	}
	for i, ids := range r.Prompt.Tokens {
		for j, id := range ids {
			if id < 0 {
				param := fmt.Sprintf("prompt[%d]", j)
				if r.Prompt.Nested {
					param = fmt.Sprintf("prompt[%d][%d]", i, j)
				}
				return badValue(param, "Invalid '%s': token ids are non-negative, but got %d.", param, id)
			}
		}
	}
	s := sampling{r.Temperature, r.TopP, r.FrequencyPenalty, r.PresencePenalty, r.N, r.Stop, r.LogitBias, r.Stream, r.StreamOptions}
	if e := s.check(); e != nil {
		return e
	}
	// 0 asks for no completion: echo with logprobs scores the prompt.
	if e := intRange("max_tokens", r.MaxTokens, 0, maxOutputTokens); e != nil {
		return e
	}
	if e := intRange("logprobs", r.Logprobs, 0, 5); e != nil {
		return e
	}
	if e := intRange("best_of", r.BestOf, 1, 20); e != nil {
		return e
	}
	if r.BestOf != nil {
		if *r.BestOf < r.Choices() {
			return badValue("best_of", "Invalid 'best_of': it must be greater than or equal to 'n' (%d), but got %d.", r.Choices(), *r.BestOf)
		}
		if *r.BestOf > 1 && r.Stream {
			return badValue("best_of", "Invalid 'best_of': values above 1 cannot be streamed; remove 'stream' or set 'best_of' to 1.")
		}
	}
	if r.Echo && r.Suffix != "" {
		return badValue("suffix", "Invalid 'suffix': 'echo' and 'suffix' cannot be used together.")
	}
	return nil
}

// validateModeration checks a moderation request.
func validateModeration(r *wire.ModerationRequest, seen presence) *wire.Error {
	if seen.model && r.Model == "" {
		return badValue("model", "Invalid 'model': empty string. Expected a non-empty model name.")
	}
	if !seen.input {
		return missingParam("input")
	}
	if r.Input.Parts == nil && len(r.Input.Texts) == 0 {
		return badValue("input", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	for i, p := range r.Input.Parts {
		if p.ImageURL != nil {
			if e := checkImageURL(fmt.Sprintf("input[%d].image_url", i), p.ImageURL); e != nil {
				return e
			}
		}
	}
	return nil
}

// checkImageURL checks the detail level of an image part.
func checkImageURL(param string, u *wire.ImageURL) *wire.Error {
	switch u.Detail {
	case "", "auto", "low", "high":
		return nil
	}
	param += ".detail"
	return badValue(param, "Invalid value for '%s': %s. Supported values are: 'auto', 'low' and 'high'.", param, quoteValue(u.Detail))
}
