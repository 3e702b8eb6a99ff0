package vm

// Assignments the planner adds after a statement producing a value (Dot,
// Call, Len) copy it from the local the statement writes to the local the
// rule reads: x := a.b plans as Dot to t, then AssignVar t to x. When
// nothing else reads t, the statement writes x itself and the copy goes;
// likewise a Scan's key and value copied at the start of its body.

// elide removes such copies from a compiled function (or plan) whose
// result is local ret (-1 for a plan) and whose parameters are params.
func elide(blocks []block, ret int32, params []int32, builtins []builtin) {
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
			for _, cb := range in.blocks {
				count(cb)
			}
		}
	}
	for _, b := range blocks {
		count(b)
	}
	reads[ret]++
	for _, p := range params {
		reads[p]++
	}
	// copied reports whether the statement at b[i] is the only read of
	// local t, copying it into another local.
	copied := func(b block, i int, t int32) bool {
		return i < len(b) && b[i].op == opAssign && b[i].a.c == nil && b[i].a.l == t && b[i].dst != t && reads[t] == 1
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
			case opDot, opCallFunc, opLen, opCallBuiltin:
				if in.op == opCallBuiltin && builtins[in.n].void {
					break // writes nothing: the copy makes its target undefined
				}
				if copied(b, i+1, in.dst) {
					in.dst = b[i+1].dst
					i++
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
		blocks[i] = rewrite(blocks[i])
	}
}
