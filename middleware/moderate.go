package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/moderation"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// InputMode says what Moderate does with the request's text.
type InputMode uint8

// Input modes. The zero value, InputBlock, is the default.
const (
	// InputBlock moderates every message and refuses a flagged request
	// with 400 content_policy_violation naming the flagged categories.
	InputBlock InputMode = iota
	// InputAnnotate moderates every message and only records the verdict
	// on Call.InputModeration, leaving the decision to a later layer
	// (Policy reads it as input.moderation).
	InputAnnotate
	// InputOff does not look at the request.
	InputOff
)

// OutputMode says what Moderate does with the response.
type OutputMode uint8

// Output modes. The zero value, OutputFilter, is the default.
const (
	// OutputFilter moderates the completion text before the client sees
	// it: a flagged choice of a JSON response is withheld, a stream is
	// cut before the flagged text.
	OutputFilter OutputMode = iota
	// OutputOff passes the response through untouched.
	OutputOff
)

// ErrContentFiltered is the error Moderate's ResponseWriter returns from
// Write once it has cut a stream (or given up on an oversized body), so
// that the handler stops generating. A handler may test for it with
// errors.Is; httputil.ReverseProxy treats any write error as the end of
// the response.
var ErrContentFiltered = errors.New("middleware: response stopped by the content filter")

// ModerateConfig configures Moderate. The zero value moderates input and
// output with the built-in moderator and blocks flagged requests.
type ModerateConfig struct {
	// Moderator scores the request's messages and the completions.
	// Default: moderation.Default().
	Moderator moderation.Moderator
	// Input is what happens to the request. Default: InputBlock.
	Input InputMode
	// Output is what happens to the response. Default: OutputFilter.
	Output OutputMode
	// Redact lists the categories whose spans are replaced with
	// "[REDACTED:<category>]" in the request before it is moderated and
	// forwarded, instead of being flagged: wire names of pii/* and
	// secret/* categories, or the globs "pii/*" and "secret/*". Spans are
	// found by Redactor. Default: none.
	Redact []string
	// Redactor finds the spans to redact. Default: moderation.Default().
	Redactor *moderation.Builtin
	// Stream tunes the stream filter of streamed responses (hold-back,
	// context). Its Moderator defaults to Moderator.
	Stream moderation.StreamConfig
	// MaxBufferedBody bounds the non-streamed response body held to be
	// moderated, and the chunks of a streamed tool call held until it is
	// judged. A larger body is not sent: the client gets 502
	// upstream_error, since it could not be checked; a larger tool call
	// cuts the stream. Default: 16 MiB.
	MaxBufferedBody int
	// OnOutputFlagged, when set, is called with the verdict each time the
	// output filter withholds a choice or cuts a stream, on the handler's
	// goroutine (for audit logs and metrics). Default: nil.
	OnOutputFlagged func(r *http.Request, res wire.ModerationResult)
}

