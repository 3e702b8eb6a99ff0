package policy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/print"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/llmgate/llmgate/policy/internal/vm"
)

// capabilities are OPA's, less the builtins that reach the network: a
// network call per request would break the latency budget and could leak
// the input. A policy calling them does not compile.
var capabilities = func() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool {
		return b.Name == "http.send" || b.Name == "net.lookup_ip_addr"
	})
	return c
}()

// source is where the policy comes from: dir inside fsys.
type source struct {
	fsys fs.FS
	dir  string
}

// policyFile reports whether a file is part of the policy: .rego modules
// except tests, and data.json / data.yaml documents, as `opa test` and
// `opa run` read them.
func policyFile(name string) bool {
	switch name {
	case "data.json", "data.yaml", "data.yml":
		return true
	}
	return strings.HasSuffix(name, ".rego") && !strings.HasSuffix(name, "_test.rego")
}

// walk calls f for each policy file under the source's directory, in
// lexical order. Hidden files and directories are skipped.
func (s source) walk(f func(p string, d fs.DirEntry) error) error {
	found := false
	err := fs.WalkDir(s.fsys, s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != s.dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !policyFile(d.Name()) {
			return nil
		}
		found = found || strings.HasSuffix(p, ".rego")
		return f(p, d)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if !found {
		return fmt.Errorf("%w: no .rego file in %q", ErrLoad, s.dir)
	}
	return nil
}

// stamp is a cheap fingerprint of the policy files: names, sizes and
// modification times. A different stamp means the files may have changed;
// the content hash of a snapshot tells whether they did.
func (s source) stamp() ([32]byte, error) {
	h := sha256.New()
	var buf [16]byte
	err := s.walk(func(p string, d fs.DirEntry) error {
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		binary.LittleEndian.PutUint64(buf[:8], uint64(info.Size()))
		binary.LittleEndian.PutUint64(buf[8:], uint64(info.ModTime().UnixNano()))
		h.Write(buf[:])
		return nil
	})
	var sum [32]byte
	h.Sum(sum[:0])
	return sum, err
}

type file struct {
	path string
	data []byte
}

// snapshot is the content of the policy files at one moment.
type snapshot struct {
	files []file
	sum   [32]byte // hash of names and contents
}

func (s snapshot) revision() string { return hex.EncodeToString(s.sum[:6]) }

func (s source) read() (*snapshot, error) {
	snap := &snapshot{}
	h := sha256.New()
	err := s.walk(func(p string, _ fs.DirEntry) error {
		b, err := fs.ReadFile(s.fsys, p)
		if err != nil {
			return err
		}
		snap.files = append(snap.files, file{p, b})
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	h.Sum(snap.sum[:0])
	return snap, err
}

// prepared is one compiled policy with its compiled decision query. It is
// immutable once built and shared by concurrent evaluations.
type prepared struct {
	compiler *ast.Compiler
	qc       ast.QueryCompiler
	body     ast.Body // the compiled query: result = <decision ref>
	result   ast.Var  // the variable the decision is bound to in body
	store    storage.Store
	txn      storage.Transaction // read transaction held for the policy's lifetime
	hook     print.Hook
	use      *inputUse // what the policy reads of the input document
	revision string
	queries  sync.Pool // of *topdown.Query, see query

	// prog is the decision query compiled for the IR evaluator, with the
	// data document it reads; nil when the policy is evaluated by topdown,
	// for the reason in noVM.
	prog *vm.Program
	data ast.Value
	noVM error
}

// query returns a topdown.Query of the decision, ready but for its input,
// time, cancellation and caches, which eval sets on every use. Queries are
// reused through p.queries: each evaluation sets all four before running
// one, so nothing passes from one evaluation to the next.
func (p *prepared) query() *topdown.Query {
	if q, ok := p.queries.Get().(*topdown.Query); ok {
		return q
	}
	return topdown.NewQuery(p.body).
		WithQueryCompiler(p.qc).
		WithCompiler(p.compiler).
		WithStore(p.store).
		WithTransaction(p.txn).
		WithMetrics(noMetrics).
		WithStrictBuiltinErrors(true).
		WithPrintHook(p.hook)
}

// resultVar is the variable the decision query binds the decision to.
const resultVar = ast.Var("__llmgate_decision__")

// compile parses and compiles a snapshot and compiles the decision query.
//
// The data documents go into an in-memory store that nothing ever writes
// after this point, so one read transaction, opened here and never closed,
// serves every evaluation of this policy: the store is dropped with the
// policy when a reload replaces it.
func compile(ctx context.Context, snap *snapshot, dir string, query ast.Ref, data map[string]any, hook print.Hook, ev Evaluator) (*prepared, error) {
	modules := make(map[string]*ast.Module)
	docs := map[string]any{}
	for _, f := range snap.files {
		if strings.HasSuffix(f.path, ".rego") {
			m, err := ast.ParseModuleWithOpts(f.path, string(f.data), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrCompile, err)
			}
			modules[f.path] = m
			continue
		}
		var doc any
		if err := util.Unmarshal(f.data, &doc); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrLoad, f.path, err)
		}
		if err := mergeAt(docs, dataPath(dir, f.path), doc); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrLoad, f.path, err)
		}
	}
	overlay(docs, data)
	c := ast.NewCompiler().
		WithCapabilities(capabilities).
		WithEnablePrintStatements(hook != nil)
	if c.Compile(modules); c.Failed() {
		return nil, fmt.Errorf("%w: %w", ErrCompile, c.Errors)
	}
	if len(c.GetRulesExact(query)) == 0 {
		return nil, fmt.Errorf("%w: no rule defines %v", ErrCompile, query)
	}
	qc := c.QueryCompiler().
		WithEnablePrintStatements(hook != nil).
		WithStrict(false)
	body, err := qc.Compile(ast.NewBody(ast.Equality.Expr(ast.VarTerm(string(resultVar)), ast.RefTerm(query...))))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCompile, err)
	}
	store := inmem.NewFromObjectWithOpts(docs, inmem.OptReturnASTValuesOnRead(true))
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	p := &prepared{
		compiler: c, qc: qc, body: body, result: resultVar,
		store: store, txn: txn, hook: hook, use: inputUses(c.Modules, body),
		revision: snap.revision(),
	}
	if ev == EvaluatorTopdown {
		p.noVM = errors.New("policy: Config.Evaluator is EvaluatorTopdown")
		return p, nil
	}
	if p.noVM = p.prepareVM(ctx); p.noVM != nil && ev == EvaluatorIR {
		return nil, fmt.Errorf("%w: %w", ErrCompile, p.noVM)
	}
	return p, nil
}

