package llmtest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"time"

	"github.com/llmgate/llmgate/wire"
)

// DefaultModel is the model /v1/models lists when Config.Models is empty.
const DefaultModel = "llmtest-1"

// Config configures a handler. The zero value serves DefaultModel (and
// accepts any model name), needs no API key and injects no faults.
type Config struct {
	// Models are the ids /v1/models lists. Default: [DefaultModel].
	Models []string
	// StrictModels makes a request for a model not in Models fail with 404
	// model_not_found. Default: false, any model name is served and echoed
	// back, so a client configured for "gpt-4o-mini" works unchanged.
	StrictModels bool
	// APIKey, when set, must be sent as "Authorization: Bearer <key>";
	// anything else gets 401 invalid_api_key. Default: "" (no auth).
	APIKey string
	// MaxTokens is the most tokens a choice generates when the request sets
	// neither max_tokens nor max_completion_tokens. Default: 256.
	MaxTokens int
	// MaxBodyBytes bounds a request body; a larger one gets 413.
	// Default: 8 MiB.
	MaxBodyBytes int64
	// Fault is injected into every request that carries no FaultHeader;
	// a request's header replaces it whole. Default: no fault.
	Fault Fault
	// Now returns the time reported in "created". Default: time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done, returning ctx.Err() then; every
	// injected delay goes through it, so tests can record delays instead
	// of sleeping. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// handler serves the OpenAI-compatible endpoints.
type handler struct {
	cfg     Config
	m       *model
	err     error // training the model failed (the embedded corpus is bad)
	counter faultCounter
	mux     *http.ServeMux
}

// Handler returns an http.Handler serving POST /v1/chat/completions, POST
// /v1/completions, GET /v1/models and GET /v1/models/{id}, backed by the
// built-in n-gram model (trained on first use, once per process). Every
// failure is an OpenAI error envelope. The handler is safe for concurrent
// use and starts no goroutines.
//
// The injected stream cut (Fault.CutAfter) panics with
// http.ErrAbortHandler, which net/http turns into a closed connection; a
// test that calls the handler directly (httptest.NewRecorder) must recover
// it or avoid that fault.
func Handler(cfg Config) http.Handler {
	if len(cfg.Models) == 0 {
		cfg.Models = []string{DefaultModel}
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = 256
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 8 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	h.m, h.err = getModel()
	h.mux.HandleFunc("/v1/chat/completions", h.post(h.chat))
	h.mux.HandleFunc("/v1/completions", h.post(h.completions))
	h.mux.HandleFunc("/v1/models", h.get(h.listModels))
	h.mux.HandleFunc("/v1/models/{id...}", h.get(h.getModel))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, wire.TypeInvalidRequest, wire.CodeUnknownURL, "",
			"Unknown request URL: %s %s.", r.Method, r.URL.Path))
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.APIKey != "" {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(key), []byte(h.cfg.APIKey)) != 1 {
			wire.WriteError(w, wire.InvalidAPIKey())
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, wire.TypeInvalidRequest, wire.CodeMethodNotAllowed, "",
		"Method %s is not allowed for %s; use %s.", r.Method, r.URL.Path, allow))
}

func (h *handler) get(f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, http.MethodGet)
			return
		}
		f(w, r)
	}
}

// request is what the generating endpoints get from post: the fault to
// inject into the response.
type request struct {
	fault Fault
}

// post wraps a generating endpoint: method check, fault header, latency,
// injected status, then the body.
func (h *handler) post(f func(http.ResponseWriter, *http.Request, *request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, r, http.MethodPost)
			return
		}
		fault := h.cfg.Fault
		if spec, ok := r.Header[http.CanonicalHeaderKey(FaultHeader)]; ok {
			var err error
			if fault, err = ParseFault(strings.Join(spec, ",")); err != nil {
				wire.WriteError(w, wire.InvalidParam(FaultHeader, "%v", err))
				return
			}
		}
		if !h.counter.take(fault) {
			fault = Fault{}
		}
		if h.cfg.Sleep(r.Context(), fault.Latency) != nil {
			return // the client left
		}
		if fault.Status != 0 {
			writeFault(w, fault)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
		if err != nil {
			if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
				wire.WriteError(w, wire.Errorf(http.StatusRequestEntityTooLarge, wire.TypeInvalidRequest, wire.CodeRequestTooLarge, "",
					"The request body is larger than %d bytes.", mbe.Limit))
				return
			}
			wire.WriteError(w, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidJSON, "",
				"Could not read the request body: %v", err))
			return
		}
		if h.err != nil {
			wire.WriteError(w, wire.ServerError(""))
			return
		}
		f(w, r, &request{fault: fault}, body)
	}
}

// checkModel validates the model name and returns the error to send, or
// nil.
func (h *handler) checkModel(name string) *wire.Error {
	if name == "" {
		return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeMissingRequired, "model",
			"You must provide a model parameter.")
	}
	if h.cfg.StrictModels && !slices.Contains(h.cfg.Models, name) {
		return wire.ModelNotFound(name)
	}
	return nil
}

// ModelObject is one entry of GET /v1/models.
type ModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"` // "model"
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// modelsCreated is the fixed creation time llmtest reports for its models.
const modelsCreated = 1735689600 // 2025-01-01T00:00:00Z

func modelObject(id string) ModelObject {
	return ModelObject{ID: id, Object: "model", Created: modelsCreated, OwnedBy: "llmtest"}
}

func (h *handler) listModels(w http.ResponseWriter, _ *http.Request) {
	list := struct {
		Object string        `json:"object"`
		Data   []ModelObject `json:"data"`
	}{Object: "list"}
	for _, id := range h.cfg.Models {
		list.Data = append(list.Data, modelObject(id))
	}
	writeJSON(w, list)
}

func (h *handler) getModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || (h.cfg.StrictModels && !slices.Contains(h.cfg.Models, id)) {
		wire.WriteError(w, wire.ModelNotFound(id))
		return
	}
	writeJSON(w, modelObject(id))
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		wire.WriteError(w, wire.ServerError(""))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// Server is an OpenAI-compatible server on a loopback port, like
// httptest.Server: point a client's base URL at URL + "/v1". Close it when
// done. Its methods are safe for concurrent use.
type Server struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:41234", with no
	// trailing slash.
	URL string
	ts  *httptest.Server
}

// NewServer starts a server running Handler(cfg).
func NewServer(cfg Config) *Server {
	ts := httptest.NewServer(Handler(cfg))
	return &Server{URL: ts.URL, ts: ts}
}

// Close shuts the server down and blocks until every request finished.
func (s *Server) Close() { s.ts.Close() }

// Client returns an *http.Client for the server, whose transport Close
// also shuts down.
func (s *Server) Client() *http.Client { return s.ts.Client() }
