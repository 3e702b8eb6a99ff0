package middleware

import "net/http"

// Middleware wraps a handler with one layer of behaviour.
type Middleware = func(http.Handler) http.Handler

// Chain composes middleware into one. The first argument is the outermost
// layer: Chain(a, b, c)(h) serves a request through a, then b, then c, then
// h. Nil entries are skipped, so optional layers can be left out in place.
func Chain(mws ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(mws) - 1; i >= 0; i-- {
			if mws[i] != nil {
				h = mws[i](h)
			}
		}
		return h
	}
}
