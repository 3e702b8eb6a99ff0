package middleware

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSchemaCache(t *testing.T) {
	var compiles atomic.Int64
	newCache := func(entries, bytes int) *schemaCache {
		c := newSchemaCache(entries, bytes)
		c.compile = func(raw []byte) error {
			compiles.Add(1)
			return compileSchema(raw)
		}
		return c
	}
	valid := []byte(`{"type":"object"}`)
	invalid := []byte(`{"type":"objekt"}`)

	t.Run("repeats compile once", func(t *testing.T) {
		compiles.Store(0)
		c := newCache(8, 1<<20)
		for range 5 {
			if err := c.check(valid); err != nil {
				t.Fatal(err)
			}
			if err := c.check(invalid); err == nil {
				t.Fatal("invalid schema accepted")
			}
		}
		if n := compiles.Load(); n != 2 {
			t.Fatalf("%d compiles, want 2", n)
		}
	})
	t.Run("bounded by entries, least recently used goes", func(t *testing.T) {
		compiles.Store(0)
		c := newCache(2, 1<<20)
		a, b, d := []byte(`{"title":"a"}`), []byte(`{"title":"b"}`), []byte(`{"title":"d"}`)
		_, _, _ = c.check(a), c.check(b), c.check(a) // a is now the most recent
		_ = c.check(d)                               // evicts b
		if c.len() != 2 {
			t.Fatalf("len %d", c.len())
		}
		compiles.Store(0)
		_, _ = c.check(a), c.check(d)
		if n := compiles.Load(); n != 0 {
			t.Fatalf("a and d recompiled (%d)", n)
		}
		_ = c.check(b)
		if n := compiles.Load(); n != 1 {
			t.Fatalf("b not evicted (%d compiles)", n)
		}
	})
	t.Run("bounded by bytes", func(t *testing.T) {
		c := newCache(100, 30)
		for i := range 10 {
			_ = c.check(fmt.Appendf(nil, `{"title":"%d"}`, i)) // 14 bytes each
		}
		if c.len() != 2 {
			t.Fatalf("len %d, want 2", c.len())
		}
		compiles.Store(0)
		big := fmt.Appendf(nil, `{"title":"%050d"}`, 0)
		_, _ = c.check(big), c.check(big)
		if n := compiles.Load(); n != 2 {
			t.Fatalf("a schema over the byte bound was cached (%d compiles)", n)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		compiles.Store(0)
		c := newCache(-1, 1<<20)
		_, _ = c.check(valid), c.check(valid)
		if n := compiles.Load(); n != 2 {
			t.Fatalf("%d compiles, want 2", n)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		c := newCache(4, 1<<20)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					s := fmt.Appendf(nil, `{"title":"%d"}`, (g+i)%6)
					if err := c.check(s); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if c.len() > 4 {
			t.Fatalf("len %d over the bound", c.len())
		}
	})
}

func TestCompileSchema(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		ok           bool
	}{
		{"object", `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`, true},
		{"empty", `{}`, true},
		{"ecma lookahead", `{"type":"string","pattern":"^(?=.*\\d).+$"}`, true},
		{"internal ref", `{"$defs":{"x":{"type":"integer"}},"properties":{"a":{"$ref":"#/$defs/x"}}}`, true},
		{"draft 7", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"x":{}}}`, true},
		{"boolean", `true`, false},
		{"bad type", `{"type":"objekt"}`, false},
		{"bad enum", `{"enum":"a"}`, false},
		{"bad pattern", `{"pattern":"("}`, false},
		{"file ref", `{"$ref":"file:///etc/hostname"}`, false},
		{"remote ref", `{"$ref":"http://127.0.0.1:1/x.json"}`, false},
		{"unknown meta-schema", `{"$schema":"http://127.0.0.1:1/meta.json"}`, false},
		{"not JSON", `{"type":`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := compileSchema([]byte(tc.schema))
			if (err == nil) != tc.ok {
				t.Fatalf("compileSchema(%s) = %v, want ok=%v", tc.schema, err, tc.ok)
			}
			if err != nil && tc.name == "file ref" && !strings.Contains(err.Error(), "only references inside the schema") {
				t.Errorf("file ref refused for another reason: %v", err)
			}
		})
	}
}
