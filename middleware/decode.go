package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/llmgate/llmgate/wire"
)

// DefaultMaxBodyBytes is the body limit of Decode when DecodeConfig leaves
// it unset: 4 MiB.
const DefaultMaxBodyBytes = 4 << 20

// DecodeConfig configures Decode. The zero value means the documented
// defaults.
type DecodeConfig struct {
	// MaxBodyBytes bounds the request body; a larger body is refused with
	// a 413 envelope (code request_too_large) without being read further.
	// Default: DefaultMaxBodyBytes (4 MiB).
	MaxBodyBytes int64

	// SchemaCacheEntries bounds how many JSON Schemas (tool parameters,
	// response formats) Decode remembers as valid or invalid, by their
	// exact bytes, so that repeated definitions are compiled once.
	// Default: 1024. A negative value disables the cache.
	SchemaCacheEntries int

	// SchemaCacheBytes bounds the total size of the remembered schemas;
	// a schema larger than this is compiled every time. Default: 8 MiB.
	SchemaCacheBytes int
}

func (c DecodeConfig) withDefaults() DecodeConfig {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.SchemaCacheEntries == 0 {
		c.SchemaCacheEntries = 1024
	}
	if c.SchemaCacheBytes <= 0 {
		c.SchemaCacheBytes = 8 << 20
	}
	return c
}

// Decode returns the middleware that reads the request body once, decodes
// and validates it by endpoint, and stores the result in the request's
// Call (Endpoint, Raw, Chat / Completion / Moderation / Embedding, Model,
// Stream).
//
// Routes: POST /v1/chat/completions, /v1/completions and /v1/moderations
// are decoded and validated; POST /v1/embeddings must be a JSON object with
// a string model and, when it has one, an input as OpenAI takes it (a
// non-empty string, or a non-empty array of them, of token ids or of
// non-empty arrays of token ids; ids not negative), its other members only
// valid JSON; GET /v1/models and /v1/models/{id} have no body. Any
// other path is answered 404 (code unknown_url), a wrong method 405 with
// Allow, a Content-Type other than application/json 415 (an absent one is
// accepted), as is a compressed body (Content-Encoding), a body over the
// limit 413, and an invalid body 400 with the offending param. Every refusal is an OpenAI error envelope.
//
// The wrapped handler receives the body exactly as the client sent it,
// unknown fields included, as r.Body with r.ContentLength and r.GetBody
// set. So that the gateway checks the request the upstream will run, two
// kinds of body are refused although encoding/json would read them: a
// member whose name differs only in case from one llmgate reads ("Model"
// beside "model": 400 unknown_parameter, param the member), which an
// upstream in Go would read as that member and one in Python would not,
// and a body that is not valid UTF-8 (400 invalid_value), whose bytes
// llmgate would read as U+FFFD and an upstream in Python could not
// decode. The returned middleware is safe for concurrent use.
func Decode(cfg DecodeConfig) func(http.Handler) http.Handler {
	cfg = cfg.withDefaults()
	dc := &decoder{max: cfg.MaxBodyBytes, schemas: newSchemaCache(cfg.SchemaCacheEntries, cfg.SchemaCacheBytes)}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			dc.serve(next, w, r)
		})
	}
}

type decoder struct {
	max     int64
	schemas *schemaCache
}

// route returns the endpoint of path and the method it accepts.
func route(path string) (Endpoint, string) {
	switch path {
	case "/v1/chat/completions":
		return EndpointChatCompletions, http.MethodPost
	case "/v1/completions":
		return EndpointCompletions, http.MethodPost
	case "/v1/moderations":
		return EndpointModerations, http.MethodPost
	case "/v1/embeddings":
		return EndpointEmbeddings, http.MethodPost
	case "/v1/models":
		return EndpointModels, http.MethodGet
	}
	if id, ok := strings.CutPrefix(path, "/v1/models/"); ok && id != "" {
		return EndpointModels, http.MethodGet
	}
	return EndpointUnknown, ""
}

func (dc *decoder) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	ep, method := route(r.URL.Path)
	if ep == EndpointUnknown {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, wire.TypeInvalidRequest, wire.CodeUnknownURL, "",
			"Invalid URL (%s %s)", r.Method, r.URL.Path))
		return
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		wire.WriteError(w, wire.Errorf(http.StatusMethodNotAllowed, wire.TypeInvalidRequest, wire.CodeMethodNotAllowed, "",
			"Method %s is not allowed for %s; use %s.", r.Method, r.URL.Path, method))
		return
	}
	if ep == EndpointModels {
		c, r := ensureCall(r)
		c.Endpoint = ep
		if id, ok := strings.CutPrefix(r.URL.Path, "/v1/models/"); ok {
			c.Model = id
		}
		serveTapped(next, w, r, c)
		return
	}
	if ct := r.Header.Get("Content-Type"); !isJSONType(ct) {
		wire.WriteError(w, wire.Errorf(http.StatusUnsupportedMediaType, wire.TypeInvalidRequest, wire.CodeUnsupportedMediaType, "",
			"Unsupported Content-Type %s; send the body as 'application/json'.", quoteValue(ct)))
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		wire.WriteError(w, wire.Errorf(http.StatusUnsupportedMediaType, wire.TypeInvalidRequest, wire.CodeUnsupportedMediaType, "",
			"Unsupported Content-Encoding %s; send the body uncompressed.", quoteValue(ce)))
		return
	}
	raw, e := dc.readBody(r)
	if e != nil {
		wire.WriteError(w, e)
		return
	}
	c, r := ensureCall(r)
	if e := dc.decode(c, ep, raw); e != nil {
		wire.WriteError(w, e)
		return
	}
	c.Endpoint = ep
	c.Raw = raw
	r.Body = newBodyReader(raw)
	r.ContentLength = int64(len(raw))
	r.TransferEncoding = nil
	r.GetBody = func() (io.ReadCloser, error) { return newBodyReader(raw), nil }
	serveTapped(next, w, r, c)
}

