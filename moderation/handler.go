package moderation

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/llmgate/llmgate/wire"
)

// maxHandlerBody bounds a /v1/moderations request body.
const maxHandlerBody = 4 << 20

// Handler serves a local POST /v1/moderations backed by m: string or
// array-of-strings input gets one result per string, an array of parts
// gets one result. Bad input is answered with an OpenAI error envelope
// (param "input"); a moderator failure with 503 (ErrUnavailable) or 500.
// The response's model is the request's, or BuiltinModel when absent.
// The handler is safe for concurrent use if m is.
func Handler(m Moderator) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, wire.TypeInvalidRequest,
				wire.CodeMethodNotAllowed, "", "Only POST is allowed on /v1/moderations."))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHandlerBody+1))
		if err != nil {
			wire.WriteError(w, wire.InvalidParam("", "Could not read the request body."))
			return
		}
		if len(body) > maxHandlerBody {
			wire.WriteError(w, wire.Errorf(http.StatusRequestEntityTooLarge, wire.TypeInvalidRequest,
				wire.CodeRequestTooLarge, "", "The request body is larger than %d bytes.", maxHandlerBody))
			return
		}
		var req struct {
			Input *wire.ModerationInput `json:"input"`
			Model string                `json:"model"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) && te.Field == "model" {
				wire.WriteError(w, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidType,
					"model", "'model' must be a string."))
				return
			}
			if errors.As(err, &te) {
				wire.WriteError(w, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidType,
					"input", "'input' must be a string, an array of strings, or an array of content parts."))
				return
			}
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidJSON,
				"", "The request body is not valid JSON."))
			return
		}
		if req.Input == nil {
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeMissingRequired,
				"input", "Missing required parameter: 'input'."))
			return
		}
		if req.Input.Len() == 0 || (req.Input.Parts != nil && len(req.Input.Parts) == 0) {
			wire.WriteError(w, wire.InvalidParam("input", "'input' must not be empty."))
			return
		}
		for _, p := range req.Input.Parts {
			if (p.Type != "text" || p.ImageURL != nil) && (p.Type != "image_url" || p.ImageURL == nil) {
				wire.WriteError(w, wire.InvalidParam("input", "Each part of 'input' must be {\"type\":\"text\",\"text\":…} or {\"type\":\"image_url\",\"image_url\":{\"url\":…}}."))
				return
			}
		}
		results, err := m.Moderate(r.Context(), InputsFromWire(*req.Input))
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, ErrUnavailable) {
				status = http.StatusServiceUnavailable
			}
			wire.WriteError(w, wire.Errorf(status, wire.TypeServer, "", "", "The moderation service could not classify the input."))
			return
		}
		model := req.Model
		if model == "" {
			model = BuiltinModel
		}
		resp := wire.ModerationResponse{ID: newID(), Model: model, Results: results}
		b, err := json.Marshal(resp)
		if err != nil {
			wire.WriteError(w, wire.ServerError(""))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, '\n'))
	})
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "modr-" + hex.EncodeToString(b[:])
}