// prepareVM plans the decision query with OPA's planner and compiles the
// plan for the IR evaluator; it returns why not when the evaluator does not
// support something the policy uses.
func (p *prepared) prepareVM(ctx context.Context) error {
	plan, err := vm.Plan(ctx, p.compiler, p.body)
	if err != nil {
		return err
	}
	prog, err := vm.Compile(plan)
	if err != nil {
		return err
	}
	data, err := p.store.Read(ctx, p.txn, storage.RootPath)
	if err != nil {
		return fmt.Errorf("policy: reading the data document: %w", err)
	}
	v, ok := data.(ast.Value)
	if !ok {
		return fmt.Errorf("policy: the store returned data as %T, not an OPA value", data)
	}
	p.prog, p.data = prog, v
	return nil
}

// dataPath is where a data file's document goes: the directories between
// the policy root and the file, as `opa run` places them.
func dataPath(root, file string) []string {
	rel := strings.TrimPrefix(path.Dir(file), root)
	var out []string
	for _, seg := range strings.Split(rel, "/") {
		if seg != "" && seg != "." {
			out = append(out, seg)
		}
	}
	return out
}

// mergeAt merges doc into dst at path. Objects merge key by key; any other
// overlap is an error, as OPA reports for overlapping data files.
func mergeAt(dst map[string]any, at []string, doc any) error {
	for _, seg := range at {
		next, ok := dst[seg].(map[string]any)
		if !ok {
			if _, exists := dst[seg]; exists {
				return fmt.Errorf("data at %q is not an object", strings.Join(at, "."))
			}
			next = map[string]any{}
			dst[seg] = next
		}
		dst = next
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return errors.New("a data file must hold an object")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := obj[k]
		old, exists := dst[k]
		if !exists {
			dst[k] = v
			continue
		}
		oldObj, ok1 := old.(map[string]any)
		if _, ok2 := v.(map[string]any); !ok1 || !ok2 {
			return fmt.Errorf("data key %q is defined twice", k)
		}
		if err := mergeAt(oldObj, nil, v); err != nil {
			return err
		}
	}
	return nil
}

// overlay writes src over dst: objects merge key by key, src wins
// anything else. It copies src's objects, so later merges never write to
// the caller's maps.
func overlay(dst, src map[string]any) {
	for k, v := range src {
		if o, ok := v.(map[string]any); ok {
			d, ok := dst[k].(map[string]any)
			if !ok {
				d = map[string]any{}
				dst[k] = d
			}
			overlay(d, o)
			continue
		}
		dst[k] = v
	}
}