// Moderate is the moderation layer: input moderation before Policy and
// output moderation between the handler and the response tap. Create one
// with NewModerate; the zero value is not usable. It is safe for
// concurrent use.
//
// # Input
//
// Every message of a chat request is moderated, whatever its role
// (system, developer, user, assistant, tool, function): a client writes
// all of them, assistant turns included, so any of them can carry
// flagged text or an injection. A message's input is its text content
// (text parts joined with newlines), its refusal and the arguments of its
// tool and function calls; image parts are passed as ImageURLs (the
// built-in moderator ignores them). A completions request gets one input
// per prompt string (token prompts are decoded with the call's encoding
// when Count ran). Tool definitions are not moderated. The per-message
// verdicts are merged into Call.InputModeration: flagged if any message is,
// the highest score per category.
//
// With InputBlock a flagged request is refused with 400
// content_policy_violation whose message names the categories and the
// messages (never the matched text); with InputAnnotate it goes on and a
// later Policy layer decides. Redact categories are redacted first, so
// they neither flag nor reach the handler; Policy's own "redact" decision
// runs after this layer and applies through RedactInput.
//
// # Output
//
// A non-streamed chat or completions response (any 2xx but SSE, and any
// 2xx but JSON to a stream request, which is read as SSE below, as
// openai-go reads it whatever its Content-Type) is buffered and each
// choice's text moderated. A chat message's text is its content —
// a string, or an array of parts, of which every string but the "type"
// members is judged, joined with nothing as clients show them (text and
// refusal parts, Mistral's thinking parts) —, its refusal, and the
// reasoning it shows: reasoning_content (vLLM before 0.19.1, llama.cpp,
// DeepSeek) and reasoning (newer vLLM, Ollama). A flagged
// choice keeps its place, all of its text is withheld (null, or "" for
// completions), its logprobs become null (their tokens spell out the
// text) and its finish_reason becomes "content_filter", as OpenAI and
// Azure OpenAI report filtered output. The status stays 200, so clients
// such as openai-go receive a normal completion and read the finish
// reason, and the other choices survive. The arguments of the message's
// tool calls (and of a legacy function_call) are judged with its text, as
// a tool reads them: every JSON escape in them decoded, JSON or not; a
// flagged choice has its tool_calls withheld whole. A body the filter
// cannot judge (not a
// JSON object, invalid JSON, a text that is neither a string nor null — nor, for content, an
// array —, a choice with two contents or two reasoning members of one
// name, a member whose name differs only in case from one the filter
// reads) is replaced by a 502 envelope.
//
// A stream is filtered as it passes through a moderation.StreamFilter
// per choice: content is released with a small hold-back (chunk
// boundaries shift; a chunk that carried only held-back text is dropped;
// other fields of each chunk are kept byte for byte). A choice's
// reasoning deltas go through a filter of their own, under the member
// names the upstream used; what it holds back is judged as complete and
// released when the content or a tool call starts or the choice ends. A
// delta whose reasoning_content and reasoning differ is refused (clients
// read one or the other). Content sent as an array of parts (Mistral's thinking and
// text chunks) cannot be released in part, nor is a refusal held back:
// each such chunk is judged whole, with the content before it as
// context, and passes as it came or cuts the stream — so of a flagged
// phrase split across two of them, the first half has been sent when the
// second cuts. A tool call's arguments cannot be judged piece by piece
// (they are JSON text, whose escapes only the whole decodes): the chunks
// of a call are held until it is complete — the next call starts, the
// choice finishes or the stream ends — and judged whole, then sent as
// they came, or the stream is cut and the client gets none of the call
// (nor of what came while it was held). A client sees a call at once
// rather than piece by piece; at most MaxBufferedBody bytes are held. A
// piece of a call that comes after the call was judged complete cuts the
// stream, as do calls the filter cannot read (not an array of objects, a
// negative index).
// On a cut, the client gets one final, well-formed chunk whose choices end
// with finish_reason "content_filter" and which carries an OpenAI error
// envelope (content_policy_violation) in its "error" member — openai-go's
// stream reader surfaces it as an error — then "data: [DONE]"; the
// handler's next Write fails with ErrContentFiltered so it stops
// generating. The filter fails closed: a data event that it cannot read
// as a chunk (not a JSON object, NaN, a choice index that is not an
// integer, content that is neither a string nor null, a choice with two
// indices, deltas or contents, a member whose name differs only in case
// from one the filter reads, such as "Content", which encoding/json reads
// as content) cuts the stream the same way, with the envelope of an
// unavailable moderator. Events of every type are filtered, as openai-go
// reads any event but thread.* ones as a chunk, and keep their type; an
// upstream error event ({"error":…} without choices) passes.
//
// Logprobs are held back with the text they spell out: a logprob entry
// (chat: an element of logprobs.content; completions: a token's element
// of tokens, token_logprobs, top_logprobs and text_offset) goes out in
// the chunk that releases the last byte of its token, so a token that
// straddles a release point waits for all of its text; entries whose text
// is withheld on a cut are never sent. An entry covers the length of its
// "bytes" array, or else of its token (a legacy "bytes:\xe2\x80" token
// the bytes it lists). Logprobs of refusals, which are not moderated,
// pass with their chunk.
//
// # Billing
//
// Withheld text was generated, so it is billed: when the handler
// reported no usage and Count counted it from what the tap saw, Moderate
// adds the withheld completion tokens to Call.Usage in its OnEnd observer.
// This needs Count before Moderate (observers run in subscription order),
// as the documented chain has it. Tokens the handler generated after a cut
// were never read and are not counted.
type Moderate struct {
	cfg    ModerateConfig
	redact [moderation.NumCategories]bool
	anyRed bool
}

// NewModerate checks cfg and returns the layer. It fails on an unknown or
// non-redactable category in Redact.
func NewModerate(cfg ModerateConfig) (*Moderate, error) {
	if cfg.Moderator == nil {
		cfg.Moderator = moderation.Default()
	}
	if cfg.Redactor == nil {
		cfg.Redactor = moderation.Default()
	}
	if cfg.Stream.Moderator == nil {
		cfg.Stream.Moderator = cfg.Moderator
	}
	if cfg.MaxBufferedBody <= 0 {
		cfg.MaxBufferedBody = 16 << 20
	}
	if cfg.Input > InputOff {
		return nil, fmt.Errorf("middleware: moderate: unknown input mode %d", cfg.Input)
	}
	if cfg.Output > OutputOff {
		return nil, fmt.Errorf("middleware: moderate: unknown output mode %d", cfg.Output)
	}
	m := &Moderate{cfg: cfg}
	set, err := redactSet(cfg.Redact)
	if err != nil {
		return nil, fmt.Errorf("middleware: moderate: %w", err)
	}
	m.redact = set
	for _, on := range set {
		m.anyRed = m.anyRed || on
	}
	return m, nil
}

