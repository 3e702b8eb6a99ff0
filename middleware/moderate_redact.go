package middleware

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// RedactInput redacts the spans of categories (wire names of pii/* and
// secret/* categories, or "pii/*" and "secret/*") from the text of r's
// call — message contents, text parts, tool and function call arguments,
// completion prompts and suffix — replacing each with
// "[REDACTED:<category>]". It patches the raw body the handler receives
// (every other byte stays as sent), the parsed request, and the prompt
// token count when Count ran. b finds the spans; nil means
// moderation.Default(). It returns the number of spans redacted.
//
// It is the hook for a policy "redact" decision (policy.Decision.Redact):
// Policy runs after Moderate, so it calls RedactInput itself. Moderate's
// own Redact setting applies the same function before moderating.
// Call.InputModeration is not recomputed.
func RedactInput(r *http.Request, categories []string, b *moderation.Builtin) (int, error) {
	c := CallFrom(r.Context())
	if c == nil || (c.Chat == nil && c.Completion == nil) || len(categories) == 0 {
		return 0, nil
	}
	set, err := redactSet(categories)
	if err != nil {
		return 0, fmt.Errorf("middleware: redact: %w", err)
	}
	if b == nil {
		b = moderation.Default()
	}
	return redactCall(r, c, b, &set)
}

// redactSet parses category names and the pii/* and secret/* globs.
func redactSet(names []string) ([moderation.NumCategories]bool, error) {
	var set [moderation.NumCategories]bool
	for _, name := range names {
		if prefix, ok := strings.CutSuffix(name, "/*"); ok && (prefix == "pii" || prefix == "secret") {
			for _, cat := range moderation.Categories() {
				if strings.HasPrefix(cat.String(), prefix+"/") {
					set[cat] = true
				}
			}
			continue
		}
		cat, ok := moderation.ParseCategory(name)
		if !ok {
			return set, fmt.Errorf("unknown category %q", name)
		}
		if !cat.IsRedactable() {
			return set, fmt.Errorf("category %q cannot be redacted (only pii/* and secret/*)", name)
		}
		set[cat] = true
	}
	return set, nil
}

// redactText replaces the spans of the categories in set with
// "[REDACTED:<category>]" and returns the new text and the number of
// spans replaced.
func redactText(b *moderation.Builtin, set *[moderation.NumCategories]bool, text string) (string, int) {
	if text == "" {
		return text, 0
	}
	var out strings.Builder
	pos, n := 0, 0
	for _, f := range b.Scan(text) { // ordered by start, longest first
		if !set[f.Category] {
			continue
		}
		if f.Start < pos { // overlaps the span just redacted: extend it
			pos = max(pos, f.End)
			continue
		}
		if n == 0 {
			out.Grow(len(text))
		}
		out.WriteString(text[pos:f.Start])
		out.WriteString("[REDACTED:")
		out.WriteString(f.Category.String())
		out.WriteByte(']')
		pos = f.End
		n++
	}
	if n == 0 {
		return text, 0
	}
	out.WriteString(text[pos:])
	return out.String(), n
}

// redactCall redacts the call's text in the parsed request and in the raw
// body, and recounts the prompt tokens.
func redactCall(r *http.Request, c *Call, b *moderation.Builtin, set *[moderation.NumCategories]bool) (int, error) {
	n := 0
	fn := func(s string) (string, bool) {
		out, k := redactText(b, set, s)
		n += k
		return out, k > 0
	}
	if c.Chat != nil {
		for i := range c.Chat.Messages {
			redactMessage(&c.Chat.Messages[i], fn)
		}
	} else {
		p := &c.Completion.Prompt
		for i := range p.Texts {
			p.Texts[i], _ = fn(p.Texts[i])
		}
		c.Completion.Suffix, _ = fn(c.Completion.Suffix)
	}
	if n == 0 {
		return 0, nil
	}
	// The raw body gets the same function: it is deterministic, so the
	// handler sees what the parsed request says.
	raw, err := patchStrings(c.Raw, c.Chat != nil, func(s string) (string, bool) {
		out, k := redactText(b, set, s)
		return out, k > 0
	})
	if err != nil {
		return 0, fmt.Errorf("middleware: redact: %w", err)
	}
	c.Raw = raw
	r.Body = newBodyReader(raw)
	r.ContentLength = int64(len(raw))
	r.GetBody = func() (io.ReadCloser, error) { return newBodyReader(raw), nil }
	if c.Encoding != nil {
		if c.Chat != nil {
			c.PromptTokens = tokens.CountChat(c.Encoding, c.Chat, nil)
		} else {
			c.PromptTokens = tokens.CountPrompt(c.Encoding, c.Completion)
		}
	}
	return n, nil
}

