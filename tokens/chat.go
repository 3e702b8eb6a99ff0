package tokens

import (
	"encoding/json"
	"strings"

	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/wire"
)

// Chat formula constants, from the OpenAI cookbook "How to count tokens
// with tiktoken" (num_tokens_from_messages and num_tokens_for_tools).
const (
	tokensPerMessage = 3 // <|start|>{role/name}\n{content}<|end|>\n
	tokensPerName    = 1
	replyPriming     = 3 // every reply is primed with <|start|>assistant<|message|>
	// toolCallOverhead is our estimate of the framing of one tool call in
	// an assistant message (the cookbook does not cover tool calls).
	toolCallOverhead = 3

	propInit = 3  // start of a function's properties
	propKey  = 3  // each property
	enumInit = -3 // a property with an enum list
	enumItem = 3  // each enum item
	funcEnd  = 12 // once, after all functions
)

// ChatOptions tunes [CountChat]. A nil *ChatOptions means the defaults.
type ChatOptions struct {
	// ImageSize returns the pixel size of an image part's URL when the
	// caller knows it (for instance from an upload it already inspected).
	// Default: nil, which decodes the size from data: URLs (PNG, JPEG,
	// GIF) and otherwise assumes the most expensive size (see
	// [ImageTokens]).
	ImageSize func(url string) (width, height int, ok bool)
}

// CountChat returns the prompt tokens OpenAI bills for req, computed with
// the formula of the OpenAI cookbook "How to count tokens with tiktoken":
//
//	for each message: 3 + tokens(role) + tokens(content) + tokens(name) + 1 if named
//	                  (gpt-3.5-turbo-0301: 4 per message and -1 per name)
//	+ 3 to prime the reply
//	+ tools (or legacy functions), when present:
//	  for each function: F + tokens(name + ":" + description without a final ".")
//	    + if it has properties: 3 + for each property:
//	        3 + tokens(key + ":" + type + ":" + description without a final ".")
//	        + if it has an enum: -3 + for each item: 3 + tokens(item)
//	  + 12; F is 7 for o200k_base models and 10 for cl100k_base models.
//
// Beyond the cookbook: text and refusal parts count as their text; image
// parts cost [ImageTokens]; audio and file parts count nothing (their cost
// is not published); an assistant's tool calls (and legacy function_call)
// count tokens(name) + tokens(arguments) + 3 each, a custom tool call
// tokens(name) + tokens(input) + 3; tool_call_id is not counted. A custom
// tool counts as a function without parameters (F + tokens(name + ":" +
// description)) plus tokens(format type) and, for a grammar,
// tokens(syntax) + tokens(definition): OpenAI does not publish how it
// renders them. These extensions are estimates; plain text messages and
// function tool definitions match OpenAI's usage.prompt_tokens as the
// cookbook does.
//
// enc is the encoding of req.Model (see [ForModel]).
func CountChat(enc *Encoding, req *wire.ChatCompletionRequest, opts *ChatOptions) int {
	perMessage, perName := tokensPerMessage, tokensPerName
	if strings.HasPrefix(req.Model, "gpt-3.5-turbo-0301") {
		perMessage, perName = 4, -1
	}
	n := replyPriming
	for i := range req.Messages {
		m := &req.Messages[i]
		n += perMessage + enc.Count(m.Role)
		if m.Name != "" {
			n += enc.Count(m.Name) + perName
		}
		n += countContent(enc, req.Model, m.Content, opts)
		if m.Refusal != "" {
			n += enc.Count(m.Refusal)
		}
		for i := range m.ToolCalls {
			tc := &m.ToolCalls[i]
			n += toolCallOverhead + enc.Count(tc.Function.Name) + enc.Count(tc.Function.Arguments)
			if c := tc.Custom; c != nil {
				n += enc.Count(c.Name) + enc.Count(c.Input)
			}
		}
		if fc := m.FunctionCall; fc != nil {
			n += toolCallOverhead + enc.Count(fc.Name) + enc.Count(fc.Arguments)
		}
	}
	var defs []*wire.FunctionDefinition
	var custom []*wire.CustomTool
	for i := range req.Tools {
		if t := &req.Tools[i]; t.Custom != nil {
			custom = append(custom, t.Custom)
		} else {
			defs = append(defs, &t.Function)
		}
	}
	for i := range req.Functions {
		defs = append(defs, &req.Functions[i])
	}
	return n + countFunctions(enc, defs, custom)
}

