package vm

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// ErrUnsupported is wrapped by the errors of Compile when a plan uses a
// statement, builtin or feature the VM does not implement. A caller keeps
// evaluating such a policy with topdown.
var ErrUnsupported = errors.New("vm: unsupported")

// Program is a plan prepared for evaluation by Compile. It is immutable and
// safe for concurrent use; the zero Program is not usable.
type Program struct {
	plan     []block // the blocks of the (single) query plan
	planSize int     // locals of the plan's frame
	funcs    []function
	builtins []builtin
	dynamic  map[string]int32 // function index by its path joined with 0 bytes
	hidden   []*ast.Term      // string constants naming variables results leave out
}

// hiddenVar reports whether rego leaves the binding of variable v out of
// its results: generated and wildcard variables (see rego's
// generateResult; the planner spells term variables ^termN).
func hiddenVar(v string) bool {
	return strings.HasPrefix(v, ast.WildcardPrefix) || strings.HasPrefix(v, "^term") || ast.Var(v).IsGenerated()
}

// block is a compiled ir.Block.
type block []instr

type opcode uint8

const (
	opNop opcode = iota
	opReturn
	opCallFunc
	opCallBuiltin
	opBlock
	opBreak
	opWith
	opAssign
	opAssignOnce
	opScan
	opNot
	opDot
	opLen
	opEqual
	opNotEqual
	opMakeArray
	opMakeObject
	opMakeSet
	opIsArray
	opIsObject
	opIsSet
	opIsUndefined
	opIsDefined
	opReset
	opArrayAppend
	opObjectInsert
	opObjectInsertOnce
	opObjectMerge
	opSetAdd
	opResultSetAdd
	opCallDynamic
	opMakeArrayOf   // MakeArray and the ArrayAppends after it: args the elements
	opMakeObjectOf  // MakeObject and the ObjectInserts after it: keys and args
	opAllDefined    // undefined unless every one of args is defined
	opObjectGetPath // object.get(args[0], array of pathOf, args[2]); args[1] the array's local
)

// operand is a constant (c set) or a local of the frame.
type operand struct {
	c *ast.Term
	l int32
}

// instr is one compiled statement. Which fields mean what depends on op:
// a, b are sources, dst the target local (Scan: key), dst2 Scan's value
// local, n a break index, function, builtin or capacity.
type instr struct {
	op      opcode
	dst     int32
	dst2    int32
	n       int32
	a, b    operand
	args    []operand
	blocks  []block
	path    []*ast.Term // With: the path of the upsert
	dynPath []operand   // CallDynamic: the path of the function
	loc     *ast.Location
	fn      *function   // AssignVarOnce: the function it is in, for its error
	glob    *globCache  // glob.match with constant delimiters: its results
	keys    []*ast.Term // MakeObjectOf: the constant, distinct keys of args
	dot     *dotCache   // Dot from data with a constant key: its answers
	pathOf  []operand   // ObjectGetPath: the elements of the path
}

// function is a compiled ir.Func.
type function struct {
	name   string // data.x.y, for error messages
	params []int32
	ret    int32
	size   int // locals of its frame
	blocks []block
	memo   bool // takes only input and data: memoised per evaluation
	isFunc bool // a Rego function (more than input and data)
}

// builtin is a builtin resolved at Compile.
type builtin struct {
	name string
	f    topdown.BuiltinFunc
	fast fastFunc // nil: always call f
	void bool     // no result (print)
	rel  bool     // a relation: its outputs are collected into an array
}

var (
	termTrue  = ast.InternedTerm(true)
	termFalse = ast.InternedTerm(false)
	termNull  = ast.InternedNullTerm
)

// compiler holds the state of one Compile.
type compiler struct {
	p       *ir.Policy
	prog    *Program
	funcIdx map[string]int
	bltIdx  map[string]int
	strs    []*ast.Term
	files   []string
	max     int32 // highest local of the function being compiled
	fn      *function
	use     *usage               // of the function or plan being compiled
	fold    bool                 // constants may be folded (see Compile)
	dots    map[*ir.DotStmt]bool // the Dot statements getting a cache
}

