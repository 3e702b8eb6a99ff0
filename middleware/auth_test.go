package middleware

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

func testStore(t *testing.T) *StaticKeyStore {
	t.Helper()
	s, err := NewStaticKeyStore([]KeyEntry{
		{ID: "alice", SHA256: HashKey("sk-alice"), User: "alice", Org: "acme", Tier: "free", Labels: map[string]string{"team": "ml"}},
		{ID: "bob", SHA256: HashKey("sk-bob"), Revoked: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAuth(t *testing.T) {
	store := testStore(t)
	var seen *http.Request
	h := Auth(AuthConfig{Store: store})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		w.WriteHeader(http.StatusNoContent)
	}))
	unauthorized := string(wire.MarshalEnvelope(wire.InvalidAPIKey()))
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
	}{
		{"bearer", map[string]string{"Authorization": "Bearer sk-alice"}, 204},
		{"bearer lower-case scheme", map[string]string{"Authorization": "bearer sk-alice"}, 204},
		{"api-key header", map[string]string{"api-key": "sk-alice"}, 204},
		{"missing", nil, 401},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, 401},
		{"basic scheme", map[string]string{"Authorization": "Basic c2stYWxpY2U="}, 401},
		{"no scheme", map[string]string{"Authorization": "sk-alice"}, 401},
		{"space in key", map[string]string{"Authorization": "Bearer sk alice"}, 401},
		{"unknown", map[string]string{"Authorization": "Bearer sk-mallory"}, 401},
		{"revoked", map[string]string{"Authorization": "Bearer sk-bob"}, 401},
		{"unknown api-key", map[string]string{"api-key": "nope"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen = nil
			req := httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(`{}`))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 401 {
				if rec.Body.String() != unauthorized {
					t.Errorf("401 body differs: %s", rec.Body)
				}
				if seen != nil {
					t.Error("handler ran for an unauthenticated request")
				}
				return
			}
			c := CallFrom(seen.Context())
			if c == nil || c.Principal == nil || c.Principal.KeyID != "alice" || c.Principal.Org != "acme" || c.Principal.Labels["team"] != "ml" {
				t.Fatalf("principal not on the call: %+v", c)
			}
			if seen.Header.Get("Authorization") != "" || seen.Header.Get("Api-Key") != "" {
				t.Error("credentials were passed on to the handler")
			}
		})
	}
}

// An unauthenticated request is refused before its body is read.
func TestAuthDoesNotReadBody(t *testing.T) {
	h := Auth(AuthConfig{Store: testStore(t)})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	body := &countingReader{}
	req := httptest.NewRequest("POST", "/v1/chat/completions", body)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if body.reads != 0 {
		t.Errorf("body read %d times", body.reads)
	}
}

type countingReader struct{ reads int }

func (c *countingReader) Read(p []byte) (int, error) { c.reads++; return 0, errors.New("read") }

type failingStore struct{}

func (failingStore) Lookup(context.Context, string) (*Principal, error) {
	return nil, errors.New("backend down")
}

func TestAuthStoreFailure(t *testing.T) {
	h := Auth(AuthConfig{Store: failingStore{}})(http.NotFoundHandler())
	req := httptest.NewRequest("POST", "/", nil)
	req.Header.Set("Authorization", "Bearer x")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
	if e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes()); !ok || strings.Contains(e.Message, "backend") {
		t.Errorf("envelope %s leaks or is missing", rec.Body)
	}
}

func TestStaticKeyStoreReplace(t *testing.T) {
	s := testStore(t)
	ctx := context.Background()
	if _, err := s.Lookup(ctx, "sk-alice"); err != nil {
		t.Fatal(err)
	}
	// Revoking takes effect on the next lookup.
	if err := s.Replace([]KeyEntry{{ID: "alice", SHA256: HashKey("sk-alice"), Revoked: true}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, "sk-alice"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("revoked key: %v", err)
	}
	for _, bad := range [][]KeyEntry{
		{{ID: "", SHA256: HashKey("a")}},
		{{ID: "a", SHA256: "zz"}},
		{{ID: "a", SHA256: HashKey("a")[:63] + "g"}},
		{{ID: "a", SHA256: HashKey("a")}, {ID: "a", SHA256: HashKey("b")}},
		{{ID: "a", SHA256: HashKey("a")}, {ID: "b", SHA256: HashKey("a")}},
	} {
		if err := s.Replace(bad); err == nil {
			t.Errorf("Replace(%+v) accepted", bad)
		}
	}
	// A failed Replace keeps the previous set.
	if _, err := s.Lookup(ctx, "sk-alice"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("previous set lost: %v", err)
	}
}

func BenchmarkStaticKeyStoreLookup(b *testing.B) {
	entries := make([]KeyEntry, 10000)
	for i := range entries {
		entries[i] = KeyEntry{ID: "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + itoa(i), SHA256: HashKey("sk-" + itoa(i))}
	}
	s, err := NewStaticKeyStore(entries)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Lookup(ctx, "sk-4242"); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
