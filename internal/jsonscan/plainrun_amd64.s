//go:build !purego

#include "textflag.h"

// Sixteen copies of '"', of '\\' and of ' ' (0x20).
DATA quotes<>+0(SB)/8, $0x2222222222222222
DATA quotes<>+8(SB)/8, $0x2222222222222222
GLOBL quotes<>(SB), RODATA|NOPTR, $16
DATA backslashes<>+0(SB)/8, $0x5c5c5c5c5c5c5c5c
DATA backslashes<>+8(SB)/8, $0x5c5c5c5c5c5c5c5c
GLOBL backslashes<>(SB), RODATA|NOPTR, $16
DATA spaces<>+0(SB)/8, $0x2020202020202020
DATA spaces<>+8(SB)/8, $0x2020202020202020
GLOBL spaces<>(SB), RODATA|NOPTR, $16

// func plainRunVec(s []byte, i int) int
//
// Each block of sixteen bytes is compared with '"' and '\\' for equality,
// and 0x20 is compared greater than it as signed bytes, which holds for a
// control byte and for every byte of 0x80 or more (negative when signed).
// PMOVMSKB gathers the sixteen results into the low bits of a word, whose
// lowest set bit is the first byte that needs a look.
TEXT ·plainRunVec(SB), NOSPLIT, $0-40
	MOVQ s_base+0(FP), SI
	MOVQ s_len+8(FP), DX
	MOVQ i+24(FP), AX
	MOVOU quotes<>(SB), X4
	MOVOU backslashes<>(SB), X5
	MOVOU spaces<>(SB), X6
	SUBQ $16, DX // the last index a block may start at

loop:
	CMPQ AX, DX
	JGT  done
	MOVOU (SI)(AX*1), X0
	MOVO X0, X1
	PCMPEQB X4, X1
	MOVO X0, X2
	PCMPEQB X5, X2
	MOVO X6, X3
	PCMPGTB X0, X3
	POR X1, X2
	POR X2, X3
	PMOVMSKB X3, BX
	TESTL BX, BX
	JNZ found
	ADDQ $16, AX
	JMP loop

found:
	BSFL BX, BX
	ADDQ BX, AX

done:
	MOVQ AX, ret+32(FP)
	RET
