package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/dlclark/regexp2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaCache remembers whether a JSON Schema (by its exact bytes) is valid,
// so that clients sending the same tool definitions with every request pay
// for compiling them once. It is an LRU bounded by entry count and by the
// total bytes of the keys. Safe for concurrent use.
type schemaCache struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int
	bytes      int
	m          map[string]*schemaEntry
	head, tail *schemaEntry           // most recently used first
	compile    func(raw []byte) error // called once the shape is checked
}

type schemaEntry struct {
	key        string
	err        error // nil when the schema is valid
	prev, next *schemaEntry
}

func newSchemaCache(maxEntries, maxBytes int) *schemaCache {
	return &schemaCache{maxEntries: maxEntries, maxBytes: maxBytes, m: map[string]*schemaEntry{}, compile: compileShaped}
}

// check returns nil when raw is a valid JSON Schema, or an error saying why
// it is not.
func (c *schemaCache) check(raw []byte) error { return c.checkWithin(raw, nil) }

// schemaCheck checks the schemas of one request. The schemas it has to
// compile (those not in the cache) share one budget of maxSchemaNodes
// objects and booleans, so that many distinct schemas, each within
// bounds, cannot cost a request more than one large schema does.
type schemaCheck struct {
	cache *schemaCache
	left  int
}

func newSchemaCheck(c *schemaCache) *schemaCheck {
	return &schemaCheck{cache: c, left: maxSchemaNodes}
}

func (sc *schemaCheck) check(raw []byte) error { return sc.cache.checkWithin(raw, &sc.left) }

