package vm

import (
	"maps"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// Lookups into the data document. A policy reads its settings from data
// (data.llmgate_config.tiers[t].models) on every evaluation, and data is
// the same document evaluation after evaluation: a Dot statement with a
// constant key whose source is always part of data keeps its last answers
// by source object, and looks its key up again only for another object.
//
// Which sources are part of data is decided at Compile, for each local of
// each function: the data parameter, and locals every write of which is a
// Dot or a Scan of such a local, an assignment of one or of a scalar
// constant, or a call of a function returning one. Nothing writes into
// those values: the VM mutates only composites the plan makes (MakeArray,
// MakeObject, MakeSet), and never one reached from data, since Compile
// folds no constant and caches no Dot unless every mutation in the plan
// targets a local the same function makes (see usage.foldable). A plan
// with a With statement (which replaces data by a copy holding any value)
// or a call passing something else than data as the data argument gets no
// caches at all.

// dotWays is the number of source objects a Dot statement's cache keeps
// (say, the tiers a policy's requests use).
const dotWays = 4

// dotCache is the cache of one Dot statement.
type dotCache struct {
	e    [dotWays]atomic.Pointer[dotEntry]
	next atomic.Uint32
}

// dotEntry is one answer: the member of the key in src, nil when absent.
// src is always an object (comparable: its dynamic type is a pointer).
type dotEntry struct {
	src ast.Value
	val *ast.Term
}

// get returns dot(src, key), from the cache when it holds src.
func (c *dotCache) get(src, key *ast.Term) *ast.Term {
	for i := range c.e {
		if e := c.e[i].Load(); e != nil && e.src == src.Value {
			return e.val
		}
	}
	v := dot(src, key)
	if _, ok := src.Value.(ast.Object); ok {
		c.e[c.next.Add(1)%dotWays].Store(&dotEntry{src: src.Value, val: v})
	}
	return v
}

// cacheableDots returns the Dot statements of p that get a cache: with a
// constant key, their source a part of the data document; nil when p gets
// no Dot caches.
func cacheableDots(p *ir.Policy) map[*ir.DotStmt]bool {
	var funcs []*ir.Func
	if p.Funcs != nil {
		funcs = p.Funcs.Funcs
	}
	ok := true
	var check func(b *ir.Block)
	check = func(b *ir.Block) {
		for _, s := range b.Stmts {
			switch s := s.(type) {
			case *ir.WithStmt:
				ok = false
			case *ir.CallStmt:
				if len(s.Args) >= 2 {
					if l, isLocal := s.Args[1].Value.(ir.Local); !isLocal || l != ir.Data {
						if _, plan := funcIndex(funcs, s.Func); plan {
							ok = false
						}
					}
				}
			case *ir.CallDynamicStmt:
				if len(s.Args) < 2 || s.Args[1] != ir.Data {
					ok = false
				}
			case *ir.BlockStmt:
				for _, b := range s.Blocks {
					check(b)
				}
			case *ir.ScanStmt:
				check(s.Block)
			case *ir.NotStmt:
				check(s.Block)
			}
		}
	}
	for _, f := range funcs {
		if len(f.Params) < 2 || f.Params[1] != ir.Data {
			return nil
		}
		for _, b := range f.Blocks {
			check(b)
		}
	}
	for _, b := range p.Plans.Plans[0].Blocks {
		check(b)
	}
	if !ok {
		return nil
	}
	// Functions returning data: none at first, then more each round (the
	// call graph has no cycles: as many rounds as functions suffice).
	returns := map[string]bool{}
	out := map[string]map[ir.Local]bool{}
	for range len(funcs) + 1 {
		changed := false
		for _, f := range funcs {
			d := dataOf(f.Blocks, f.Params, returns)
			out[f.Name] = d
			r := d[f.Return]
			for _, b := range f.Blocks {
				forStmts(b, func(s ir.Stmt) {
					if s, isRet := s.(*ir.ReturnLocalStmt); isRet && !d[s.Source] {
						r = false
					}
				})
			}
			if r != returns[f.Name] {
				returns[f.Name], changed = r, true
			}
		}
		if !changed {
			break
		}
	}
	out[""] = dataOf(p.Plans.Plans[0].Blocks, []ir.Local{ir.Input, ir.Data}, returns)
	dots := map[*ir.DotStmt]bool{}
	for _, f := range funcs {
		cachedDots(f.Blocks, out[f.Name], returns, dots)
	}
	cachedDots(p.Plans.Plans[0].Blocks, out[""], returns, dots)
	return dots
}

func funcIndex(funcs []*ir.Func, name string) (int, bool) {
	for i, f := range funcs {
		if f.Name == name {
			return i, true
		}
	}
	return 0, false
}

// forStmts calls fn for every statement of b and of the blocks in it.
func forStmts(b *ir.Block, fn func(ir.Stmt)) {
	for _, s := range b.Stmts {
		fn(s)
		switch s := s.(type) {
		case *ir.BlockStmt:
			for _, b := range s.Blocks {
				forStmts(b, fn)
			}
		case *ir.ScanStmt:
			forStmts(s.Block, fn)
		case *ir.NotStmt:
			forStmts(s.Block, fn)
		case *ir.WithStmt:
			forStmts(s.Block, fn)
		}
	}
}

// dataOf returns the locals of a function (or plan) of blocks and params
// that always hold a part of data, given the functions known to return
// one: the data parameter, then every local (no other parameter) all
// writes of which read such a local (or a scalar constant), until no more
// qualify.
func dataOf(blocks []*ir.Block, params []ir.Local, returns map[string]bool) map[ir.Local]bool {
	d := map[ir.Local]bool{ir.Data: true}
	for {
		bad := map[ir.Local]bool{} // written from something else than data
		for _, p := range params {
			bad[p] = p != ir.Data
		}
		seen := map[ir.Local]bool{}
		for _, b := range blocks {
			forStmts(b, func(s ir.Stmt) {
				for _, w := range writes(s, d, returns) {
					seen[w.l] = true
					if !w.data {
						bad[w.l] = true
					}
				}
			})
		}
		grew := false
		for l := range seen {
			if !bad[l] && !d[l] {
				d[l], grew = true, true
			}
		}
		// The data parameter is written only by With, which disables the
		// caches: it stays.
		if !grew {
			return d
		}
	}
}

// write is a local a statement writes, and whether the value written is
// a part of data.
type write struct {
	l    ir.Local
	data bool
}

// writes returns the locals s itself writes (not those of the blocks in
// it), given the locals holding data before it.
func writes(s ir.Stmt, d map[ir.Local]bool, returns map[string]bool) []write {
	operand := func(o ir.Operand) bool {
		switch v := o.Value.(type) {
		case ir.Local:
			return d[v]
		case ir.Bool, ir.StringIndex:
			return true
		}
		return false
	}
	switch s := s.(type) {
	case *ir.DotStmt:
		return []write{{s.Target, operand(s.Source)}}
	case *ir.AssignVarStmt:
		return []write{{s.Target, operand(s.Source)}}
	case *ir.AssignVarOnceStmt:
		return []write{{s.Target, operand(s.Source)}}
	case *ir.ScanStmt:
		return []write{{s.Key, d[s.Source]}, {s.Value, d[s.Source]}}
	case *ir.CallStmt:
		return []write{{s.Result, returns[s.Func]}}
	case *ir.MakeNumberRefStmt:
		return []write{{s.Target, true}}
	case *ir.MakeNumberIntStmt:
		return []write{{s.Target, true}}
	case *ir.AssignIntStmt:
		return []write{{s.Target, true}}
	case *ir.MakeNullStmt:
		return []write{{s.Target, true}}
	case *ir.ResetLocalStmt: // undefined: no value
	case *ir.CallDynamicStmt:
		return []write{{s.Result, false}}
	case *ir.WithStmt:
		return []write{{s.Local, false}}
	case *ir.LenStmt:
		return []write{{s.Target, false}}
	case *ir.MakeArrayStmt:
		return []write{{s.Target, false}}
	case *ir.MakeObjectStmt:
		return []write{{s.Target, false}}
	case *ir.MakeSetStmt:
		return []write{{s.Target, false}}
	case *ir.ObjectMergeStmt:
		return []write{{s.Target, false}}
	}
	return nil
}

// cachedDots adds to out the Dot statements of blocks with a constant key
// whose source holds a part of data where they run: following each block
// statement by statement from d (the locals that always do, see dataOf),
// a local holds data after a write of data, and after a block that writes
// it, if it always does.
func cachedDots(blocks []*ir.Block, d map[ir.Local]bool, returns map[string]bool, out map[*ir.DotStmt]bool) {
	for _, b := range blocks {
		flowDots(b, maps.Clone(d), d, returns, out)
	}
}

func flowDots(b *ir.Block, cur, d map[ir.Local]bool, returns map[string]bool, out map[*ir.DotStmt]bool) {
	for _, s := range b.Stmts {
		if dot, ok := s.(*ir.DotStmt); ok {
			src, isLocal := dot.Source.Value.(ir.Local)
			_, dynamic := dot.Key.Value.(ir.Local)
			if isLocal && cur[src] && !dynamic {
				out[dot] = true
			}
		}
		var inner []*ir.Block
		var scan *ir.ScanStmt
		switch s := s.(type) {
		case *ir.BlockStmt:
			inner = s.Blocks
		case *ir.NotStmt:
			inner = []*ir.Block{s.Block}
		case *ir.WithStmt:
			inner = []*ir.Block{s.Block}
		case *ir.ScanStmt:
			inner, scan = []*ir.Block{s.Block}, s
		}
		ws := writes(s, cur, returns)
		for _, nb := range inner {
			in := maps.Clone(cur)
			if scan != nil {
				// The body runs again after it wrote its locals.
				forStmts(nb, func(s ir.Stmt) {
					for _, w := range writes(s, nil, nil) {
						in[w.l] = d[w.l]
					}
				})
			}
			for _, w := range ws {
				in[w.l] = w.data
			}
			flowDots(nb, in, d, returns, out)
			forStmts(nb, func(s ir.Stmt) {
				for _, w := range writes(s, nil, nil) {
					cur[w.l] = d[w.l]
				}
			})
		}
		for _, w := range ws {
			cur[w.l] = w.data
		}
		if scan != nil { // after the scan: its last element, or none
			cur[scan.Key], cur[scan.Value] = d[scan.Key], d[scan.Value]
		}
	}
}