// Wrap returns next wrapped with the layer. Requests other than chat and
// completions (and requests without a Call, when Decode is absent) pass
// through untouched.
func (m *Moderate) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := CallFrom(r.Context())
		if c == nil || (c.Chat == nil && c.Completion == nil) {
			next.ServeHTTP(w, r)
			return
		}
		if m.cfg.Input != InputOff {
			if e := m.moderateInput(r, c); e != nil {
				wire.WriteError(w, e)
				return
			}
		}
		if m.cfg.Output == OutputOff {
			next.ServeHTTP(w, r)
			return
		}
		mw := newModWriter(m, w, r, c)
		c.Observe(Observer{OnEnd: mw.settle})
		next.ServeHTTP(mw, r)
		mw.finish()
	})
}

// moderateInput redacts, moderates and, in InputBlock mode, refuses.
func (m *Moderate) moderateInput(r *http.Request, c *Call) *wire.Error {
	if m.anyRed {
		if _, err := redactCall(r, c, m.cfg.Redactor, &m.redact); err != nil {
			return wire.ServerError(c.RequestID)
		}
	}
	inputs, where := callInputs(c)
	merged, flagged, err := moderateMerged(r.Context(), m.cfg.Moderator, inputs)
	if err != nil {
		return moderationUnavailable(c)
	}
	var flaggedAt []string
	for _, i := range flagged {
		flaggedAt = append(flaggedAt, where[i].String())
	}
	c.InputModeration = &merged
	if !merged.Flagged || m.cfg.Input != InputBlock {
		return nil
	}
	param := "messages"
	if c.Completion != nil {
		param = "prompt"
	}
	return wire.Errorf(http.StatusBadRequest, wire.TypeInvalidRequest, wire.CodeContentPolicyViolation, param,
		"Your request was rejected by the content filter. Flagged categories: %s (in %s).",
		strings.Join(moderation.FlaggedCategories(merged), ", "), strings.Join(flaggedAt, ", "))
}

// moderateAll runs mod on inputs, checking it returned one result each.
func moderateAll(ctx context.Context, mod moderation.Moderator, inputs []moderation.Input) ([]wire.ModerationResult, error) {
	if len(inputs) == 0 {
		return nil, nil
	}
	res, err := mod.Moderate(ctx, inputs)
	if err != nil {
		return nil, fmt.Errorf("middleware: moderate: %w", err)
	}
	if len(res) != len(inputs) {
		return nil, fmt.Errorf("middleware: moderate: %d results for %d inputs", len(res), len(inputs))
	}
	return res, nil
}

// moderateEach moderates each input for a verdict of its own, as
// moderateAll, except that the result of an unflagged input may be only
// {Flagged: false}: the built-in moderator scores each text and builds a
// whole result (three maps of every category) only for a flagged one.
func moderateEach(ctx context.Context, mod moderation.Moderator, inputs []moderation.Input) ([]wire.ModerationResult, error) {
	b, ok := mod.(*moderation.Builtin)
	if !ok || len(inputs) == 0 {
		return moderateAll(ctx, mod, inputs)
	}
	res := make([]wire.ModerationResult, len(inputs))
	for i, in := range inputs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("middleware: moderate: %w", err)
		}
		if s := b.Score(in.Text); b.Flagged(&s) {
			res[i] = b.Result(&s)
		}
	}
	return res, nil
}

// moderateMerged moderates inputs and merges the verdicts into one: flagged
// if any input is, the highest score per category. It returns the indexes
// of the flagged inputs. The built-in moderator is asked for scores only,
// which spares building and merging a result (three maps) per message.
func moderateMerged(ctx context.Context, mod moderation.Moderator, inputs []moderation.Input) (wire.ModerationResult, []int, error) {
	var flagged []int
	if b, ok := mod.(*moderation.Builtin); ok {
		var total moderation.Scores
		for i, in := range inputs {
			if err := ctx.Err(); err != nil {
				return wire.ModerationResult{}, nil, fmt.Errorf("middleware: moderate: %w", err)
			}
			s := b.Score(in.Text)
			if b.Flagged(&s) {
				flagged = append(flagged, i)
			}
			for c, v := range s {
				total[c] = max(total[c], v)
			}
		}
		return b.Result(&total), flagged, nil
	}
	res, err := moderateAll(ctx, mod, inputs)
	if err != nil {
		return wire.ModerationResult{}, nil, err
	}
	merged := emptyModeration()
	for i := range res {
		moderation.Merge(&merged, res[i])
		if res[i].Flagged {
			flagged = append(flagged, i)
		}
	}
	return merged, flagged, nil
}