// checkWithin is check, charging the objects and booleans of a schema it
// compiles to *left when left is not nil; a schema that does not fit is
// refused (and not remembered: another request may have room for it).
func (c *schemaCache) checkWithin(raw []byte, left *int) error {
	if c.maxEntries > 0 {
		c.mu.Lock()
		if e, ok := c.m[string(raw)]; ok {
			c.unlink(e)
			c.pushFront(e)
			err := e.err
			c.mu.Unlock()
			return err
		}
		c.mu.Unlock()
	}
	nodes, err := schemaShape(raw) // one pass: the bounds, and the budget's charge
	if err == nil && left != nil {
		if *left -= nodes; *left < 0 {
			return errSchemaBudget
		}
	}
	if err == nil {
		err = c.compile(raw) // outside the lock: compiling may take a while
	}
	if c.maxEntries <= 0 || len(raw) > c.maxBytes {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[string(raw)]; ok { // another request compiled it meanwhile
		return err
	}
	e := &schemaEntry{key: string(raw), err: err}
	c.m[e.key] = e
	c.pushFront(e)
	c.bytes += len(e.key)
	for len(c.m) > c.maxEntries || c.bytes > c.maxBytes {
		old := c.tail
		c.unlink(old)
		delete(c.m, old.key)
		c.bytes -= len(old.key)
	}
	return err
}

func (c *schemaCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

func (c *schemaCache) pushFront(e *schemaEntry) {
	e.prev, e.next = nil, c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

func (c *schemaCache) unlink(e *schemaEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// schemaURL is the name the schema under test is compiled as.
const schemaURL = "mem:///llmgate/schema.json"

// errNoRemoteRefs refuses every $ref outside the schema itself: resolving
// it would read files or the network on behalf of a client.
var errNoRemoteRefs = errors.New("middleware: only references inside the schema are allowed")

type refusingLoader struct{}

func (refusingLoader) Load(string) (any, error) { return nil, errNoRemoteRefs }

// ecmaRegexp checks "pattern" and "patternProperties" with ECMA-262 syntax,
// which JSON Schema specifies (Go's regexp rejects lookarounds, for one).
// Schemas are only compiled here, never matched.
type ecmaRegexp struct{ re *regexp2.Regexp }

func (r ecmaRegexp) MatchString(s string) bool {
	ok, err := r.re.MatchString(s)
	return ok && err == nil
}

func (r ecmaRegexp) String() string { return r.re.String() }

func compileECMA(s string) (jsonschema.Regexp, error) {
	re, err := regexp2.Compile(s, regexp2.ECMAScript)
	if err != nil {
		return nil, err
	}
	return ecmaRegexp{re}, nil
}

// Limits on the shape of a schema, checked in one linear pass before it is
// compiled.
//
// The compiler (santhosh-tekuri/jsonschema v6) is not linear in either
// direction, and it is not ours to change. Depth: while checking a schema
// against its meta-schema it rebuilds, for each subschema, the JSON
// pointer of its location by string concatenation (validator.metaResource,
// several times per level), O(depth²) per subschema and O(depth³) for a
// chain: 1000 nested "properties" took 7 s, 3000 five minutes. Width: it
// looks up each subschema it queues for compiling with a linear scan of
// the queue (queue.get), O(n²) for n subschemas: 16000 took 1.7 s. With
// both bounded, the cost stays within a small factor of linear (see
// BenchmarkCompileSchema).
const (
	// maxSchemaDepth bounds the nesting of objects and arrays in a schema
	// (the schema itself is level 1). 64 allows 31 levels of nested
	// "properties" (each level is two: a schema and its properties map)
	// or 63 of "items"; OpenAI's structured outputs allow 10 levels of
	// nesting, and schemas written by hand or generated from types stay
	// well below that. A chain 64 deep compiles at 1.6 times the cost per
	// byte of a flat schema; 128 deep, about 6 times; 256 deep, 10 times.
	maxSchemaDepth = 64
	// maxSchemaNodes bounds the objects and booleans of a schema (each
	// may be a subschema the compiler queues). OpenAI's structured outputs
	// allow 5000 object properties in all; 10000 leaves room for the
	// schemas around them. At 10000 the compiler's quadratic queue costs
	// about 3.5 times its linear part (0.7 s for 10000 boolean
	// subschemas); it grows fourfold with each doubling beyond.
	maxSchemaNodes = 10000
)

var (
	errSchemaDepth = fmt.Errorf("middleware: it nests objects and arrays more than %d levels deep", maxSchemaDepth)
	errSchemaNodes = fmt.Errorf("middleware: it has more than %d objects and booleans", maxSchemaNodes)
	// errSchemaBudget refuses a schema that would take the request's
	// schemas past maxSchemaNodes objects and booleans in all.
	errSchemaBudget = fmt.Errorf("middleware: with the request's other new schemas it has more than %d objects and booleans in all", maxSchemaNodes)
)

// checkSchemaShape refuses a schema deeper than maxSchemaDepth or with more
// than maxSchemaNodes objects and booleans. It reads each byte once and
// needs no valid JSON (a syntax error is the compiler's to report).
func checkSchemaShape(raw []byte) error {
	_, err := schemaShape(raw)
	return err
}

// schemaShape is checkSchemaShape, returning the objects and booleans
// counted too.
func schemaShape(raw []byte) (nodes int, err error) {
	depth := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			if depth++; depth > maxSchemaDepth {
				return 0, errSchemaDepth
			}
			if raw[i] == '{' {
				nodes++
			}
		case '}', ']':
			depth--
		case 't', 'f': // true, false: outside strings no other token holds them
			nodes++
		}
		if nodes > maxSchemaNodes {
			return 0, errSchemaNodes
		}
	}
	return nodes, nil
}

// compileSchema validates raw against its meta-schema (draft 2020-12 unless
// it names another with $schema) by compiling it, after checkSchemaShape.
func compileSchema(raw []byte) error {
	if err := checkSchemaShape(raw); err != nil {
		return err
	}
	return compileShaped(raw)
}

// compileShaped is compileSchema for a schema whose shape was checked.
func compileShaped(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("middleware: schema is not valid JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		return errors.New("middleware: schema must be a JSON object")
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(refusingLoader{})
	c.UseRegexpEngine(compileECMA)
	if err := c.AddResource(schemaURL, doc); err != nil {
		return fmt.Errorf("middleware: %w", err)
	}
	if _, err := c.Compile(schemaURL); err != nil {
		return fmt.Errorf("middleware: %w", err)
	}
	return nil
}

// schemaProblem renders a compile error for a client: for a schema that
// breaks its meta-schema, only the innermost failures ("at '/type': value
// must be one of …"), joined on one line and without internal URLs.
func schemaProblem(err error) string {
	s := strings.TrimPrefix(err.Error(), "middleware: ")
	lines := strings.Split(s, "\n")
	if len(lines) > 1 && strings.Contains(lines[0], "metaschema") {
		var leaves []string
		for k, l := range lines {
			depth := len(l) - len(strings.TrimLeft(l, " "))
			if !strings.HasPrefix(strings.TrimSpace(l), "- at ") {
				continue
			}
			if k+1 < len(lines) && len(lines[k+1])-len(strings.TrimLeft(lines[k+1], " ")) > depth {
				continue // not a leaf: its causes follow
			}
			leaves = append(leaves, strings.TrimPrefix(strings.TrimSpace(l), "- "))
		}
		if len(leaves) > 0 {
			s = "it does not conform to JSON Schema: " + strings.Join(leaves, "; ")
		}
	}
	s = strings.ReplaceAll(s, schemaURL, "schema")
	s = strings.ReplaceAll(s, "middleware: ", "")
	s = strings.ReplaceAll(s, "\n", " ")
	const max = 400
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xc0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
