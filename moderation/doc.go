// Package moderation classifies text in OpenAI's omni-moderation shape:
// the 13 OpenAI categories plus llmgate's detectors for personal data
// (pii/*), secrets (secret/*) and prompt injection. It offers a built-in
// moderator that needs no network (a weighted lexicon behind an
// anti-evasion normaliser, and checksum-validated detectors), an adapter
// to any OpenAI-compatible /v1/moderations, a combinator, a stream filter
// for output moderation and a local /v1/moderations handler.
//
//	m := moderation.Default()
//	res, _ := m.Moderate(ctx, []moderation.Input{{Text: prompt}})
//	if res[0].Flagged { … moderation.FlaggedCategories(res[0]) … }
//	clean, findings := m.Redact("mail me at bob@example.com") // "mail me at [REDACTED:pii/email]"
//	http.Handle("/v1/moderations", moderation.Handler(m))
//
// The built-in moderator is a fast baseline, not a model; see README.md for
// its measured precision and recall. Everything here is safe for
// concurrent use unless its doc says otherwise; the core never imports
// net/http except Remote and Handler.
package moderation