// emptyModeration returns an unflagged result with its maps allocated, for
// moderation.Merge.
func emptyModeration() wire.ModerationResult {
	return wire.ModerationResult{
		Categories:     map[string]bool{},
		CategoryScores: map[string]float64{},
	}
}

// moderationUnavailable is the answer when the moderator could not decide
// (a Remote failing closed): the request is not forwarded unchecked.
func moderationUnavailable(c *Call) *wire.Error {
	return &wire.Error{Status: http.StatusServiceUnavailable, Type: wire.TypeServer, Code: "moderation_unavailable",
		Message: "The content moderation service is unavailable; the request was not processed. Request ID: " + c.RequestID + "."}
}

// inputPlace says where a moderation input came from: messages[i],
// prompt[i] or the suffix (i < 0).
type inputPlace struct {
	name  string
	index int
}

func (p inputPlace) String() string {
	if p.index < 0 {
		return p.name
	}
	return p.name + "[" + strconv.Itoa(p.index) + "]"
}

// callInputs returns one moderation input per message (or prompt string)
// that has anything to moderate, and where each came from.
func callInputs(c *Call) ([]moderation.Input, []inputPlace) {
	var inputs []moderation.Input
	var where []inputPlace
	if c.Chat != nil {
		inputs = make([]moderation.Input, 0, len(c.Chat.Messages))
		where = make([]inputPlace, 0, len(c.Chat.Messages))
		for i := range c.Chat.Messages {
			in := messageInput(&c.Chat.Messages[i])
			if in.Text == "" && len(in.ImageURLs) == 0 {
				continue
			}
			inputs = append(inputs, in)
			where = append(where, inputPlace{"messages", i})
		}
		return inputs, where
	}
	p := &c.Completion.Prompt
	for i, t := range p.Texts {
		if t != "" {
			inputs = append(inputs, moderation.Input{Text: t})
			where = append(where, inputPlace{"prompt", i})
		}
	}
	for i, ids := range p.Tokens {
		for _, enc := range promptEncodings(c) {
			if t := tokenText(enc, ids); t != "" {
				inputs = append(inputs, moderation.Input{Text: t})
				where = append(where, inputPlace{"prompt", i})
			}
		}
	}
	if s := c.Completion.Suffix; s != "" {
		inputs = append(inputs, moderation.Input{Text: s})
		where = append(where, inputPlace{"suffix", -1})
	}
	return inputs, where
}

// promptEncodings returns the encodings to read a prompt of token ids
// with: the encoding of a model the catalog knows (Count's, or the
// built-in table's), else each current one (cl100k_base and o200k_base),
// as ids read with a vocabulary that is not the upstream's make text that
// judges clean, and so all are judged.
func promptEncodings(c *Call) []*tokens.Encoding {
	if c.Encoding != nil && c.ModelInfo.Entry != "" {
		return []*tokens.Encoding{c.Encoding}
	}
	if info, ok := models.Lookup(c.Model); ok {
		if enc, err := tokens.Get(info.Encoding); err == nil {
			return []*tokens.Encoding{enc}
		}
	}
	var encs []*tokens.Encoding
	for _, name := range []string{models.Cl100kBase, models.O200kBase} {
		if enc, err := tokens.Get(name); err == nil {
			encs = append(encs, enc)
		}
	}
	return encs
}

// tokenText is the text of a prompt of token ids, for moderation. An id
// the encoding lacks (the upstream's vocabulary may be larger) reads as a
// space, and the rest is judged all the same.
func tokenText(enc *tokens.Encoding, ids []int) string {
	if t, err := enc.Decode(ids); err == nil {
		return t
	}
	var b strings.Builder
	for _, id := range ids {
		t, err := enc.Decode([]int{id})
		if err != nil {
			t = " "
		}
		b.WriteString(t)
	}
	return b.String()
}

// messageInput is the moderation input of one chat message: its text
// parts, refusal and call arguments joined with newlines, and its images.
func messageInput(msg *wire.Message) moderation.Input {
	if msg.Content.IsText() && msg.Refusal == "" && len(msg.ToolCalls) == 0 && msg.FunctionCall == nil {
		return moderation.Input{Text: msg.Content.Text} // the common case: no copy
	}
	var in moderation.Input
	var b strings.Builder
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	if msg.Content.IsParts() {
		for _, p := range msg.Content.Parts {
			add(p.Text)
			add(p.Refusal)
			if p.ImageURL != nil && p.ImageURL.URL != "" {
				in.ImageURLs = append(in.ImageURLs, p.ImageURL.URL)
			}
		}
	} else {
		add(msg.Content.Text)
	}
	add(msg.Refusal)
	for i := range msg.ToolCalls {
		add(msg.ToolCalls[i].Input()) // function arguments, custom tool input
	}
	if msg.FunctionCall != nil {
		add(msg.FunctionCall.Arguments)
	}
	in.Text = b.String()
	return in
}
