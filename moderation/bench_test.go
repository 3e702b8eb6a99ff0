package moderation

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// prompt4K is a 4 KiB prompt of ordinary prose with a little personal data,
// the shape of a typical chat request.
var prompt4K = func() string {
	para := "Please review the following notes from our planning meeting and summarise the action items. " +
		"The team agreed to migrate the billing service to the new cluster before the end of the quarter, " +
		"and Alice (alice@example.com) will coordinate with the vendor. We should kill the old cron jobs " +
		"once the migration is verified, and keep the runbook at version 1.2.3 up to date. "
	var b strings.Builder
	for b.Len() < 4096 {
		b.WriteString(para)
	}
	return b.String()[:4096]
}()

var sinkBool bool
var sinkScores Scores

func BenchmarkModerate4KiB(b *testing.B) {
	m := Default()
	text := prompt4K
	b.Run("baseline=lower+contains", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			sinkBool = strings.Contains(strings.ToLower(text), "kill you")
		}
	})
	email := regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)
	b.Run("baseline=regexp-email", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			sinkBool = email.MatchString(text)
		}
	})
	b.Run("builtin-score", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			sinkScores = m.Score(text)
		}
	})
	b.Run("builtin-moderate", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		in := []Input{{Text: text}}
		ctx := context.Background()
		for b.Loop() {
			res, _ := m.Moderate(ctx, in)
			sinkBool = res[0].Flagged
		}
	})
}

// chat1K is a chat-sized request's text, the shape the gateway moderates
// per request: a short system message and a user message of ordinary
// prose, about 1 KiB together.
var chat1K = func() []Input {
	sentences := []string{
		"Could you summarise the notes below from this week's product sync? ",
		"We looked at the roadmap for the coming quarter and settled on three goals. ",
		"The payments backend moves onto the new database cluster before the month ends. ",
		"The mobile app gains offline reading for articles that users have saved. ",
		"Two platform engineers and a designer will join the team in the spring. ",
		"Customers keep asking for richer exports, so the reports page will offer spreadsheets. ",
		"Support tickets rose by nine percent, mostly about invoices and refunds. ",
		"Last Tuesday a configuration change slowed down the search index for an hour. ",
		"A fix has shipped and a checklist for configuration changes is being drafted. ",
	}
	var b strings.Builder
	for i := 0; b.Len() < 1024-45; i++ {
		b.WriteString(sentences[i%len(sentences)])
	}
	user := b.String()[:1024-45]
	return []Input{{Text: "You are a helpful assistant. Answer briefly."}, {Text: user}}
}()

// BenchmarkModerate1KiB measures input moderation of a chat-sized request
// as the middleware does it (Score per message) and as /v1/moderations
// does it (Moderate, with the result maps).
func BenchmarkModerate1KiB(b *testing.B) {
	m := Default()
	n := 0
	for _, in := range chat1K {
		n += len(in.Text)
	}
	b.Run("baseline=lower+contains", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			for _, in := range chat1K {
				sinkBool = strings.Contains(strings.ToLower(in.Text), "kill you")
			}
		}
	})
	b.Run("builtin-score", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(n))
		for b.Loop() {
			for _, in := range chat1K {
				sinkScores = m.Score(in.Text)
			}
		}
	})
	b.Run("builtin-moderate", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(n))
		ctx := context.Background()
		for b.Loop() {
			res, _ := m.Moderate(ctx, chat1K)
			sinkBool = res[1].Flagged
		}
	})
}

// BenchmarkStreamChunk measures the cost per delta of a StreamFilter fed a
// 4 KiB answer in 16-byte chunks (a few tokens each).
func BenchmarkStreamChunk(b *testing.B) {
	const chunk = 16
	// An answer without personal data, so the filter never cuts.
	text := strings.ReplaceAll(prompt4K, "alice@example.com", "her usual address")
	chunks := make([]string, 0, len(text)/chunk)
	for i := 0; i+chunk <= len(text); i += chunk {
		chunks = append(chunks, text[i:i+chunk])
	}
	ctx := context.Background()
	b.Run("baseline=lower+contains-window", func(b *testing.B) {
		b.ReportAllocs()
		var window []byte
		i := 0
		for b.Loop() {
			window = append(window, chunks[i%len(chunks)]...)
			if len(window) > 320 {
				window = append(window[:0], window[len(window)-320:]...)
			}
			sinkBool = strings.Contains(strings.ToLower(string(window)), "kill you")
			i++
		}
	})
	b.Run("filter", func(b *testing.B) {
		b.ReportAllocs()
		f := NewStreamFilter(StreamConfig{})
		i := 0
		for b.Loop() {
			d, _ := f.Write(ctx, chunks[i%len(chunks)])
			sinkBool = d.Cut
			i++
		}
	})
}

// BenchmarkScoreAtSigns scores text made only of "a@", at two sizes: the
// e-mail detector looks around every '@', and the time per byte must not
// grow with the text (it did, quadratically, until the last dot of a
// domain was searched for within the domain only). The baseline is the
// same sizes of prose.
func BenchmarkScoreAtSigns(b *testing.B) {
	m := Default()
	for _, n := range []int{16 << 10, 64 << 10} {
		for _, tc := range []struct{ name, unit string }{{"at-signs", "a@"}, {"baseline=prose", prompt4K}} {
			text := strings.Repeat(tc.unit, n/len(tc.unit)+1)[:n]
			b.Run(tc.name+"/"+strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					sinkScores = m.Score(text)
				}
			})
		}
	}
}
