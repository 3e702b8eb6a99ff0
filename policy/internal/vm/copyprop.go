package vm

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Assignments the planner adds after a statement producing a value (Dot,
// Call, Len) copy it from the local the statement writes to the local the
// rule reads: x := a.b plans as Dot to t, then AssignVar t to x. When
// nothing else reads t, the statement writes x itself and the copy goes;
// likewise a Scan's key and value copied at the start of its body.

// elide removes such copies from a compiled function (or plan) whose
// result is local ret (-1 for a plan) and whose parameters are params.
func elide(blocks []block, ret int32, params []int32, builtins []builtin) {
	// Each block of a function is a rule body; the planner reuses local
	// numbers from one to the next. A local's value may be elided when the
	// copy is its only read in its block, and every other block writes it
	// before reading it (at its top level), if it reads it at all.
	var k int // the block being rewritten
	perBlock := make([]map[int32]int, len(blocks))
	for i, b := range blocks {
		perBlock[i] = readsOf(b)
	}
	// deadAfter reports whether local t, read once in block k (by the
	// statement eliding it), is read nowhere else.
	deadAfter := func(t int32) bool {
		if perBlock[k][t] != 1 {
			return false
		}
		for i := range blocks {
			if i != k && perBlock[i][t] > 0 && liveIn(blocks[i], t) {
				return false
			}
		}
		return !(t == ret || slices.Contains(params, t))
	}
	// copied reports whether the statement at b[i] is the only read of
	// local t, copying it into another local.
	copied := func(b block, i int, t int32) bool {
		return i < len(b) && b[i].op == opAssign && b[i].a.c == nil && b[i].a.l == t && b[i].dst != t && deadAfter(t)
	}
	var rewrite func(b block) block
	rewrite = func(b block) block {
		out := b[:0]
		for i := 0; i < len(b); i++ {
			in := b[i]
			for j := range in.blocks {
				in.blocks[j] = rewrite(in.blocks[j])
			}
			switch in.op {
			case opDot, opCallFunc, opLen, opCallBuiltin, opObjectGetPath:
				if in.op == opCallBuiltin && builtins[in.n].void {
					break // writes nothing: the copy makes its target undefined
				}
				if copied(b, i+1, in.dst) {
					in.dst = b[i+1].dst
					i++
				}
			case opMakeArrayOf:
				if j := pathCall(b, i, in, builtins, deadAfter); j > 0 {
					// The elements are checked here, read at the call.
					b[j].op, b[j].pathOf = opObjectGetPath, in.args
					in = instr{op: opAllDefined, args: in.args}
				}
			case opScan:
				body := in.blocks[0]
				if copied(body, 0, in.dst) {
					in.dst = body[0].dst
					body = body[1:]
				}
				if in.dst2 != in.dst && copied(body, 0, in.dst2) && body[0].dst != in.dst {
					in.dst2 = body[0].dst
					body = body[1:]
				}
				in.blocks[0] = body
			}
			out = append(out, in)
		}
		return out
	}
	for i := range blocks {
		k = i
		blocks[i] = rewrite(blocks[i])
	}
}

// readsOf counts the reads of locals by the statements of b and the blocks
// in them.
func readsOf(b block) map[int32]int {
	reads := map[int32]int{}
	read := func(o operand) {
		if o.c == nil {
			reads[o.l]++
		}
	}
	var count func(b block)
	count = func(b block) {
		for i := range b {
			in := &b[i]
			switch in.op {
			case opReturn, opScan, opIsUndefined, opIsDefined, opResultSetAdd, opLen,
				opIsArray, opIsObject, opIsSet, opAssign:
				read(in.a)
			case opDot, opEqual, opNotEqual, opObjectMerge:
				read(in.a)
				read(in.b)
			case opWith, opAssignOnce, opArrayAppend, opSetAdd:
				read(in.a)
				reads[in.dst]++
			case opObjectInsert, opObjectInsertOnce:
				read(in.a)
				read(in.b)
				reads[in.dst]++
			}
			for _, a := range in.args {
				read(a)
			}
			for _, a := range in.dynPath {
				read(a)
			}
			for _, a := range in.pathOf {
				read(a)
			}
			for _, cb := range in.blocks {
				count(cb)
			}
		}
	}
	count(b)
	return reads
}

// defines returns the local a statement always writes when the block goes
// on after it.
func defines(in *instr) (int32, bool) {
	switch in.op {
	case opCallFunc, opCallBuiltin, opCallDynamic, opAssign, opDot, opLen, opMakeArray,
		opMakeObject, opMakeSet, opMakeArrayOf, opMakeObjectOf, opObjectMerge, opReset:
		return in.dst, true
	}
	return 0, false
}

// liveIn reports whether block b may read local t before writing it.
func liveIn(b block, t int32) bool {
	for j := range b {
		if readsOf(b[j : j+1])[t] > 0 {
			return true
		}
		if w, ok := defines(&b[j]); ok && w == t {
			return false
		}
	}
	return false
}

// pathCall returns the index in b of the object.get call reading the array
// b[i] (a MakeArrayOf) makes, when it is its path and its only use, and
// only constant assignments to other locals come between; 0 otherwise. The
// call then walks the path without the array being made.
func pathCall(b block, i int, mk instr, builtins []builtin, dead func(int32) bool) int {
	if !dead(mk.dst) {
		return 0
	}
	elem := func(l int32) bool {
		for _, a := range mk.args {
			if a.c == nil && a.l == l {
				return true
			}
		}
		return l == mk.dst
	}
	for j := i + 1; j < len(b); j++ {
		in := &b[j]
		switch {
		case in.op == opAssign && in.a.c != nil && !elem(in.dst):
			continue
		case in.op == opCallBuiltin && builtins[in.n].name == ast.ObjectGet.Name && len(in.args) == 3 &&
			in.args[1].c == nil && in.args[1].l == mk.dst &&
			(in.args[0].c != nil || in.args[0].l != mk.dst) && (in.args[2].c != nil || in.args[2].l != mk.dst):
			return j
		}
		return 0
	}
	return 0
}
