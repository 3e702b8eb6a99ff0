package tokens

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// TestStreamCounterChunking feeds every vector (and long concatenations)
// in random chunks, including chunks that split UTF-8 sequences, and
// checks that the streamed count equals the count of the whole text.
func TestStreamCounterChunking(t *testing.T) {
	vectors := loadVectors(t)
	var all strings.Builder
	for _, v := range vectors {
		all.WriteString(v.Text)
	}
	texts := []string{all.String(), strings.Repeat("x \n  ", 500), strings.Repeat("ªAB", 400) + "c", "bad \xff\xe2\x82 utf8 " + strings.Repeat("\xe2\x82\xac", 300) + "\xe2"}
	for _, v := range vectors {
		texts = append(texts, v.Text)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"cl100k_base", "o200k_base", "r50k_base"} {
		enc := mustGet(t, name)
		t.Run(name, func(t *testing.T) {
			for _, text := range texts {
				want := enc.Count(text)
				for round := 0; round < 3; round++ {
					sc := enc.NewStreamCounter()
					for rest := text; rest != ""; {
						n := min(len(rest), 1+rng.IntN(40))
						if round == 2 {
							n = 1 // byte by byte
						}
						sc.WriteString(rest[:n])
						rest = rest[n:]
					}
					if got := sc.Count(); got != want {
						t.Fatalf("round %d: streamed count %d, Count %d, text %.80q", round, got, want, text)
					}
				}
			}
		})
	}
}

func TestChatStreamCounter(t *testing.T) {
	enc := mustGet(t, "o200k_base")
	idx0, idx1 := 0, 1
	chunks := []wire.ChatCompletionChunk{
		{Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{Role: "assistant", Content: "Hel"}}}},
		{Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{Content: "lo, wor"}}, {Index: 1, Delta: wire.Delta{Content: "Bye"}}}},
		{Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{Content: "ld!"}}}},
		{Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &idx0, ID: "c1", Type: "function", Function: wire.FunctionCall{Name: "get_weather", Arguments: `{"ci`}}}}}}},
		{Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &idx0, Function: wire.FunctionCall{Arguments: `ty":"Paris"}`}}, {Index: &idx1, Function: wire.FunctionCall{Name: "f", Arguments: "{}"}}}}}}},
		{Choices: []wire.ChunkChoice{{Index: 1, Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &idx0, ID: "c2", Type: "custom", Custom: &wire.CustomCall{Name: "apply_patch", Input: "*** Begin"}}}}}}},
		{Choices: []wire.ChunkChoice{{Index: 1, Delta: wire.Delta{ToolCalls: []wire.ToolCall{{Index: &idx0, Custom: &wire.CustomCall{Input: " Patch"}}}}}}},
	}
	c := enc.NewChatStreamCounter()
	for i := range chunks {
		c.Add(&chunks[i])
	}
	want := enc.Count("Hello, world!") + enc.Count("Bye") +
		toolCallOverhead + enc.Count("get_weather") + enc.Count(`{"city":"Paris"}`) +
		toolCallOverhead + enc.Count("f") + enc.Count("{}") +
		toolCallOverhead + enc.Count("apply_patch") + enc.Count("*** Begin Patch")
	if got := c.CompletionTokens(); got != want {
		t.Errorf("CompletionTokens = %d, want %d", got, want)
	}
}

// TestChatStreamCounterReasoning: reasoning text is counted per choice,
// streamed in pieces, as a text of its own: its tokens do not merge with
// the content's.
func TestChatStreamCounterReasoning(t *testing.T) {
	enc := mustGet(t, "o200k_base")
	c := enc.NewChatStreamCounter()
	content := func(s string) {
		c.Add(&wire.ChatCompletionChunk{Choices: []wire.ChunkChoice{{Index: 0, Delta: wire.Delta{Content: s}}}})
	}
	c.AddReasoning(0, "I will answer in Eng")
	content("Hel")
	c.AddReasoning(1, "Other choice")
	c.AddReasoning(0, "")
	c.AddReasoning(0, "lish.")
	content("lo world")
	want := enc.Count("I will answer in English.") + enc.Count("Hello world") + enc.Count("Other choice")
	if got := c.CompletionTokens(); got != want {
		t.Errorf("CompletionTokens = %d, want %d", got, want)
	}
	if merged := enc.Count("I will answer in Eng"+"Hel"+"lish."+"lo world") + enc.Count("Other choice"); merged == want {
		t.Fatal("the test's texts do not tell separate counting from merged")
	}
}

// TestConcurrent exercises Count, Encode and a shared StreamCounter from
// several goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	enc := mustGet(t, "cl100k_base")
	vectors := loadVectors(t)
	sc := enc.NewStreamCounter()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, v := range vectors {
				if got := enc.Count(v.Text); got != len(v.Cl100k) {
					t.Errorf("Count(%q) = %d, want %d", v.Text, got, len(v.Cl100k))
				}
				sc.WriteString("word ")
			}
		}()
	}
	wg.Wait()
	if got, want := sc.Count(), enc.Count(strings.Repeat("word ", 4*len(vectors))); got != want {
		t.Errorf("shared StreamCounter = %d, want %d", got, want)
	}
}

func TestGetErrors(t *testing.T) {
	if _, err := Get("gpt2"); err == nil {
		t.Error("Get(gpt2): no error")
	}
	enc, err := ForModel("unknown-model")
	if err != nil || enc.Name() != "o200k_base" {
		t.Errorf("ForModel(unknown) = %v, %v; want o200k_base", enc, err)
	}
	if _, err := enc.Decode([]int{-1}); err == nil {
		t.Error("Decode(-1): no error")
	}
	if s, err := enc.Decode([]int{199999}); err != nil || s != "<|endoftext|>" {
		t.Errorf("Decode(endoftext) = %q, %v", s, err)
	}
}

// TestMaxTokens checks that MaxTokens bounds Count for every encoding, and
// that the bounds of deltas bound the count of their concatenation, on the
// vectors split at random (UTF-8 sequences cut included) and on invalid
// UTF-8.
func TestMaxTokens(t *testing.T) {
	texts := []string{"", "a", "\xff", "\xe2\x82", "bad \xff\xe2\x82 utf8 " + strings.Repeat("\xe2\x82\xac", 30) + "\xe2",
		strings.Repeat("\xff", 50), strings.Repeat("ª", 99), "🎉🎉 x"}
	for _, v := range loadVectors(t) {
		texts = append(texts, v.Text)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for name := range specs {
		enc := mustGet(t, name)
		for _, text := range texts {
			if got, bound := enc.Count(text), MaxTokens(text); got > bound {
				t.Fatalf("%s: Count %d > MaxTokens %d for %.80q", name, got, bound, text)
			}
			sum := 0
			for rest := text; rest != ""; {
				n := min(len(rest), 1+rng.IntN(7))
				sum += MaxTokens(rest[:n])
				rest = rest[n:]
			}
			if got := enc.Count(text); got > sum {
				t.Fatalf("%s: Count %d > sum of the deltas' MaxTokens %d for %.80q", name, got, sum, text)
			}
		}
	}
}