// redactMessage applies fn to the text of msg that callInputs moderates,
// refusals aside.
func redactMessage(msg *wire.Message, fn func(string) (string, bool)) {
	if msg.Content.IsParts() {
		for k := range msg.Content.Parts {
			msg.Content.Parts[k].Text, _ = fn(msg.Content.Parts[k].Text)
		}
	} else if msg.Content.IsText() {
		if s, ok := fn(msg.Content.Text); ok {
			msg.Content = wire.TextContent(s)
		}
	}
	for k := range msg.ToolCalls {
		tc := &msg.ToolCalls[k]
		tc.Function.Arguments, _ = fn(tc.Function.Arguments)
		if tc.Custom != nil {
			tc.Custom.Input, _ = fn(tc.Custom.Input)
		}
	}
	if msg.FunctionCall != nil {
		msg.FunctionCall.Arguments, _ = fn(msg.FunctionCall.Arguments)
	}
}

// patchStrings returns raw with fn applied to the strings redactMessage
// visits: in messages[*] (chat) the content string, content[*].text,
// tool_calls[*].function.arguments, tool_calls[*].custom.input and
// function_call.arguments; in a
// completions body the prompt string(s) and suffix. Other bytes are kept.
func patchStrings(raw []byte, chat bool, fn func(string) (string, bool)) ([]byte, error) {
	d := newScanner(raw)
	var sp []modSplice
	str := func() error { // the value at d.i, when it is a string
		if d.peek() != '"' {
			return d.skip()
		}
		start := d.i
		s, err := d.str()
		if err != nil {
			return err
		}
		if out, ok := fn(s); ok {
			sp = append(sp, modSplice{start, d.i, wire.AppendString(nil, out)})
		}
		return nil
	}
	// member walks an object calling visit for each key; visit must
	// consume the value.
	member := func(visit func(key string) error) error {
		if d.peek() != '{' {
			return d.skip()
		}
		for n := 0; ; n++ {
			key, more, err := d.obj(n)
			if err != nil || !more {
				return err
			}
			if err := visit(key); err != nil {
				return err
			}
		}
	}
	each := func(visit func() error) error {
		if d.peek() != '[' {
			return d.skip()
		}
		for n := 0; ; n++ {
			more, err := d.arr(n)
			if err != nil || !more {
				return err
			}
			if err := visit(); err != nil {
				return err
			}
		}
	}
	args := func(key string) error {
		if key == "arguments" {
			return str()
		}
		return d.skip()
	}
	input := func(key string) error {
		if key == "input" {
			return str()
		}
		return d.skip()
	}
	message := func(key string) error {
		switch key {
		case "content":
			if d.peek() == '[' {
				return each(func() error {
					return member(func(k string) error {
						if k == "text" {
							return str()
						}
						return d.skip()
					})
				})
			}
			return str()
		case "tool_calls":
			return each(func() error {
				return member(func(k string) error {
					switch k {
					case "function":
						return member(args)
					case "custom":
						return member(input)
					}
					return d.skip()
				})
			})
		case "function_call":
			return member(args)
		}
		return d.skip()
	}
	err := member(func(key string) error {
		switch {
		case chat && key == "messages":
			return each(func() error { return member(message) })
		case !chat && key == "prompt" && d.peek() == '[':
			return each(str)
		case !chat && (key == "prompt" || key == "suffix"):
			return str()
		}
		return d.skip()
	})
	if err != nil {
		return nil, err
	}
	return applySplices(raw, sp), nil
}

// modSplice replaces raw[start:end] with value.
type modSplice struct {
	start, end int
	value      []byte
}

// applySplices returns a copy of raw with the splices, which must be
// ordered and disjoint, applied.
func applySplices(raw []byte, sp []modSplice) []byte {
	size := len(raw)
	for _, s := range sp {
		size += len(s.value) - (s.end - s.start)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, s := range sp {
		out = append(out, raw[prev:s.start]...)
		out = append(out, s.value...)
		prev = s.end
	}
	return append(out, raw[prev:]...)
}
