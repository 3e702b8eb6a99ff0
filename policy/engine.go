package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/print"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/llmgate/llmgate/policy/internal/vm"
)

// DefaultQuery is the decision the engine evaluates by default.
const DefaultQuery = "data.llmgate.decision"

// DefaultPollInterval is how often a policy directory is checked for
// changes by default.
const DefaultPollInterval = 5 * time.Second

// Config configures an [Engine]. The zero Config loads the shipped
// [Library] with no data, no polling and no decision log.
type Config struct {
	// Dir is a directory on disk holding the policy: every .rego file
	// under it except *_test.rego, and data.json / data.yaml files whose
	// documents go at their directory's path, as `opa run` reads them.
	// Ignored when FS is set. Default: the shipped Library.
	Dir string
	// FS, when set, holds the policy in its directory Root. Default: nil.
	FS fs.FS
	// Root is the policy's directory inside FS. Default: ".".
	Root string
	// Query is the reference of the decision document.
	// Default: DefaultQuery ("data.llmgate.decision").
	Query string
	// Data is a data document (JSON values) laid over the policy's data
	// files: objects merge key by key and Data wins anything else. The
	// shipped library reads its settings from data.llmgate_config, so
	// {"llmgate_config": {"deny_deprecated": true}} changes one setting.
	// Default: none.
	Data map[string]any

	// PollInterval is how often Dir or FS is checked for changed files
	// (names, sizes and modification times first, then content hashes).
	// Default: DefaultPollInterval when Dir or FS is set; never for the
	// Library. A negative value disables polling.
	PollInterval time.Duration
	// NewTicker returns the ticks of polling and a function that stops
	// them. Default: a time.Ticker.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// Now is the clock: the time of the input document, of time.now_ns()
	// and of evaluation latencies. Default: time.Now.
	Now func() time.Time

	// OnReload is called after every reload attempt, with nil on success
	// and the error when the new policy was rejected and the last good
	// one kept. It is called from the goroutine that reloaded. Default: none.
	OnReload func(revision string, err error)
	// Logger receives reload errors, reloads and the policy's print()
	// output (at debug level). Default: slog.Default().
	Logger *slog.Logger

	// DecisionLog, when set, receives one record per decision (see
	// README.md). Default: nil, no decision log.
	DecisionLog *slog.Logger
	// Mask lists input paths whose values the decision log replaces with
	// "***" when a decision asks to log them or a path below them.
	// Members named like secrets (api_key, authorization, password,
	// secret, token) are always masked. Default: ["request.prompt",
	// "request.metadata"].
	Mask []string

	// Evaluator chooses the evaluator of decisions. Default:
	// EvaluatorAuto.
	Evaluator Evaluator

	afterPoll func() // test hook: called after each poll
}

// Evaluator names an evaluator of decisions.
type Evaluator uint8

const (
	// EvaluatorAuto evaluates with the IR evaluator when it supports
	// everything the policy uses, and with topdown otherwise (the engine
	// logs why at load).
	EvaluatorAuto Evaluator = iota
	// EvaluatorTopdown always evaluates with topdown, OPA's reference
	// evaluator of Rego.
	EvaluatorTopdown
	// EvaluatorIR evaluates with the IR evaluator: the decision query
	// planned by OPA's planner (the one behind OPA's Wasm target) and the
	// plan run by llmgate's interpreter, several times faster than topdown.
	// A policy it does not support fails to load (ErrCompile).
	EvaluatorIR
)

// ParseEvaluator returns the Evaluator named s: "auto" (or ""), "topdown"
// or "ir", as String writes them.
func ParseEvaluator(s string) (Evaluator, error) {
	for v := EvaluatorAuto; v <= EvaluatorIR; v++ {
		if s == v.String() {
			return v, nil
		}
	}
	if s == "" {
		return EvaluatorAuto, nil
	}
	return 0, fmt.Errorf("policy: unknown evaluator %q (want auto, topdown or ir)", s)
}

func (v Evaluator) String() string {
	switch v {
	case EvaluatorAuto:
		return "auto"
	case EvaluatorTopdown:
		return "topdown"
	case EvaluatorIR:
		return "ir"
	}
	return "Evaluator(" + strconv.Itoa(int(v)) + ")"
}

