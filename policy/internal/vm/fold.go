package vm

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/ir"
)

// Constant folding. The planner builds every composite literal of a policy
// at run time: MakeArray then one ArrayAppend per element (likewise objects
// and sets), the elements often constants or locals holding constants
// (MakeNumberRef). When a composite local is built only there from
// constants, Compile builds it once and the plan assigns the prebuilt term,
// which is never mutated: nothing else in its function writes into it.

// usage counts, for the locals of one function or plan, the statements that
// write them (as a target) and that mutate the composite they hold.
type usage struct {
	writes map[ir.Local]int
	muts   map[ir.Local]int
	makes  map[ir.Local]int
}

func newUsage(blocks []*ir.Block) *usage {
	u := &usage{writes: map[ir.Local]int{}, muts: map[ir.Local]int{}, makes: map[ir.Local]int{}}
	for _, b := range blocks {
		u.block(b)
	}
	return u
}

func (u *usage) block(b *ir.Block) {
	for _, s := range b.Stmts {
		u.stmt(s)
	}
}

func (u *usage) stmt(s ir.Stmt) {
	switch s := s.(type) {
	case *ir.CallStmt:
		u.writes[s.Result]++
	case *ir.CallDynamicStmt:
		u.writes[s.Result]++
	case *ir.BlockStmt:
		for _, b := range s.Blocks {
			u.block(b)
		}
	case *ir.WithStmt:
		u.writes[s.Local]++
		u.block(s.Block)
	case *ir.AssignVarStmt:
		u.writes[s.Target]++
	case *ir.AssignVarOnceStmt:
		u.writes[s.Target]++
	case *ir.AssignIntStmt:
		u.writes[s.Target]++
	case *ir.ScanStmt:
		u.writes[s.Key]++
		u.writes[s.Value]++
		u.block(s.Block)
	case *ir.NotStmt:
		u.block(s.Block)
	case *ir.DotStmt:
		u.writes[s.Target]++
	case *ir.LenStmt:
		u.writes[s.Target]++
	case *ir.MakeNullStmt:
		u.writes[s.Target]++
	case *ir.MakeNumberIntStmt:
		u.writes[s.Target]++
	case *ir.MakeNumberRefStmt:
		u.writes[s.Target]++
	case *ir.MakeArrayStmt:
		u.writes[s.Target]++
		u.makes[s.Target]++
	case *ir.MakeObjectStmt:
		u.writes[s.Target]++
		u.makes[s.Target]++
	case *ir.MakeSetStmt:
		u.writes[s.Target]++
		u.makes[s.Target]++
	case *ir.ResetLocalStmt:
		u.writes[s.Target]++
	case *ir.ArrayAppendStmt:
		u.muts[s.Array]++
	case *ir.ObjectInsertStmt:
		u.muts[s.Object]++
	case *ir.ObjectInsertOnceStmt:
		u.muts[s.Object]++
	case *ir.SetAddStmt:
		u.muts[s.Set]++
	case *ir.ObjectMergeStmt:
		u.writes[s.Target]++
	}
}

// foldable reports whether the function only ever mutates composites it
// made itself, the condition for sharing folded constants.
func (u *usage) foldable() bool {
	for l := range u.muts {
		if u.makes[l] == 0 {
			return false
		}
	}
	return true
}

// foldBlock replaces, in a compiled block, each composite built from
// constants by the assignment of a prebuilt constant.
func (c *compiler) foldBlock(b block) block {
	u := c.use
	if u == nil || !c.fold {
		return b
	}
	known := map[int32]*ast.Term{} // locals holding a constant at this point of b
	constant := func(o operand) *ast.Term {
		if o.c != nil {
			return o.c
		}
		return known[o.l]
	}
	out := b[:0:0]
	for i := 0; i < len(b); i++ {
		in := b[i]
		// Operands that are locals holding a constant read the constant.
		for _, o := range []*operand{&in.a, &in.b} {
			if o.c == nil {
				if t := known[o.l]; t != nil && in.op != opReturn && in.op != opIsDefined && in.op != opIsUndefined && in.op != opResultSetAdd && in.op != opScan && in.op != opObjectMerge {
					o.c = t
				}
			}
		}
		if in.op == opCallBuiltin || in.op == opCallFunc {
			args := slices.Clone(in.args)
			for j, a := range args {
				if a.c == nil && known[a.l] != nil {
					args[j].c = known[a.l]
				}
			}
			in.args = args
			if in.op == opCallBuiltin && c.prog.builtins[in.n].name == ast.GlobMatch.Name && len(args) == 3 && args[1].c != nil {
				in.glob = &globCache{}
			}
		}
		switch in.op {
		case opAssign:
			if in.a.c != nil && u.writes[ir.Local(in.dst)] == 1 {
				known[in.dst] = in.a.c
			}
		case opMakeArray, opMakeObject, opMakeSet:
			l := in.dst
			var elems [][2]*ast.Term
			j := i + 1
			for ; j < len(b); j++ {
				m := b[j]
				if m.dst != l || !(m.op == opArrayAppend && in.op == opMakeArray ||
					m.op == opObjectInsert && in.op == opMakeObject || m.op == opSetAdd && in.op == opMakeSet) {
					break
				}
				k, v := constant(m.a), constant(m.b)
				if k == nil || m.op == opObjectInsert && v == nil {
					break
				}
				elems = append(elems, [2]*ast.Term{k, v})
			}
			if u.writes[ir.Local(l)] != 1 || u.muts[ir.Local(l)] != len(elems) {
				break
			}
			var t *ast.Term
			switch in.op {
			case opMakeArray:
				arr := make([]*ast.Term, len(elems))
				for i, e := range elems {
					arr[i] = e[0]
				}
				t = ast.ArrayTerm(arr...)
			case opMakeObject:
				obj := ast.NewObjectWithCapacity(len(elems))
				for _, e := range elems {
					obj.Insert(e[0], e[1])
				}
				t = ast.NewTerm(obj)
			case opMakeSet:
				set := ast.NewSetWithCapacity(len(elems))
				for _, e := range elems {
					set.Add(e[0])
				}
				t = ast.NewTerm(set)
			}
			known[l] = t
			out = append(out, instr{op: opAssign, a: operand{c: t}, dst: l})
			i = j - 1
			continue
		}
		out = append(out, in)
	}
	return out
}
