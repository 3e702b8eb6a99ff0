package moderation

import (
	"bufio"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// The differential tests hold the current scan (Builtin.run, the skeleton
// builder and detectAll) to the reference kept in reference_test.go: for
// any text, complete or a stream window, the same skeleton, the same
// scores and the same findings in the same order.

// diffBuiltins are the configurations compared: the default, and one with
// user words, an allow list and disabled categories (so that the enabled
// filters and the cue-less user terms are exercised too).
func diffBuiltins(t testing.TB) []*Builtin {
	t.Helper()
	custom, err := NewBuiltin(Config{
		Words:   []Word{{Category: "harassment", Term: "frobnicat*"}, {Category: "illicit", Term: "zorgle blip", Weight: 0.3}},
		Allow:   []string{"kill"},
		Disable: []string{"pii/ip_address", "violence", "secret/jwt"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return []*Builtin{Default(), custom}
}

// checkSame compares the current scan of text with the reference's.
func checkSame(t testing.TB, bs []*Builtin, text string) {
	t.Helper()
	var sc scratch
	var rs refScratch
	for _, final := range []bool{true, false} {
		sc.sk.build(text, final)
		rs.sk.build(text, final)
		if string(sc.sk.b) != string(rs.sk.b) || !slices.Equal(sc.sk.off, rs.sk.off) || !slices.Equal(sc.sk.joined, rs.sk.joined) {
			t.Fatalf("skeleton(%q, final=%v):\n got %q %v %v\nwant %q %v %v", text, final,
				sc.sk.b, sc.sk.off, sc.sk.joined, rs.sk.b, rs.sk.off, rs.sk.joined)
		}
		for k, b := range bs {
			b.run(&sc, text, final)
			refRun(b, &rs, text, final)
			if sc.scores != rs.scores {
				t.Fatalf("builtin %d, run(%q, final=%v): scores\n got %v\nwant %v", k, text, final, sc.scores, rs.scores)
			}
			if !slices.Equal(sc.findings, rs.findings) {
				t.Fatalf("builtin %d, run(%q, final=%v): findings\n got %+v\nwant %+v", k, text, final, sc.findings, rs.findings)
			}
		}
	}
	sc.findings, rs.findings = sc.findings[:0], rs.findings[:0]
	sc.scores, rs.scores = Scores{}, Scores{}
	detectAll(&sc, text)
	refDetectAll(&rs, text)
	if !slices.Equal(sc.findings, rs.findings) || sc.scores != rs.scores {
		t.Fatalf("detectAll(%q):\n got %+v\nwant %+v", text, sc.findings, rs.findings)
	}
}

// diffPieces are the fragments random texts are made of: lexicon phrases,
// evasions, detector formats and near misses, separators and non-ASCII.
var diffPieces = []string{
	" ", " ", " ", "  ", "\n", "\t", ".", ",", "!", "?", "-", "_", ":", "::", "@", "<", "[", "(", ")", "+", "$", "|", "'",
	"the", "a", "an", "all", "of", "your", "please", "really", "so", "i", "u", "r", "k", "x", "e", "y", "J",
	"kill", "k i l l", "k.i.l.l", "you", "y o u", "will", "I will", "hate", "immigrants", "ignore", "previous",
	"instructions", "how to", "make", "meth", "bomb", "myself", "masturbating", "dismembered", "k1ll", "1gn0re",
	"а$$", "kіll", "уоu", "ß", "ｋｉｌｌ", "𝐤𝐢𝐥𝐥", "\u200b", "\u0301", "\u00ad", "日本", "é", "\xff", "\xe2\x80",
	"alice@example.com", "a@b.co", "x@y", "bob.smith+x@mail.co.uk.", "@user",
	"415-555-2671", "(415) 555-2671", "+44 20 7946 0958", "+1 (415) 555-2671", "020 7946 0958", "4155552671",
	"4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005", "12 25", "1.2.3",
	"DE89370400440532013000", "GB82 WEST 1234 5698 7654 32", "GB82", "DE89", "123-45-6789", "123 45 6789",
	"192.168.1.1", "10.0.0.256", "version 1.2.3.4", "2001:db8::1", "::1", "fe80::", "dead:beef::cafe", "a:b",
	"sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z", "sk-abcdefghijklmnopqrstuvwx", "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
	"AKIAIOSFODNN7EXAMPLE", "AKIAABCDEFGHIJKLMNOP", "AIzaSyA1234567890abcdefghijklmnopqrstu", "xoxb-1234-abcd-5678-efgh-90ij",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "eyJ", "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
	"<|im_start|>", "<|IM_END|>", "[INST]", "[/inst]", "<<SYS>>", "<b>", "[1]",
	"0", "1", "7", "42", "2024", "000", "999", "NASA", "API", "OK", "The", "We", "Please", "ABCD", "eyes", "deadbeef",
}

// randomText joins n random pieces, now and then splitting one to leave a
// partial token at either end.
func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		p := diffPieces[r.IntN(len(diffPieces))]
		if r.IntN(8) == 0 && len(p) > 1 {
			k := r.IntN(len(p))
			if r.IntN(2) == 0 {
				p = p[:k]
			} else {
				p = p[k:]
			}
		}
		b.WriteString(p)
	}
	return b.String()
}

// diffCorpus returns the fixed texts compared: the labelled set, the
// benchmark texts and their prefixes of every length up to 64 bytes.
func diffCorpus(t testing.TB) []string {
	t.Helper()
	f, err := os.Open("testdata/labelled.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if _, text, ok := strings.Cut(s.Text(), "\t"); ok {
			out = append(out, text)
		}
	}
	out = append(out, prompt4K, prompt4K[:1024], chat1K[0].Text, chat1K[1].Text)
	for n := range 64 {
		out = append(out, prompt4K[:n], prompt4K[len(prompt4K)-n:])
	}
	return out
}

func TestDifferential(t *testing.T) {
	bs := diffBuiltins(t)
	t.Run("corpus", func(t *testing.T) {
		for _, text := range diffCorpus(t) {
			checkSame(t, bs, text)
		}
	})
	t.Run("random", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		n := 3000
		if testing.Short() {
			n = 300
		}
		for range n {
			checkSame(t, bs, randomText(r, 1+r.IntN(40)))
		}
	})
	t.Run("bytes", func(t *testing.T) {
		// Short texts over a small alphabet of bytes that matter, every
		// string up to length 3 and random ones up to 24.
		const alpha = " a1A:@<[.-_+(eyJkil\x80é"
		var rec func(prefix string, n int)
		rec = func(prefix string, n int) {
			checkSame(t, bs, prefix)
			if n == 0 {
				return
			}
			for i := range len(alpha) {
				rec(prefix+alpha[i:i+1], n-1)
			}
		}
		rec("", 3)
		r := rand.New(rand.NewPCG(3, 4))
		for range 3000 {
			b := make([]byte, 1+r.IntN(24))
			for i := range b {
				b[i] = alpha[r.IntN(len(alpha))]
			}
			checkSame(t, bs, string(b))
		}
	})
}

// FuzzDifferential fuzzes the current scan against the reference.
func FuzzDifferential(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 30 {
		f.Add(randomText(r, 1+r.IntN(20)))
	}
	for _, p := range diffPieces {
		f.Add(p)
	}
	bs := diffBuiltins(f)
	f.Fuzz(func(t *testing.T, text string) {
		checkSame(t, bs, text)
	})
}