// Engine evaluates one prepared decision query per request. It compiles
// the policy once, and again on [Engine.Reload], polling or SIGHUP; a
// policy that fails to load never replaces the last good one.
//
// An Engine is safe for concurrent use. Close stops its goroutines. The
// zero Engine is not usable: make one with New.
type Engine struct {
	src       source
	library   bool
	query     ast.Ref
	data      map[string]any
	now       func() time.Time
	logger    *slog.Logger
	onReload  func(string, error)
	dlog      *slog.Logger
	mask      map[string]bool
	hook      print.Hook
	polled    func()
	evaluator Evaluator

	cur atomic.Pointer[prepared]

	mu       sync.Mutex // serialises reloads; guards the fields below
	stampSum [32]byte
	sum      [32]byte
	failed   bool   // the last reload failed
	lastErr  string // and with this error

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New loads and compiles the policy and prepares its decision query. It
// fails with an error wrapping ErrLoad or ErrCompile. When polling is on it
// starts a goroutine that [Engine.Close] stops.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	e := &Engine{
		now:       cfg.Now,
		logger:    cfg.Logger,
		onReload:  cfg.OnReload,
		dlog:      cfg.DecisionLog,
		done:      make(chan struct{}),
		polled:    cfg.afterPoll,
		evaluator: cfg.Evaluator,
	}
	if cfg.Evaluator > EvaluatorIR {
		return nil, fmt.Errorf("policy: unknown Evaluator %v", cfg.Evaluator)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.logger == nil {
		e.logger = slog.Default()
	}
	e.hook = printHook{e.logger}
	switch {
	case cfg.FS != nil:
		e.src = source{cfg.FS, cfg.Root}
		if e.src.dir == "" {
			e.src.dir = "."
		}
	case cfg.Dir != "":
		e.src = source{os.DirFS(cfg.Dir), "."}
	default:
		e.src = source{Library, "library"}
		e.library = true
	}
	q := cfg.Query
	if q == "" {
		q = DefaultQuery
	}
	ref, err := ast.ParseRef(q)
	if err != nil {
		return nil, fmt.Errorf("policy: bad query %q: %w", q, err)
	}
	e.query = ref
	if cfg.Data != nil {
		var rt any = cfg.Data
		if err := util.RoundTrip(&rt); err != nil {
			return nil, fmt.Errorf("policy: data is not JSON: %w", err)
		}
		e.data, _ = rt.(map[string]any)
	}
	mask := cfg.Mask
	if mask == nil {
		mask = []string{"request.prompt", "request.metadata"}
	}
	e.mask = make(map[string]bool, len(mask))
	for _, m := range mask {
		e.mask[m] = true
	}

	stamp, err := e.src.stamp()
	if err != nil {
		return nil, err
	}
	snap, err := e.src.read()
	if err != nil {
		return nil, err
	}
	p, err := compile(ctx, snap, e.src.dir, e.query, e.data, e.hook, e.evaluator)
	if err != nil {
		return nil, err
	}
	e.store(p)
	e.stampSum, e.sum = stamp, snap.sum

	interval := cfg.PollInterval
	if interval == 0 && !e.library {
		interval = DefaultPollInterval
	}
	if interval > 0 && !e.library {
		newTicker := cfg.NewTicker
		if newTicker == nil {
			newTicker = func(d time.Duration) (<-chan time.Time, func()) {
				t := time.NewTicker(d)
				return t.C, t.Stop
			}
		}
		ticks, stop := newTicker(interval)
		e.wg.Add(1)
		go e.poll(ticks, stop)
	}
	return e, nil
}

// store makes p the policy in use, and logs which evaluator it has.
func (e *Engine) store(p *prepared) {
	if p.prog == nil && e.evaluator == EvaluatorAuto {
		e.logger.Info("policy: decisions are evaluated by topdown, not the IR evaluator", "revision", p.revision, "reason", p.noVM)
	}
	e.cur.Store(p)
}

// Evaluator returns the evaluator of the policy in use: EvaluatorIR or
// EvaluatorTopdown.
func (e *Engine) Evaluator() Evaluator {
	if e.cur.Load().prog != nil {
		return EvaluatorIR
	}
	return EvaluatorTopdown
}

// Revision returns the content hash (12 hex digits) of the policy in use.
func (e *Engine) Revision() string { return e.cur.Load().revision }

// Close stops polling and signal handling and waits for their goroutines.
// Decide keeps working with the last policy. Close is idempotent.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() { close(e.done) })
	e.wg.Wait()
	return nil
}