// Compile prepares a plan for evaluation. It fails with an error wrapping
// ErrUnsupported when the plan uses a statement, builtin or feature the VM
// does not implement (the caller then keeps using topdown), never by
// evaluating wrongly. The plan must hold exactly one query plan.
func Compile(p *ir.Policy) (*Program, error) {
	if p == nil || p.Plans == nil || len(p.Plans.Plans) != 1 {
		return nil, fmt.Errorf("%w: the policy must hold exactly one plan", ErrUnsupported)
	}
	c := &compiler{p: p, prog: &Program{}, funcIdx: map[string]int{}, bltIdx: map[string]int{}}
	if p.Static != nil {
		for _, s := range p.Static.Strings {
			c.strs = append(c.strs, ast.StringTerm(s.Value))
			if hiddenVar(s.Value) {
				c.prog.hidden = append(c.prog.hidden, c.strs[len(c.strs)-1])
			}
		}
		for _, f := range p.Static.Files {
			c.files = append(c.files, f.Value)
		}
	}
	var funcs []*ir.Func
	if p.Funcs != nil {
		funcs = p.Funcs.Funcs
	}
	c.prog.funcs = make([]function, len(funcs))
	for i, f := range funcs {
		c.funcIdx[f.Name] = i
		if len(f.Path) > 0 {
			if c.prog.dynamic == nil {
				c.prog.dynamic = map[string]int32{}
			}
			c.prog.dynamic[strings.Join(f.Path, "\x00")] = int32(i)
		}
	}
	// Folded constants are shared by every evaluation: fold only when no
	// function or plan writes into a composite it did not make (say a
	// parameter holding a caller's constant). OPA's planner never does.
	c.fold = newUsage(p.Plans.Plans[0].Blocks).foldable()
	for _, f := range funcs {
		c.fold = c.fold && newUsage(f.Blocks).foldable()
	}
	if c.fold {
		c.dots = cacheableDots(p)
	}
	for i, f := range funcs {
		if err := c.compileFunc(&c.prog.funcs[i], f); err != nil {
			return nil, err
		}
	}
	c.fn, c.max = nil, int32(ir.Data)
	plan := p.Plans.Plans[0]
	c.use = newUsage(plan.Blocks)
	for _, b := range plan.Blocks {
		cb, err := c.block(b, 1)
		if err != nil {
			return nil, err
		}
		c.prog.plan = append(c.prog.plan, cb)
	}
	elide(c.prog.plan, -1, []int32{int32(ir.Input), int32(ir.Data)}, c.prog.builtins)
	c.prog.planSize = int(c.max) + 1
	return c.prog, nil
}

func (c *compiler) compileFunc(dst *function, f *ir.Func) error {
	name := f.Name
	if i := strings.IndexByte(name, '.'); i > 1 && name[0] == 'g' && strings.Trim(name[1:i], "0123456789") == "" {
		name = name[i+1:] // the planner's generation prefix, g0.
	}
	*dst = function{name: name, ret: int32(f.Return), memo: len(f.Params) == 2, isFunc: len(f.Params) > 2}
	if len(f.Params) < 2 || f.Params[0] != ir.Input || f.Params[1] != ir.Data {
		return fmt.Errorf("%w: function %s does not take input and data first", ErrUnsupported, f.Name)
	}
	c.fn, c.max = dst, int32(f.Return)
	c.use = newUsage(f.Blocks)
	for _, p := range f.Params {
		dst.params = append(dst.params, int32(p))
		c.see(p)
	}
	for _, b := range f.Blocks {
		cb, err := c.block(b, 1)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		dst.blocks = append(dst.blocks, cb)
	}
	elide(dst.blocks, dst.ret, dst.params, c.prog.builtins)
	dst.size = int(c.max) + 1
	return nil
}

func (c *compiler) see(l ir.Local) int32 {
	if int32(l) > c.max {
		c.max = int32(l)
	}
	return int32(l)
}

func (c *compiler) local(l ir.Local) (int32, error) {
	if l < 0 || l > 1<<20 {
		return 0, fmt.Errorf("%w: local %d out of range", ErrUnsupported, l)
	}
	return c.see(l), nil
}

