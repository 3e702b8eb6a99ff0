package middleware

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/llmgate/llmgate/wire"
)

// ErrUnknownKey is returned by a KeyStore for a key it does not know or
// that was revoked. Auth answers it with 401 invalid_api_key.
var ErrUnknownKey = errors.New("middleware: unknown or revoked API key")

// KeyStore finds the principal an API key belongs to.
//
// Lookup returns ErrUnknownKey (possibly wrapped) for unknown and revoked
// keys; any other error means the store could not decide, and Auth answers
// 503. Implementations must be safe for concurrent use and should compare
// secrets in constant time.
type KeyStore interface {
	Lookup(ctx context.Context, key string) (*Principal, error)
}

// KeyEntry is one key of a StaticKeyStore. The key itself is never stored,
// only its SHA-256 digest.
type KeyEntry struct {
	// ID names the key in logs, metrics and policies.
	ID string
	// SHA256 is the hex SHA-256 digest of the key (64 hex digits).
	SHA256  string
	User    string
	Org     string
	Tier    string
	Labels  map[string]string
	Revoked bool
}

// StaticKeyStore is a KeyStore over a fixed set of key digests that can be
// replaced at run time (for hot reload). It is safe for concurrent use.
//
// A presented key is hashed with SHA-256; the first 8 bytes of the digest
// pick a bucket, and the full digest is compared with each stored digest of
// the bucket in constant time. Timing can reveal at most which bucket a
// guess fell in, and an attacker cannot steer the digest of a guess.
type StaticKeyStore struct {
	keys atomic.Pointer[map[uint64][]storedKey]
}

type storedKey struct {
	digest    [sha256.Size]byte
	principal *Principal // nil: revoked
}

var _ KeyStore = (*StaticKeyStore)(nil)

// NewStaticKeyStore returns a store holding entries. It fails on a
// malformed digest, an empty or duplicate id, or a duplicate digest.
func NewStaticKeyStore(entries []KeyEntry) (*StaticKeyStore, error) {
	s := &StaticKeyStore{}
	if err := s.Replace(entries); err != nil {
		return nil, err
	}
	return s, nil
}

// Replace swaps the store's keys for entries atomically: requests see
// either the old set or the new one. On error the old set stays.
func (s *StaticKeyStore) Replace(entries []KeyEntry) error {
	m := make(map[uint64][]storedKey, len(entries))
	ids := make(map[string]bool, len(entries))
	digests := make(map[[sha256.Size]byte]bool, len(entries))
	for i, e := range entries {
		if e.ID == "" {
			return fmt.Errorf("middleware: key %d: empty id", i)
		}
		if ids[e.ID] {
			return fmt.Errorf("middleware: key %q: duplicate id", e.ID)
		}
		ids[e.ID] = true
		var d [sha256.Size]byte
		if n, err := hex.Decode(d[:], []byte(e.SHA256)); err != nil || n != sha256.Size || len(e.SHA256) != 2*sha256.Size {
			return fmt.Errorf("middleware: key %q: sha256 must be 64 hex digits", e.ID)
		}
		if digests[d] {
			return fmt.Errorf("middleware: key %q: duplicate digest", e.ID)
		}
		digests[d] = true
		sk := storedKey{digest: d}
		if !e.Revoked { // a revoked key stays known but gets the same answer as an unknown one
			sk.principal = &Principal{KeyID: e.ID, User: e.User, Org: e.Org, Tier: e.Tier, Labels: e.Labels}
		}
		b := bucketOf(d)
		m[b] = append(m[b], sk)
	}
	s.keys.Store(&m)
	return nil
}

// Lookup returns the principal of key, or ErrUnknownKey.
func (s *StaticKeyStore) Lookup(_ context.Context, key string) (*Principal, error) {
	m := s.keys.Load()
	if m == nil {
		return nil, ErrUnknownKey
	}
	d := sha256.Sum256([]byte(key))
	for _, sk := range (*m)[bucketOf(d)] {
		if subtle.ConstantTimeCompare(sk.digest[:], d[:]) == 1 && sk.principal != nil {
			return sk.principal, nil
		}
	}
	return nil, ErrUnknownKey
}

func bucketOf(d [sha256.Size]byte) uint64 { return binary.LittleEndian.Uint64(d[:8]) }

// HashKey returns the hex SHA-256 digest of key, the form KeyEntry.SHA256
// and configuration files hold.
func HashKey(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

// AuthConfig configures Auth.
type AuthConfig struct {
	// Store finds the principal of a key. Required.
	Store KeyStore
	// KeepCredentials keeps the client's Authorization and api-key headers
	// on the request passed to the next handler. Default: false — they are
	// removed once checked, so the client's llmgate key never reaches an
	// upstream, a handler or its logs.
	KeepCredentials bool
	// Logger receives a warning when the store fails. Default: slog.Default().
	Logger *slog.Logger
}

// Auth authenticates a request before its body is read: it takes the key
// from "Authorization: Bearer <key>" or "api-key: <key>", asks the store
// for its principal and puts it on the Call. Missing, malformed, unknown and
// revoked keys all get the same 401 invalid_api_key envelope; a store that
// fails gets 503. Keys are never logged, only key ids.
func Auth(cfg AuthConfig) Middleware {
	if cfg.Store == nil {
		panic("middleware: Auth needs a KeyStore")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, ok := credential(r.Header)
			if !ok {
				wire.WriteError(w, wire.InvalidAPIKey())
				return
			}
			p, err := cfg.Store.Lookup(r.Context(), key)
			switch {
			case errors.Is(err, ErrUnknownKey) || (err == nil && p == nil):
				wire.WriteError(w, wire.InvalidAPIKey())
				return
			case err != nil:
				l := cfg.Logger
				if l == nil {
					l = slog.Default()
				}
				l.WarnContext(r.Context(), "middleware: key store failed",
					slog.String("request_id", RequestIDFrom(r.Context())), slog.Any("error", err))
				wire.WriteError(w, wire.Errorf(http.StatusServiceUnavailable, wire.TypeServer, "",
					"", "The server could not check your API key. Retry shortly."))
				return
			}
			if !cfg.KeepCredentials {
				r.Header.Del("Authorization")
				r.Header.Del("Api-Key")
			}
			c, r := ensureCall(r)
			c.Principal = p
			next.ServeHTTP(w, r)
		})
	}
}

// credential extracts the key from the request headers.
func credential(h http.Header) (string, bool) {
	if v := h.Get("Authorization"); v != "" {
		scheme, key, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		key = strings.TrimSpace(key)
		return key, validKey(key)
	}
	if v := h.Get("Api-Key"); v != "" {
		key := strings.TrimSpace(v)
		return key, validKey(key)
	}
	return "", false
}

// validKey rejects empty keys and keys with spaces or control characters.
func validKey(k string) bool {
	if k == "" || len(k) > 1024 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}