func countContent(enc *Encoding, model string, c wire.Content, opts *ChatOptions) int {
	if !c.IsParts() {
		return enc.Count(c.Text)
	}
	n := 0
	for _, p := range c.Parts {
		switch p.Type {
		case wire.PartImageURL:
			if p.ImageURL != nil {
				n += imagePartTokens(model, p.ImageURL, opts)
			}
		default:
			n += enc.Count(p.Text) + enc.Count(p.Refusal)
		}
	}
	return n
}

// CountTools returns the tokens that tool (or legacy function)
// definitions add to a prompt, by the cookbook formula in [CountChat]; 0
// when there are none.
func CountTools(enc *Encoding, tools []wire.Tool) int {
	defs := make([]*wire.FunctionDefinition, 0, len(tools))
	var custom []*wire.CustomTool
	for i := range tools {
		if t := &tools[i]; t.Custom != nil {
			custom = append(custom, t.Custom)
		} else {
			defs = append(defs, &t.Function)
		}
	}
	return countFunctions(enc, defs, custom)
}

// countFunctions counts function definitions by the cookbook formula, and
// custom tools as an estimate (see [CountChat]).
func countFunctions(enc *Encoding, defs []*wire.FunctionDefinition, custom []*wire.CustomTool) int {
	if len(defs) == 0 && len(custom) == 0 {
		return 0
	}
	funcInit := 7
	if enc.Name() == models.Cl100kBase {
		funcInit = 10
	}
	n := funcEnd
	for _, c := range custom {
		n += funcInit + enc.Count(c.Name+":"+strings.TrimSuffix(c.Description, "."))
		if f := c.Format; f != nil {
			n += enc.Count(f.Type)
			if g := f.Grammar; g != nil {
				n += enc.Count(g.Syntax) + enc.Count(g.Definition)
			}
		}
	}
	var props []namedProperty
	for _, f := range defs {
		n += funcInit + enc.Count(f.Name+":"+strings.TrimSuffix(f.Description, "."))
		if len(f.Parameters) == 0 {
			continue
		}
		var ok bool
		if props, ok = readProperties(f.Parameters, props); !ok {
			continue
		}
		n += propInit
		for _, p := range props {
			n += propKey
			if len(p.Enum) > 0 {
				n += enumInit
				for _, item := range p.Enum {
					n += enumItem + enc.Count(jsonText(item))
				}
			}
			n += enc.Count(p.name + ":" + jsonText(p.Type) + ":" + strings.TrimSuffix(p.Description, "."))
		}
	}
	return n
}

// jsonText returns a JSON string's value, or other JSON as written
// (e.g. a type list ["string","null"]).
func jsonText(raw json.RawMessage) string {
	if len(raw) >= 2 && raw[0] == '"' {
		if s, ok := plainString(raw); ok {
			return s
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// CountPrompt returns the prompt tokens of a legacy completion request:
// the tokens of every prompt string (or the length of every token-id
// prompt) plus the tokens of the suffix. A request with several prompts
// is billed for all of them.
func CountPrompt(enc *Encoding, req *wire.CompletionRequest) int {
	n, _ := CountPrompts(enc, req)
	return n
}

// CountPrompts returns what CountPrompt returns, and the tokens of the
// longest prompt with the suffix: each prompt of a batch is a completion
// of its own, which the model's context window bounds alone.
func CountPrompts(enc *Encoding, req *wire.CompletionRequest) (total, longest int) {
	suffix := enc.Count(req.Suffix)
	total = suffix
	for _, t := range req.Prompt.Texts {
		n := enc.Count(t)
		total, longest = total+n, max(longest, n)
	}
	for _, ids := range req.Prompt.Tokens {
		total, longest = total+len(ids), max(longest, len(ids))
	}
	return total, longest + suffix
}