// bodyReader gives the wrapped handler the body Decode read.
type bodyReader struct{ bytes.Reader }

func newBodyReader(b []byte) *bodyReader {
	br := &bodyReader{}
	br.Reset(b)
	return br
}

func (*bodyReader) Close() error { return nil }

// isJSONType reports whether a Content-Type is absent or application/json,
// with any parameters.
func isJSONType(ct string) bool {
	if ct == "" || ct == "application/json" {
		return true
	}
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

// readBody reads the whole body, refusing it once it passes dc.max. A
// declared Content-Length sizes the buffer (plus one byte, so that the end
// of the body is seen without growing it).
func (dc *decoder) readBody(r *http.Request) ([]byte, *wire.Error) {
	if r.ContentLength > dc.max {
		return nil, dc.tooLarge()
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	size := 512
	if r.ContentLength >= 0 {
		size = int(r.ContentLength) + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > dc.max {
			return nil, dc.tooLarge()
		}
		if err == io.EOF {
			return buf[:len(buf):len(buf)], nil
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return nil, dc.tooLarge()
			}
			return nil, wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidJSON, "",
				"We could not read the body of your request: %v", err)
		}
	}
}

func (dc *decoder) tooLarge() *wire.Error {
	return wire.Errorf(http.StatusRequestEntityTooLarge, wire.TypeInvalidRequest, wire.CodeRequestTooLarge, "",
		"The request body is larger than the limit of %s bytes.", strconv.FormatInt(dc.max, 10))
}

// decode decodes and validates raw for ep into c.
func (dc *decoder) decode(c *Call, ep Endpoint, raw []byte) *wire.Error {
	d := newScanner(raw)
	switch d.peek() {
	case 0:
		if d.i < len(raw) { // a NUL byte, not the end
			return invalidJSON(validJSON(raw))
		}
		return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidJSON, "",
			"We could not parse the JSON body of your request: the body is empty. Send a JSON object.")
	case '{':
	default:
		if err := validJSON(raw); err != nil {
			return invalidJSON(err)
		}
		return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidType, "",
			"The request body must be a JSON object, but got %s.", kindOf(d.peek(), ""))
	}
	var err error
	var seen presence
	switch ep {
	case EndpointChatCompletions:
		var r *wire.ChatCompletionRequest
		if r, seen, err = decodeChat(&d); err == nil {
			if err = d.end(); err == nil {
				if e := validateChat(r, seen, dc.schemas); e != nil {
					return e
				}
				c.Chat, c.Model, c.Stream = r, r.Model, r.Stream
			}
		}
	case EndpointCompletions:
		var r *wire.CompletionRequest
		if r, seen, err = decodeCompletion(&d); err == nil {
			if err = d.end(); err == nil {
				if e := validateCompletion(r, seen); e != nil {
					return e
				}
				c.Completion, c.Model, c.Stream = r, r.Model, r.Stream
			}
		}
	case EndpointModerations:
		var r *wire.ModerationRequest
		if r, seen, err = decodeModeration(&d); err == nil {
			if err = d.end(); err == nil {
				if e := validateModeration(r, seen); e != nil {
					return e
				}
				c.Moderation, c.Model = r, r.Model
			}
		}
	case EndpointEmbeddings:
		var r *wire.EmbeddingRequest
		if r, seen, err = decodeEmbedding(&d); err == nil {
			if err = d.end(); err == nil {
				if e := checkModel(r.Model, seen.model); e != nil {
					return e
				}
				c.Embedding, c.Model = r, r.Model
			}
		}
	}
	if err == nil {
		return checkUTF8(raw)
	}
	var fe *fieldError
	if errors.As(err, &fe) {
		// The whole body must be JSON: a syntax error after the bad field wins.
		if serr := validJSON(raw); serr != nil {
			return invalidJSON(serr)
		}
		return fe.wire()
	}
	return invalidJSON(err)
}

// checkUTF8 refuses a body that is valid JSON but not valid UTF-8. The
// decoder reads such bytes as U+FFFD, as encoding/json does, but they are
// forwarded as they are, and an upstream in Python cannot even decode them:
// the gateway and the upstream would not see the same request.
func checkUTF8(raw []byte) *wire.Error {
	if utf8.Valid(raw) {
		return nil
	}
	off := 0
	for off < len(raw) {
		r, n := utf8.DecodeRune(raw[off:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		off += n
	}
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidValue, "",
		"The request body is not valid UTF-8 (at byte offset %d). Send JSON text encoded as UTF-8.", off)
}

func invalidJSON(err error) *wire.Error {
	msg := err.Error()
	var se *syntaxError
	if errors.As(err, &se) {
		msg = fmt.Sprintf("%s (at byte offset %d)", se.msg, se.off)
	}
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeInvalidJSON, "",
		"We could not parse the JSON body of your request: %s. Send a valid JSON object.", msg)
}