func (c *compiler) operand(o ir.Operand) (operand, error) {
	switch v := o.Value.(type) {
	case ir.Local:
		l, err := c.local(v)
		return operand{l: l}, err
	case ir.Bool:
		if v {
			return operand{c: termTrue}, nil
		}
		return operand{c: termFalse}, nil
	case ir.StringIndex:
		if int(v) < 0 || int(v) >= len(c.strs) {
			return operand{}, fmt.Errorf("%w: string index %d out of range", ErrUnsupported, v)
		}
		return operand{c: c.strs[v]}, nil
	}
	return operand{}, fmt.Errorf("%w: operand %T", ErrUnsupported, o.Value)
}

func (c *compiler) location(l *ir.Location) *ast.Location {
	loc := &ast.Location{Row: l.Row, Col: l.Col, Text: []byte(l.Text)}
	if l.File >= 0 && l.File < len(c.files) {
		loc.File = c.files[l.File]
	}
	return loc
}

// block compiles b; depth is how many blocks enclose its statements within
// their function or plan, counting b (a Break may leave at most that many).
func (c *compiler) block(b *ir.Block, depth int) (block, error) {
	out := make(block, 0, len(b.Stmts))
	for _, s := range b.Stmts {
		in, err := c.stmt(s, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return fuse(c.foldBlock(out)), nil
}

// fuse replaces each MakeArray followed by ArrayAppends to the same local
// by one statement making the array of those elements at once (an
// ast.Array's Append copies the array), and likewise each MakeObject
// followed by ObjectInserts of distinct constant string keys (ast.NewObject
// allocates the members together; Insert allocates each). An element
// undefined leaves the local holding the elements before it, as the
// statements would.
func fuse(b block) block {
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		in := b[i]
		if in.op != opMakeArray && in.op != opMakeObject {
			out = append(out, in)
			continue
		}
		var elems []operand
		var keys []*ast.Term
		j := i + 1
		for ; j < len(b); j++ {
			m := b[j]
			if m.dst != in.dst || m.a.c == nil && m.a.l == in.dst {
				break
			}
			if in.op == opMakeArray {
				if m.op != opArrayAppend {
					break
				}
				elems = append(elems, m.a)
				continue
			}
			if m.op != opObjectInsert || m.b.c == nil && m.b.l == in.dst {
				break
			}
			k, ok := m.a.c, false
			if k != nil {
				_, ok = k.Value.(ast.String)
			}
			if !ok || slices.ContainsFunc(keys, k.Equal) {
				break
			}
			keys = append(keys, k)
			elems = append(elems, m.b)
		}
		switch {
		case len(elems) == 0:
			out = append(out, in)
			continue
		case in.op == opMakeArray:
			out = append(out, instr{op: opMakeArrayOf, dst: in.dst, args: elems})
		default:
			out = append(out, instr{op: opMakeObjectOf, dst: in.dst, args: elems, keys: keys})
		}
		i = j - 1
	}
	return out
}

func (c *compiler) stmt(s ir.Stmt, depth int) (instr, error) {
	var in instr
	var err error
	two := func(a, b ir.Operand) {
		if in.a, err = c.operand(a); err == nil {
			in.b, err = c.operand(b)
		}
	}
	switch s := s.(type) {
	case *ir.NopStmt:
		in.op = opNop
	case *ir.ReturnLocalStmt:
		in.op = opReturn
		in.a.l, err = c.local(s.Source)
	case *ir.CallStmt:
		in.dst, err = c.local(s.Result)
		if err != nil {
			break
		}
		in.args = make([]operand, len(s.Args))
		for i, a := range s.Args {
			if in.args[i], err = c.operand(a); err != nil {
				return in, err
			}
		}
		if fi, ok := c.funcIdx[s.Func]; ok {
			in.op, in.n = opCallFunc, int32(fi)
			if n := len(c.p.Funcs.Funcs[fi].Params); n != len(s.Args) {
				return in, fmt.Errorf("%w: %s called with %d arguments, takes %d", ErrUnsupported, s.Func, len(s.Args), n)
			}
			break
		}
		in.op = opCallBuiltin
		in.n, err = c.builtin(s.Func, len(s.Args))
		in.loc = c.location(&s.Location)
	case *ir.CallDynamicStmt:
		// The planner's call_indirect: when the path names a function, call
		// it; undefined then leaves 3 blocks (see planRefData).
		in.op = opCallDynamic
		if depth <= 3 {
			return in, fmt.Errorf("%w: CallDynamic nested in only %d blocks", ErrUnsupported, depth)
		}
		if in.dst, err = c.local(s.Result); err != nil {
			break
		}
		for _, a := range s.Args {
			l, err := c.local(a)
			if err != nil {
				return in, err
			}
			in.args = append(in.args, operand{l: l})
		}
		for _, o := range s.Path {
			op, err := c.operand(o)
			if err != nil {
				return in, err
			}
			in.dynPath = append(in.dynPath, op)
		}
	case *ir.BlockStmt:
		in.op = opBlock
		for _, b := range s.Blocks {
			cb, err := c.block(b, depth+1)
			if err != nil {
				return in, err
			}
			in.blocks = append(in.blocks, cb)
		}
	case *ir.BreakStmt:
		in.op, in.n = opBreak, int32(s.Index)
		if int(s.Index) >= depth {
			err = fmt.Errorf("%w: break %d leaves its function", ErrUnsupported, s.Index)
		}
	case *ir.WithStmt:
		in.op = opWith
		if in.dst, err = c.local(s.Local); err != nil {
			break
		}
		if in.a, err = c.operand(s.Value); err != nil {
			break
		}
		for _, i := range s.Path {
			if i < 0 || i >= len(c.strs) {
				return in, fmt.Errorf("%w: string index %d out of range", ErrUnsupported, i)
			}
			in.path = append(in.path, c.strs[i])
		}
		var cb block
		cb, err = c.block(s.Block, depth+1)
		in.blocks = []block{cb}
	case *ir.AssignVarStmt:
		in.op = opAssign
		if in.a, err = c.operand(s.Source); err == nil {
			in.dst, err = c.local(s.Target)
		}
	case *ir.AssignVarOnceStmt:
		in.op = opAssignOnce
		if in.a, err = c.operand(s.Source); err == nil {
			in.dst, err = c.local(s.Target)
		}
		in.loc, in.fn = c.location(&s.Location), c.fn
	case *ir.AssignIntStmt:
		in.op = opAssign
		in.a.c = ast.IntNumberTerm(int(s.Value))
		in.dst, err = c.local(s.Target)
	case *ir.MakeNumberIntStmt:
		in.op = opAssign
		in.a.c = ast.IntNumberTerm(int(s.Value))
		in.dst, err = c.local(s.Target)
	case *ir.MakeNumberRefStmt:
		in.op = opAssign
		if s.Index < 0 || s.Index >= len(c.strs) {
			return in, fmt.Errorf("%w: string index %d out of range", ErrUnsupported, s.Index)
		}
		in.a.c = ast.NewTerm(ast.Number(c.strs[s.Index].Value.(ast.String)))
		in.dst, err = c.local(s.Target)
	case *ir.MakeNullStmt:
		in.op = opAssign
		in.a.c = termNull
		in.dst, err = c.local(s.Target)
	case *ir.ScanStmt:
		in.op = opScan
		if in.a.l, err = c.local(s.Source); err != nil {
			break
		}
		if in.dst, err = c.local(s.Key); err != nil {
			break
		}
		if in.dst2, err = c.local(s.Value); err != nil {
			break
		}
		var cb block
		cb, err = c.block(s.Block, depth+2)
		in.blocks = []block{cb}
	case *ir.NotStmt:
		in.op = opNot
		var cb block
		cb, err = c.block(s.Block, depth+1)
		in.blocks = []block{cb}
	case *ir.DotStmt:
		in.op = opDot
		two(s.Source, s.Key)
		if c.dots[s] {
			in.dot = &dotCache{}
		}
		if err == nil {
			in.dst, err = c.local(s.Target)
		}
	case *ir.LenStmt:
		in.op = opLen
		if in.a, err = c.operand(s.Source); err == nil {
			in.dst, err = c.local(s.Target)
		}
	case *ir.EqualStmt:
		in.op = opEqual
		two(s.A, s.B)
	case *ir.NotEqualStmt:
		in.op = opNotEqual
		two(s.A, s.B)
	case *ir.MakeArrayStmt:
		in.op, in.n = opMakeArray, s.Capacity
		in.dst, err = c.local(s.Target)
	case *ir.MakeObjectStmt:
		in.op = opMakeObject
		in.dst, err = c.local(s.Target)
		in.n = int32(min(c.use.muts[s.Target], 64)) // capacity hint
	case *ir.MakeSetStmt:
		in.op = opMakeSet
		in.dst, err = c.local(s.Target)
	case *ir.IsArrayStmt:
		in.op = opIsArray
		in.a, err = c.operand(s.Source)
	case *ir.IsObjectStmt:
		in.op = opIsObject
		in.a, err = c.operand(s.Source)
	case *ir.IsSetStmt:
		in.op = opIsSet
		in.a, err = c.operand(s.Source)
	case *ir.IsUndefinedStmt:
		in.op = opIsUndefined
		in.a.l, err = c.local(s.Source)
	case *ir.IsDefinedStmt:
		in.op = opIsDefined
		in.a.l, err = c.local(s.Source)
	case *ir.ResetLocalStmt:
		in.op = opReset
		in.dst, err = c.local(s.Target)
	case *ir.ArrayAppendStmt:
		in.op = opArrayAppend
		if in.a, err = c.operand(s.Value); err == nil {
			in.dst, err = c.local(s.Array)
		}
	case *ir.ObjectInsertStmt:
		in.op = opObjectInsert
		two(s.Key, s.Value)
		if err == nil {
			in.dst, err = c.local(s.Object)
		}
	case *ir.ObjectInsertOnceStmt:
		in.op = opObjectInsertOnce
		two(s.Key, s.Value)
		if err == nil {
			in.dst, err = c.local(s.Object)
		}
		in.loc = c.location(&s.Location)
	case *ir.ObjectMergeStmt:
		in.op = opObjectMerge
		if in.a.l, err = c.local(s.A); err != nil {
			break
		}
		if in.b.l, err = c.local(s.B); err != nil {
			break
		}
		in.dst, err = c.local(s.Target)
	case *ir.SetAddStmt:
		in.op = opSetAdd
		if in.a, err = c.operand(s.Value); err == nil {
			in.dst, err = c.local(s.Set)
		}
	case *ir.ResultSetAddStmt:
		in.op = opResultSetAdd
		in.a.l, err = c.local(s.Value)
	default:
		err = fmt.Errorf("%w: statement %T", ErrUnsupported, s)
	}
	return in, err
}

// builtin resolves a builtin called with n arguments.
func (c *compiler) builtin(name string, n int) (int32, error) {
	if i, ok := c.bltIdx[name]; ok {
		return int32(i), nil
	}
	decl, ok := ast.BuiltinMap[name]
	if !ok {
		return 0, fmt.Errorf("%w: unknown builtin %s", ErrUnsupported, name)
	}
	f := topdown.GetBuiltin(name)
	if f == nil {
		return 0, fmt.Errorf("%w: no implementation of builtin %s", ErrUnsupported, name)
	}
	if decl.Decl == nil || len(decl.Decl.FuncArgs().Args) != n && decl.Decl.FuncArgs().Variadic == nil {
		return 0, fmt.Errorf("%w: builtin %s called with %d arguments", ErrUnsupported, name, n)
	}
	b := builtin{name: name, f: f, void: decl.Decl.Result() == nil, rel: decl.Relation, fast: fastBuiltins[name]}
	if b.rel {
		b.void, b.fast = false, nil
	}
	c.prog.builtins = append(c.prog.builtins, b)
	c.bltIdx[name] = len(c.prog.builtins) - 1
	return int32(len(c.prog.builtins) - 1), nil
}
