package middleware

import (
	"context"
	"crypto/rand"
	"net/http"
)

// HeaderRequestID is the request id header, set on every response.
const HeaderRequestID = "X-Request-Id"

type requestIDKey struct{}

// RequestIDFrom returns the request id RequestID stored in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// RequestID gives every request an id and every response an x-request-id
// header. A client-sent id is kept when it is 1–128 characters of
// [A-Za-z0-9._:-]; otherwise a new random one ("req_" and 24 hex digits)
// replaces it. The id is in the request context for later layers.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		// One value slice (capacity 1) for the request and the response
		// header: Set and Add replace or copy it, nothing writes it.
		v := []string{id}
		if !validRequestID(id) {
			id = newRequestID()
			v[0] = id
			r.Header[HeaderRequestID] = v
		}
		w.Header()[HeaderRequestID] = v
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		if c := CallFrom(ctx); c != nil {
			c.RequestID = id
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	const hex = "0123456789abcdef"
	var b [12]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, 4+2*len(b))
	copy(out, "req_")
	for i, v := range b {
		out[4+2*i] = hex[v>>4]
		out[5+2*i] = hex[v&0xf]
	}
	return string(out)
}
