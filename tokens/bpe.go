package tokens

import "math"

const noRank = math.MaxUint32

// part is one symbol of a piece during byte-pair merging: where it starts
// and the rank of merging it with the next symbol.
type part struct {
	start int32
	rank  uint32
}

// merge runs tiktoken's byte-pair merge over piece (len >= 2) and returns
// the symbol boundaries: token k is piece[parts[k].start:parts[k+1].start].
// Like tiktoken, it repeatedly merges the adjacent pair whose merged bytes
// have the lowest rank, the leftmost such pair on ties. buf is scratch
// space reused when it is large enough.
func (e *Encoding) merge(piece string, buf []part) []part {
	parts := buf[:0]
	minRank, minIdx := uint32(noRank), -1
	for i := 0; i < len(piece)-1; i++ {
		r := e.rank(piece[i : i+2])
		if r < minRank {
			minRank, minIdx = r, i
		}
		parts = append(parts, part{int32(i), r})
	}
	parts = append(parts, part{int32(len(piece) - 1), noRank}, part{int32(len(piece)), noRank})

	rankAt := func(i int) uint32 {
		if i+3 < len(parts) {
			return e.rank(piece[parts[i].start:parts[i+3].start])
		}
		return noRank
	}
	for minRank != noRank {
		i := minIdx
		if i > 0 {
			parts[i-1].rank = rankAt(i - 1)
		}
		parts[i].rank = rankAt(i)
		parts = append(parts[:i+1], parts[i+2:]...)
		minRank, minIdx = noRank, -1
		for j, p := range parts[:len(parts)-1] {
			if p.rank < minRank {
				minRank, minIdx = p.rank, j
			}
		}
	}
	return parts
}

// rank returns the rank of the token whose bytes are b (not empty), or
// noRank.
func (e *Encoding) rank(b string) uint32 { return e.ranks.get(b) }

// countPiece returns the number of tokens of one pre-tokenizer piece.
func (e *Encoding) countPiece(piece string) int {
	if len(piece) == 1 {
		return 1
	}
	if e.rank(piece) != noRank {
		return 1
	}
	if len(piece) <= maxCachedPiece {
		if n, ok := e.cache.get(piece); ok {
			return n
		}
	}
	var buf [64]part
	n := len(e.merge(piece, buf[:])) - 1
	if len(piece) <= maxCachedPiece {
		e.cache.put(piece, n)
	}
	return n
}

// appendPiece appends the tokens of one piece to ids.
func (e *Encoding) appendPiece(ids []int, piece string) []int {
	if r := e.rank(piece); r != noRank {
		return append(ids, int(r))
	}
	var buf [64]part
	parts := e.merge(piece, buf[:])
	for k := 0; k+1 < len(parts); k++ {
		ids = append(ids, int(e.rank(piece[parts[k].start:parts[k+1].start])))
	}
	return ids
}