// Decide evaluates the decision for in, which must not be nil. A decision that is undefined,
// ambiguous, badly shaped or fails to evaluate is an error (see the Err…
// values); the caller must deny the request then, as [Deny] does.
//
// The policy sees only the input members its rules name (README.md, "Input
// document"); the decision log looks up the members it records in the
// whole document.
func (e *Engine) Decide(ctx context.Context, in *Input) (Decision, error) {
	start := e.now()
	p := e.cur.Load()
	var (
		d   Decision
		err error
	)
	if p.prog != nil {
		d, err = e.evalIR(ctx, p, start, in.lazy(start))
	} else {
		d, err = e.eval(ctx, p, start, in.value(start, p.use))
	}
	if e.dlog != nil {
		e.logDecision(ctx, in, start, p, d, err, e.now().Sub(start))
	}
	return d, err
}

// neverCancel stands in for the per-evaluation goroutine OPA starts to
// watch a context that can never be cancelled.
var neverCancel = topdown.NewCancel()

// noMetrics skips the per-evaluation metrics OPA would allocate.
var noMetrics = metrics.NoOp()

// eval evaluates the decision query of the policy in use with OPA's
// evaluator (topdown), as rego.PreparedEvalQuery.Eval would, and decodes
// the decision. Each evaluation has its own caches (evalCaches), emptied
// when it ends: nothing is kept from one request to the next.
func (e *Engine) eval(ctx context.Context, p *prepared, now time.Time, input *ast.Term) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrEval, err)
	}
	cancel := neverCancel
	if ctx.Done() != nil {
		c := topdown.NewCancel()
		stop := context.AfterFunc(ctx, c.Cancel)
		defer stop()
		cancel = c
	}
	caches := getEvalCaches()
	defer caches.release()
	q := p.query()
	defer func() {
		// drop the request's data before the query waits in the pool
		q.WithInput(nil).WithVirtualCache(nil).WithBaseCache(nil).WithCancel(nil)
		p.queries.Put(q)
	}()
	q.WithVirtualCache(&caches.virtual).
		WithBaseCache(&caches.base).
		WithTime(now).
		WithCancel(cancel).
		WithInput(input)
	var (
		v ast.Value
		n int
	)
	err := q.Iter(ctx, func(qr topdown.QueryResult) error {
		n++
		if t := qr[p.result]; t != nil {
			v = t.Value
		}
		return nil
	})
	return result(v, n, err)
}

// evalIR evaluates the decision query of the policy in use with the IR
// evaluator, as eval does with topdown.
func (e *Engine) evalIR(ctx context.Context, p *prepared, now time.Time, input ast.Value) (Decision, error) {
	if err := ctx.Err(); err != nil {
		return Decision{}, fmt.Errorf("%w: %w", ErrEval, err)
	}
	rs, err := p.prog.Eval(ctx, &vm.Env{Input: input, Data: p.data, Time: now, PrintHook: p.hook, StrictBuiltinErrors: true})
	var v ast.Value
	if len(rs) == 1 {
		if t := rs[0].Get(resultKey); t != nil {
			v = t.Value
		}
	}
	return result(v, len(rs), err)
}

// withheldBuiltinError returns a copy of a builtin's error without the
// builtin's own message, which may quote the input it failed on
// (to_number's "parsing \"<the prompt>\""), so that masked members cannot
// reach the logs through it: the builtin's name and the location stay.
func withheldBuiltinError(te *topdown.Error) *topdown.Error {
	c := *te
	name, _, _ := strings.Cut(te.Message, ":")
	c.Message = name + ": message withheld, as it may quote the input"
	return &c
}

// resultKey is resultVar's key in a result's bindings.
var resultKey = ast.StringTerm(string(resultVar))

// result turns an evaluation's outcome — its error, its number of results
// and the decision of the one result — into a Decision or an Err… error.
func result(v ast.Value, n int, err error) (Decision, error) {
	if err != nil {
		var te *topdown.Error
		if errors.As(err, &te) {
			switch te.Code {
			case topdown.ConflictErr:
				return Decision{}, fmt.Errorf("%w: %w", ErrConflict, err)
			case topdown.BuiltinErr:
				err = withheldBuiltinError(te)
			}
		}
		return Decision{}, fmt.Errorf("%w: %w", ErrEval, err)
	}
	switch {
	case n == 0:
		return Decision{}, ErrUndefined
	case n > 1:
		return Decision{}, fmt.Errorf("%w: %d results", ErrConflict, n)
	case v == nil:
		return Decision{}, ErrUndefined
	}
	return decodeDecision(v)
}

// printHook sends the policy's print() output to the logger.
type printHook struct{ l *slog.Logger }

func (h printHook) Print(ctx print.Context, msg string) error {
	loc := ""
	if ctx.Location != nil {
		loc = ctx.Location.String()
	}
	h.l.DebugContext(ctx.Context, "policy print", "location", loc, "output", msg)
	return nil
}
