package middleware

import (
	"fmt"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

const (
	chatPath  = "/v1/chat/completions"
	complPath = "/v1/completions"
	modPath   = "/v1/moderations"
	embPath   = "/v1/embeddings"
)

// chatWith is a valid chat request with extra top-level members.
func chatWith(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]` + extra + `}`
}

// chatMsgs is a chat request with the given messages array.
func chatMsgs(msgs string) string { return `{"model":"gpt-4o","messages":` + msgs + `}` }

// complWith is a valid legacy completion request with extra members.
func complWith(extra string) string {
	if extra != "" {
		extra = "," + extra
	}
	return `{"model":"gpt-3.5-turbo-instruct","prompt":"Say hi"` + extra + `}`
}

const weatherTool = `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}`

func tools(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"type":"function","function":{"name":"f%d"}}`, i)
	}
	return `"tools":[` + strings.Join(parts, ",") + `]`
}

type rejectCase struct {
	name, path, body string
	param, code      string
	msg              string // a substring of the message, when set
}

// TestValidateRejects covers every rule: each case is refused with 400
// invalid_request_error, the exact param and the code.
func TestValidateRejects(t *testing.T) {
	const inv, typ, miss = wire.CodeInvalidValue, wire.CodeInvalidType, wire.CodeMissingRequired
	cases := []rejectCase{
		// model
		{"model missing", chatPath, `{"messages":[{"role":"user","content":"x"}]}`, "model", miss, "Missing required parameter: 'model'."},
		{"model empty", chatPath, `{"model":"","messages":[{"role":"user","content":"x"}]}`, "model", inv, ""},
		{"model number", chatPath, `{"model":4,"messages":[{"role":"user","content":"x"}]}`, "model", typ, "expected a string, but got an integer"},
		{"model null", chatPath, `{"model":null,"messages":[{"role":"user","content":"x"}]}`, "model", typ, ""},
		// sampling ranges
		{"temperature above 2", chatPath, chatWith(`"temperature":2.01`), "temperature", inv, "Expected a value <= 2, but got 2.01"},
		{"temperature below 0", chatPath, chatWith(`"temperature":-0.1`), "temperature", inv, ">= 0"},
		{"temperature string", chatPath, chatWith(`"temperature":"hot"`), "temperature", typ, "Invalid type for 'temperature': expected a decimal, but got a string instead."},
		{"temperature huge", chatPath, chatWith(`"temperature":1e400`), "temperature", inv, "out of range"},
		{"top_p above 1", chatPath, chatWith(`"top_p":1.5`), "top_p", inv, ""},
		{"top_p below 0", chatPath, chatWith(`"top_p":-1`), "top_p", inv, ""},
		{"top_p bool", chatPath, chatWith(`"top_p":true`), "top_p", typ, "got a boolean"},
		{"frequency_penalty above 2", chatPath, chatWith(`"frequency_penalty":2.5`), "frequency_penalty", inv, ""},
		{"frequency_penalty below -2", chatPath, chatWith(`"frequency_penalty":-2.5`), "frequency_penalty", inv, ""},
		{"presence_penalty above 2", chatPath, chatWith(`"presence_penalty":3`), "presence_penalty", inv, ""},
		{"presence_penalty below -2", chatPath, chatWith(`"presence_penalty":-3`), "presence_penalty", inv, ""},
		{"n zero", chatPath, chatWith(`"n":0`), "n", inv, ""},
		{"n above 128", chatPath, chatWith(`"n":129`), "n", inv, "<= 128"},
		{"n decimal", chatPath, chatWith(`"n":1.5`), "n", typ, "expected an integer, but got a decimal"},
		{"n exponent", chatPath, chatWith(`"n":1e1`), "n", typ, ""},
		{"n string", chatPath, chatWith(`"n":"2"`), "n", typ, ""},
		{"n overflow", chatPath, chatWith(`"n":99999999999999999999`), "n", inv, "out of range"},
		{"max_tokens zero", chatPath, chatWith(`"max_tokens":0`), "max_tokens", inv, ">= 1"},
		{"max_tokens negative", chatPath, chatWith(`"max_tokens":-5`), "max_tokens", inv, ""},
		{"max_completion_tokens zero", chatPath, chatWith(`"max_completion_tokens":0`), "max_completion_tokens", inv, ""},
		{"max_completion_tokens string", chatPath, chatWith(`"max_completion_tokens":"10"`), "max_completion_tokens", typ, ""},
		{"stop five", chatPath, chatWith(`"stop":["a","b","c","d","e"]`), "stop", inv, "maximum length 4"},
		{"stop number", chatPath, chatWith(`"stop":5`), "stop", typ, ""},
		{"stop element number", chatPath, chatWith(`"stop":["a",5]`), "stop[1]", typ, ""},
		{"logprobs string", chatPath, chatWith(`"logprobs":"yes"`), "logprobs", typ, "expected a boolean"},
		{"logprobs integer", chatPath, chatWith(`"logprobs":1`), "logprobs", typ, ""},
		{"top_logprobs above 20", chatPath, chatWith(`"logprobs":true,"top_logprobs":21`), "top_logprobs", inv, ""},
		{"top_logprobs negative", chatPath, chatWith(`"logprobs":true,"top_logprobs":-1`), "top_logprobs", inv, ""},
		{"top_logprobs without logprobs", chatPath, chatWith(`"top_logprobs":3`), "top_logprobs", inv, "'logprobs' must be set to true"},
		{"top_logprobs with logprobs false", chatPath, chatWith(`"logprobs":false,"top_logprobs":3`), "top_logprobs", inv, ""},
		{"logit_bias word key", chatPath, chatWith(`"logit_bias":{"abc":1}`), "logit_bias.abc", inv, "not a token id"},
		{"logit_bias negative key", chatPath, chatWith(`"logit_bias":{"-1":1}`), "logit_bias.-1", inv, ""},
		{"logit_bias leading zero", chatPath, chatWith(`"logit_bias":{"007":1}`), "logit_bias.007", inv, ""},
		{"logit_bias huge key", chatPath, chatWith(`"logit_bias":{"99999999999":1}`), "logit_bias.99999999999", inv, ""},
		{"logit_bias value above 100", chatPath, chatWith(`"logit_bias":{"50256":101}`), "logit_bias.50256", inv, "between -100 and 100"},
		{"logit_bias value below -100", chatPath, chatWith(`"logit_bias":{"1":5,"50256":-100.5}`), "logit_bias.50256", inv, ""},
		{"logit_bias value string", chatPath, chatWith(`"logit_bias":{"50256":"x"}`), "logit_bias.50256", typ, ""},
		{"logit_bias value null", chatPath, chatWith(`"logit_bias":{"50256":null}`), "logit_bias.50256", typ, "got null"},
		{"logit_bias array", chatPath, chatWith(`"logit_bias":[1]`), "logit_bias", typ, ""},
		{"logit_bias smallest bad key reported", chatPath, chatWith(`"logit_bias":{"zz":1,"aa":1,"mm":1}`), "logit_bias.aa", inv, ""},
		{"seed decimal", chatPath, chatWith(`"seed":1.5`), "seed", typ, ""},
		{"seed string", chatPath, chatWith(`"seed":"42"`), "seed", typ, ""},
		{"stream string", chatPath, chatWith(`"stream":"yes"`), "stream", typ, ""},
		{"stream_options without stream", chatPath, chatWith(`"stream_options":{"include_usage":true}`), "stream_options", inv, "only allowed when 'stream' is true"},
		{"stream_options with stream false", chatPath, chatWith(`"stream":false,"stream_options":{"include_usage":true}`), "stream_options", inv, ""},
		{"stream_options include_usage string", chatPath, chatWith(`"stream":true,"stream_options":{"include_usage":"y"}`), "stream_options.include_usage", typ, ""},
		{"metadata value number", chatPath, chatWith(`"metadata":{"k":1}`), "metadata.k", typ, ""},
		// messages
		{"messages missing", chatPath, `{"model":"m"}`, "messages", miss, ""},
		{"messages empty", chatPath, chatMsgs(`[]`), "messages", inv, "empty array"},
		{"messages object", chatPath, chatMsgs(`{}`), "messages", typ, "expected an array, but got an object"},
		{"messages null", chatPath, chatMsgs(`null`), "messages", typ, ""},
		{"message number", chatPath, chatMsgs(`[{"role":"user","content":"a"},1]`), "messages[1]", typ, ""},
		{"role unknown", chatPath, chatMsgs(`[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"robot","content":"c"}]`), "messages[2].role", inv, "Invalid value for 'messages[2].role': 'robot'. Supported values are:"},
		{"role missing", chatPath, chatMsgs(`[{"content":"a"}]`), "messages[0].role", miss, ""},
		{"role number", chatPath, chatMsgs(`[{"role":1,"content":"a"}]`), "messages[0].role", typ, ""},
		{"user content missing", chatPath, chatMsgs(`[{"role":"user"}]`), "messages[0].content", miss, ""},
		{"system content null", chatPath, chatMsgs(`[{"role":"system","content":null}]`), "messages[0].content", miss, ""},
		{"content number", chatPath, chatMsgs(`[{"role":"user","content":5}]`), "messages[0].content", typ, "expected a string or an array of objects, but got an integer"},
		{"content object", chatPath, chatMsgs(`[{"role":"user","content":{"type":"text"}}]`), "messages[0].content", typ, ""},
		{"assistant empty", chatPath, chatMsgs(`[{"role":"user","content":"a"},{"role":"assistant"}]`), "messages[1].content", inv, ""},
		{"name number", chatPath, chatMsgs(`[{"role":"user","content":"a","name":3}]`), "messages[0].name", typ, ""},
		{"tool without tool_call_id", chatPath, chatMsgs(`[{"role":"user","content":"a"},{"role":"tool","content":"r"}]`), "messages[1].tool_call_id", miss, ""},
		{"tool answering nothing", chatPath, chatMsgs(`[{"role":"user","content":"a"},{"role":"tool","tool_call_id":"call_9","content":"r"}]`), "messages[1].tool_call_id", inv, "'call_9'"},
		{"tool answering a later call", chatPath, chatMsgs(`[{"role":"tool","tool_call_id":"c1","content":"r"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]`), "messages[0].tool_call_id", inv, ""},
		{"tool answering another id", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c2","content":"r"}]`), "messages[1].tool_call_id", inv, ""},
		{"tool_call without id", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]`), "messages[0].tool_calls[0].id", miss, ""},
		{"tool_call type", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"fn","function":{"name":"f","arguments":"{}"}}]}]`), "messages[0].tool_calls[0].type", inv, ""},
		{"tool_call without name", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]`), "messages[0].tool_calls[0].function.name", miss, ""},
		{"tool_call arguments object", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]`), "messages[0].tool_calls[0].function.arguments", typ, ""},
		{"tool_calls object", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":{}}]`), "messages[0].tool_calls", typ, ""},
		{"function message without name", chatPath, chatMsgs(`[{"role":"function","content":"r"}]`), "messages[0].name", miss, ""},
		// content parts
		{"part type unknown", chatPath, chatMsgs(`[{"role":"user","content":"a"},{"role":"user","content":[{"type":"video","video":{}}]}]`), "messages[1].content[0].type", inv, "'video'"},
		{"part type missing", chatPath, chatMsgs(`[{"role":"user","content":[{"text":"a"}]}]`), "messages[0].content[0].type", miss, ""},
		{"part type number", chatPath, chatMsgs(`[{"role":"user","content":[{"type":1}]}]`), "messages[0].content[0].type", typ, ""},
		{"part not object", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"text","text":"a"},"b"]}]`), "messages[0].content[1]", typ, ""},
		{"text part without text", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"text"}]}]`), "messages[0].content[0].text", miss, ""},
		{"text part text number", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"text","text":5}]}]`), "messages[0].content[0].text", typ, ""},
		{"image part without image_url", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"image_url"}]}]`), "messages[0].content[0].image_url", miss, ""},
		{"image part without url", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"detail":"low"}}]}]`), "messages[0].content[0].image_url.url", miss, ""},
		{"image part bad detail", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"ultra"}}]}]`), "messages[0].content[0].image_url.detail", inv, ""},
		{"image_url string", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"image_url","image_url":"https://x"}]}]`), "messages[0].content[0].image_url", typ, ""},
		{"audio part without data", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"format":"wav"}}]}]`), "messages[0].content[0].input_audio.data", miss, ""},
		{"audio part without format", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA"}}]}]`), "messages[0].content[0].input_audio.format", miss, ""},
		{"audio part bad format", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"ogg"}}]}]`), "messages[0].content[0].input_audio.format", inv, ""},
		{"audio part missing member", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"input_audio"}]}]`), "messages[0].content[0].input_audio", miss, ""},
		{"file part empty", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf"}}]}]`), "messages[0].content[0].file", miss, "'file_id' or 'file_data'"},
		{"file part missing member", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"file"}]}]`), "messages[0].content[0].file", miss, ""},
		{"refusal part without refusal", chatPath, chatMsgs(`[{"role":"assistant","content":[{"type":"refusal"}]}]`), "messages[0].content[0].refusal", miss, ""},
		{"image in system message", chatPath, chatMsgs(`[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]`), "messages[0].content[0].type", inv, "not allowed in a 'system' message"},
		{"image in assistant message", chatPath, chatMsgs(`[{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]`), "messages[0].content[0].type", inv, ""},
		{"refusal in user message", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"refusal","refusal":"no"}]}]`), "messages[0].content[0].type", inv, ""},
		{"audio in tool message", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":[{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}]`), "messages[1].content[0].type", inv, ""},
		{"file in developer message", chatPath, chatMsgs(`[{"role":"developer","content":[{"type":"file","file":{"file_id":"f"}}]}]`), "messages[0].content[0].type", inv, ""},
		// tools
		{"tools object", chatPath, chatWith(`"tools":{}`), "tools", typ, ""},
		{"tool type", chatPath, chatWith(`"tools":[{"type":"retrieval","function":{"name":"f"}}]`), "tools[0].type", inv, ""},
		{"tool type missing", chatPath, chatWith(`"tools":[{"function":{"name":"f"}}]`), "tools[0].type", miss, ""},
		{"tool function missing", chatPath, chatWith(`"tools":[{"type":"function"}]`), "tools[0].function", miss, ""},
		{"tool name missing", chatPath, chatWith(`"tools":[{"type":"function","function":{"description":"d"}}]`), "tools[0].function.name", miss, ""},
		{"tool name with space", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"get weather"}}]`), "tools[1].function.name", inv, "^[a-zA-Z0-9_-]{1,64}$"},
		{"tool name empty", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":""}}]`), "tools[0].function.name", inv, ""},
		{"tool name too long", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"` + strings.Repeat("a", 65) + `"}}]`), "tools[0].function.name", inv, ""},
		{"tool name dot", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"a.b"}}]`), "tools[0].function.name", inv, ""},
		{"tool name duplicate", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"x"}},` + weatherTool + `]`), "tools[2].function.name", inv, "already used by tools[0].function"},
		{"too many tools", chatPath, chatWith(tools(129)), "tools", inv, "maximum length 128"},
		{"tool parameters string", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}]`), "tools[0].function.parameters", typ, "expected an object"},
		{"tool parameters boolean schema", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":true}}]`), "tools[0].function.parameters", typ, ""},
		{"tool parameters bad type", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"objekt"}}}]`), "tools[0].function.parameters", inv, "Invalid schema for function 'f'"},
		{"tool parameters bad required", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","required":"city"}}}]`), "tools[0].function.parameters", inv, ""},
		{"tool parameters bad pattern", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"string","pattern":"(unclosed"}}}]`), "tools[0].function.parameters", inv, ""},
		{"tool parameters remote ref", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"$ref":"file:///etc/passwd"}}}]`), "tools[0].function.parameters", inv, ""},
		{"tool parameters http ref", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"$ref":"https://example.com/s.json"}}}]`), "tools[0].function.parameters", inv, ""},
		{"tool parameters dangling ref", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"$ref":"#/$defs/missing"}}}]`), "tools[0].function.parameters", inv, ""},
		{"tool strict string", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","strict":"yes"}}]`), "tools[0].function.strict", typ, ""},
		{"tool_choice unknown mode", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":"sometimes"`), "tool_choice", inv, ""},
		{"tool_choice names missing tool", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"function","function":{"name":"get_time"}}`), "tool_choice.function.name", inv, "'get_time'"},
		{"tool_choice without tools", chatPath, chatWith(`"tool_choice":"required"`), "tool_choice", inv, "only allowed when 'tools'"},
		{"tool_choice object without tools", chatPath, chatWith(`"tool_choice":{"type":"function","function":{"name":"f"}}`), "tool_choice", inv, ""},
		{"tool_choice number", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":1`), "tool_choice", typ, ""},
		{"tool_choice bad type", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"fn","function":{"name":"get_weather"}}`), "tool_choice.type", inv, ""},
		{"tool_choice without function", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"function"}`), "tool_choice.function", miss, ""},
		{"tool_choice without name", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"function","function":{}}`), "tool_choice.function.name", miss, ""},
		// custom tools, allowed_tools and custom tool choices
		{"custom tool without custom", chatPath, chatWith(`"tools":[{"type":"custom"}]`), "tools[0].custom", miss, ""},
		{"custom tool name missing", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"custom","custom":{"description":"d"}}]`), "tools[1].custom.name", miss, ""},
		{"custom tool name pattern", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"apply patch"}}]`), "tools[0].custom.name", inv, "^[a-zA-Z0-9_-]{1,64}$"},
		{"custom tool name empty", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":""}}]`), "tools[0].custom.name", inv, ""},
		{"custom tool name twice", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"x"}},{"type":"custom","custom":{"name":"x"}}]`), "tools[1].custom.name", inv, "already used by tools[0].custom"},
		{"custom tool named as a function", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"custom","custom":{"name":"get_weather"}}]`), "tools[1].custom.name", inv, "already used by tools[0].function"},
		{"function named as a custom tool", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"get_weather"}},` + weatherTool + `]`), "tools[1].function.name", inv, "already used by tools[0].custom"},
		{"custom tool description number", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","description":1}}]`), "tools[0].custom.description", typ, ""},
		{"custom tool format string", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":"text"}}]`), "tools[0].custom.format", typ, ""},
		{"custom tool format type missing", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":{}}}]`), "tools[0].custom.format.type", miss, ""},
		{"custom tool format type", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":{"type":"json"}}}]`), "tools[0].custom.format.type", inv, "'text' and 'grammar'"},
		{"custom tool grammar missing", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":{"type":"grammar"}}}]`), "tools[0].custom.format.grammar", miss, ""},
		{"custom tool grammar definition missing", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":{"type":"grammar","grammar":{"syntax":"lark"}}}}]`), "tools[0].custom.format.grammar.definition", miss, ""},
		{"custom tool grammar syntax missing", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":{"type":"grammar","grammar":{"definition":"x"}}}}]`), "tools[0].custom.format.grammar.syntax", miss, ""},
		{"custom tool grammar syntax", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"f"}},{"type":"custom","custom":{"name":"c","format":{"type":"grammar","grammar":{"definition":"x","syntax":"ebnf"}}}}]`), "tools[2].custom.format.grammar.syntax", inv, "'lark' and 'regex'"},
		{"custom tool grammar definition number", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":{"type":"grammar","grammar":{"definition":1,"syntax":"lark"}}}}]`), "tools[0].custom.format.grammar.definition", typ, ""},
		{"custom tool with a function", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"},"function":{"name":"f"}}]`), "tools[0].function", wire.CodeUnknownParameter, ""},
		{"function tool with a custom", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f"},"custom":{"name":"c"}}]`), "tools[0].custom", wire.CodeUnknownParameter, ""},
		{"tool type lists custom", chatPath, chatWith(`"tools":[{"type":"code_interpreter"}]`), "tools[0].type", inv, "'function' and 'custom'"},
		{"tool_choice custom without custom", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"custom"}`), "tool_choice.custom", miss, ""},
		{"tool_choice custom without name", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"custom","custom":{}}`), "tool_choice.custom.name", miss, ""},
		{"tool_choice custom names missing tool", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"custom","custom":{"name":"d"}}`), "tool_choice.custom.name", inv, "'d'"},
		{"tool_choice custom names a function", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"custom","custom":{"name":"get_weather"}}`), "tool_choice.custom.name", inv, ""},
		{"tool_choice function names a custom tool", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"function","function":{"name":"c"}}`), "tool_choice.function.name", inv, ""},
		{"tool_choice custom with a function", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"}}],"tool_choice":{"type":"custom","custom":{"name":"c"},"function":{"name":"c"}}`), "tool_choice.function", wire.CodeUnknownParameter, ""},
		{"tool_choice type lists all", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"tool"}`), "tool_choice.type", inv, "'function', 'custom' and 'allowed_tools'"},
		{"allowed_tools missing", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools"}`), "tool_choice.allowed_tools", miss, ""},
		{"allowed_tools mode missing", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"tools":[]}}`), "tool_choice.allowed_tools.mode", miss, ""},
		{"allowed_tools tools missing", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto"}}`), "tool_choice.allowed_tools.tools", miss, ""},
		{"allowed_tools mode", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"none","tools":[]}}`), "tool_choice.allowed_tools.mode", inv, "'auto' and 'required'"},
		{"allowed_tools tools object", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":{}}}`), "tool_choice.allowed_tools.tools", typ, ""},
		{"allowed_tools entry type", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"allowed_tools"}]}}`), "tool_choice.allowed_tools.tools[1].type", inv, "'function' and 'custom'"},
		{"allowed_tools entry without name", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{}}]}}`), "tool_choice.allowed_tools.tools[0].function.name", miss, ""},
		{"allowed_tools entry names missing tool", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"custom","custom":{"name":"c"}}]}}`), "tool_choice.allowed_tools.tools[1].custom.name", inv, "'c'"},
		{"allowed_tools without tools", chatPath, chatWith(`"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[]}}`), "tool_choice", inv, "only allowed when 'tools'"},
		// custom tool calls in messages
		{"custom call without custom", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"custom"}]}]`), "messages[0].tool_calls[0].custom", miss, ""},
		{"custom call without name", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"input":"x"}}]}]`), "messages[0].tool_calls[0].custom.name", miss, ""},
		{"custom call without input", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"p"}}]}]`), "messages[0].tool_calls[0].custom.input", miss, ""},
		{"custom call input object", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"p","input":{}}}]}]`), "messages[0].tool_calls[0].custom.input", typ, ""},
		{"custom call without id", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"type":"custom","custom":{"name":"p","input":"x"}}]}]`), "messages[0].tool_calls[0].id", miss, ""},
		{"custom call with a function", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"p","input":"x"},"function":{"name":"f","arguments":"{}"}}]}]`), "messages[0].tool_calls[0].function", wire.CodeUnknownParameter, ""},
		{"function call with a custom", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"},"custom":{"name":"p","input":"x"}}]}]`), "messages[0].tool_calls[0].custom", wire.CodeUnknownParameter, ""},
		{"tool answering a custom call's other id", chatPath, chatMsgs(`[{"role":"assistant","tool_calls":[{"id":"c1","type":"custom","custom":{"name":"p","input":"x"}}]},{"role":"tool","tool_call_id":"c2","content":"r"}]`), "messages[1].tool_call_id", inv, "'c2'"},
		// legacy functions
		{"functions bad name", chatPath, chatWith(`"functions":[{"name":"a b"}]`), "functions[0].name", inv, ""},
		{"functions name missing", chatPath, chatWith(`"functions":[{"description":"x"}]`), "functions[0].name", miss, ""},
		{"functions duplicate", chatPath, chatWith(`"functions":[{"name":"a"},{"name":"a"}]`), "functions[1].name", inv, ""},
		{"functions bad schema", chatPath, chatWith(`"functions":[{"name":"a","parameters":{"properties":[]}}]`), "functions[0].parameters", inv, ""},
		{"function_call names missing function", chatPath, chatWith(`"functions":[{"name":"a"}],"function_call":{"name":"b"}`), "function_call.name", inv, ""},
		{"function_call unknown mode", chatPath, chatWith(`"functions":[{"name":"a"}],"function_call":"required"`), "function_call", inv, ""},
		{"function_call without functions", chatPath, chatWith(`"function_call":"auto"`), "function_call", inv, ""},
		{"function_call without name", chatPath, chatWith(`"functions":[{"name":"a"}],"function_call":{}`), "function_call.name", miss, ""},
		{"function_call array", chatPath, chatWith(`"functions":[{"name":"a"}],"function_call":[]`), "function_call", typ, ""},
		// response_format
		{"response_format string", chatPath, chatWith(`"response_format":"json"`), "response_format", typ, ""},
		{"response_format type missing", chatPath, chatWith(`"response_format":{}`), "response_format.type", miss, ""},
		{"response_format type unknown", chatPath, chatWith(`"response_format":{"type":"xml"}`), "response_format.type", inv, ""},
		{"json_schema missing", chatPath, chatWith(`"response_format":{"type":"json_schema"}`), "response_format.json_schema", miss, ""},
		{"json_schema name missing", chatPath, chatWith(`"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object"}}}`), "response_format.json_schema.name", miss, ""},
		{"json_schema name bad", chatPath, chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"my schema","schema":{"type":"object"}}}`), "response_format.json_schema.name", inv, ""},
		{"json_schema schema invalid", chatPath, chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object","properties":{"a":{"minLength":-1}}}}}`), "response_format.json_schema.schema", inv, "Invalid schema for response_format 's'"},
		{"json_schema schema array", chatPath, chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":[]}}`), "response_format.json_schema.schema", typ, ""},
		// legacy completions
		{"completion model missing", complPath, `{"prompt":"x"}`, "model", miss, ""},
		{"prompt missing", complPath, `{"model":"m"}`, "prompt", miss, ""},
		{"prompt null", complPath, `{"model":"m","prompt":null}`, "prompt", miss, ""},
		{"prompt number", complPath, `{"model":"m","prompt":5}`, "prompt", typ, ""},
		{"prompt mixed", complPath, `{"model":"m","prompt":["a",1]}`, "prompt[1]", typ, ""},
		{"prompt tokens mixed", complPath, `{"model":"m","prompt":[1,"a"]}`, "prompt[1]", typ, ""},
		{"prompt negative token", complPath, `{"model":"m","prompt":[1,-2]}`, "prompt[1]", inv, ""},
		{"prompt nested negative token", complPath, `{"model":"m","prompt":[[1,2],[3,-1]]}`, "prompt[1][1]", inv, ""},
		{"prompt one nested negative token", complPath, `{"model":"m","prompt":[[5,-1]]}`, "prompt[0][1]", inv, ""},
		{"prompt nested string", complPath, `{"model":"m","prompt":[[1,2],[3,"x"]]}`, "prompt[1][1]", typ, ""},
		{"prompt object", complPath, `{"model":"m","prompt":[{}]}`, "prompt[0]", typ, ""},
		{"completion logprobs 6", complPath, complWith(`"logprobs":6`), "logprobs", inv, "<= 5"},
		{"completion logprobs boolean", complPath, complWith(`"logprobs":true`), "logprobs", typ, ""},
		{"best_of below n", complPath, complWith(`"n":3,"best_of":2`), "best_of", inv, ""},
		{"best_of above 20", complPath, complWith(`"best_of":21`), "best_of", inv, ""},
		{"best_of zero", complPath, complWith(`"best_of":0`), "best_of", inv, ""},
		{"best_of streamed", complPath, complWith(`"best_of":2,"stream":true`), "best_of", inv, ""},
		{"echo string", complPath, complWith(`"echo":"yes"`), "echo", typ, ""},
		{"suffix number", complPath, complWith(`"suffix":5`), "suffix", typ, ""},
		{"echo with suffix", complPath, complWith(`"echo":true,"suffix":"x"`), "suffix", inv, ""},
		{"completion temperature", complPath, complWith(`"temperature":3`), "temperature", inv, ""},
		{"completion max_tokens", complPath, complWith(`"max_tokens":-1`), "max_tokens", inv, ""},
		{"completion n", complPath, complWith(`"n":200`), "n", inv, ""},
		{"completion stop", complPath, complWith(`"stop":["1","2","3","4","5"]`), "stop", inv, ""},
		{"completion logit_bias", complPath, complWith(`"logit_bias":{"x":1}`), "logit_bias.x", inv, ""},
		{"completion stream_options", complPath, complWith(`"stream_options":{"include_usage":true}`), "stream_options", inv, ""},
		{"completion seed", complPath, complWith(`"seed":0.5`), "seed", typ, ""},
		// moderations
		{"input missing", modPath, `{"model":"omni-moderation-latest"}`, "input", miss, ""},
		{"input number", modPath, `{"input":5}`, "input", typ, ""},
		{"input empty", modPath, `{"input":[]}`, "input", inv, ""},
		{"input mixed", modPath, `{"input":["a",{"type":"text","text":"b"}]}`, "input[1]", typ, ""},
		{"input parts then string", modPath, `{"input":[{"type":"text","text":"b"},"a"]}`, "input[1]", typ, ""},
		{"input part type", modPath, `{"input":[{"type":"video"}]}`, "input[0].type", inv, ""},
		{"input part text missing", modPath, `{"input":[{"type":"text"}]}`, "input[0].text", miss, ""},
		{"input part url missing", modPath, `{"input":[{"type":"image_url","image_url":{}}]}`, "input[0].image_url.url", miss, ""},
		{"input part image missing", modPath, `{"input":[{"type":"image_url"}]}`, "input[0].image_url", miss, ""},
		{"moderation model empty", modPath, `{"input":"x","model":""}`, "model", inv, ""},
		{"moderation model number", modPath, `{"input":"x","model":1}`, "model", typ, ""},
		// embeddings
		{"embeddings model missing", embPath, `{"input":"x"}`, "model", miss, ""},
		{"embeddings model number", embPath, `{"input":"x","model":3}`, "model", typ, ""},
		{"embeddings model empty", embPath, `{"input":"x","model":""}`, "model", inv, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post(tc.path, tc.body))
			if res.reached || res.rec.Code != 400 {
				t.Fatalf("status %d (reached %v): %s", res.rec.Code, res.reached, res.rec.Body)
			}
			e := res.envelope(t)
			if e.Type != wire.TypeInvalidRequest || e.Param != tc.param || e.Code != tc.code {
				t.Errorf("got type %q param %q code %q, want param %q code %q\nmessage: %s", e.Type, e.Param, e.Code, tc.param, tc.code, e.Message)
			}
			if !strings.Contains(e.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", e.Message, tc.msg)
			}
			if !strings.Contains(e.Message, tc.param) {
				t.Errorf("message %q does not name %q", e.Message, tc.param)
			}
		})
	}
}

// TestValidateAccepts: requests at the edges of every rule pass.
func TestValidateAccepts(t *testing.T) {
	const call = `{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{}"}}]}`
	for _, tc := range []struct{ name, path, body string }{
		{"minimal chat", chatPath, chatWith("")},
		{"json_schema without schema", chatPath, chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"s","strict":false}}`)},
		// null for the member of the other kind, as serializers that write
		// every optional field send it
		{"function tool with custom null", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f"},"custom":null}]`)},
		{"custom tool with function null", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c"},"function":null}]`)},
		{"function call with custom null", chatPath, chatMsgs(`[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"},"custom":null}]},{"role":"tool","tool_call_id":"c1","content":"ok"}]`)},
		{"function choice with custom null", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"},"custom":null}`)},
		{"lower bounds", chatPath, chatWith(`"temperature":0,"top_p":0,"frequency_penalty":-2,"presence_penalty":-2,"n":1,"max_tokens":1,"max_completion_tokens":1,"logprobs":true,"top_logprobs":0,"seed":-9007199254740993`)},
		{"upper bounds", chatPath, chatWith(`"temperature":2,"top_p":1,"frequency_penalty":2,"presence_penalty":2,"n":128,"logprobs":true,"top_logprobs":20,"logit_bias":{"0":-100,"50256":100,"2147483647":0}`)},
		{"nulls for optionals", chatPath, chatWith(`"temperature":null,"top_p":null,"n":null,"stop":null,"logprobs":null,"seed":null,"tools":null,"tool_choice":null,"functions":null,"function_call":null,"response_format":null,"stream_options":null,"user":null`)},
		{"stop string", chatPath, chatWith(`"stop":"\n"`)},
		{"stop four", chatPath, chatWith(`"stop":["a","b","c","d"]`)},
		{"stream with options", chatPath, chatWith(`"stream":true,"stream_options":{"include_usage":true}`)},
		{"every role", chatPath, chatMsgs(`[{"role":"system","content":"s"},{"role":"developer","content":"d"},{"role":"user","content":"u","name":"alice"},` + call + `,{"role":"tool","tool_call_id":"call_2","content":"sunny"},{"role":"tool","tool_call_id":"call_1","content":[{"type":"text","text":"rain"}]},{"role":"assistant","function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"ok"},{"role":"assistant","refusal":"no"},{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"refusal","refusal":"b"}]}]`)},
		{"user parts", chatPath, chatMsgs(`[{"role":"user","content":[{"type":"text","text":""},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"high"}},{"type":"input_audio","input_audio":{"data":"AAAA","format":"mp3"}},{"type":"file","file":{"file_id":"file-1"}},{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,AA"}}]}]`)},
		{"empty parts array", chatPath, chatMsgs(`[{"role":"user","content":[]}]`)},
		{"tools and choice", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"no-params_1"}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}},"parallel_tool_calls":false`)},
		{"tool_choice modes", chatPath, chatWith(`"tools":[` + weatherTool + `],"tool_choice":"required"`)},
		{"tool_choice none without tools", chatPath, chatWith(`"tool_choice":"none"`)},
		// What openai-go v3 sends for custom tools, allowed_tools and
		// custom tool choices, and custom calls in the history.
		{"custom tools", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"custom","custom":{"name":"apply_patch","description":"Edits files."}},` +
			`{"type":"custom","custom":{"name":"note","format":{"type":"text"}}},` +
			`{"type":"custom","custom":{"name":"sql","format":{"type":"grammar","grammar":{"definition":"start: \"SELECT\" NAME","syntax":"lark"}}}},` +
			`{"type":"custom","custom":{"name":"digits","description":null,"format":{"type":"grammar","grammar":{"definition":"^\\d+$","syntax":"regex"}}}}]`)},
		{"custom tool format null", chatPath, chatWith(`"tools":[{"type":"custom","custom":{"name":"c","format":null}}]`)},
		{"tool_choice custom", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"custom","custom":{"name":"apply_patch"}}],"tool_choice":{"type":"custom","custom":{"name":"apply_patch"}}`)},
		{"tool_choice allowed_tools auto", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"get_time"}}],` +
			`"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"get_weather"}},{"type":"function","function":{"name":"get_time"}}]}}`)},
		{"tool_choice allowed_tools required with custom", chatPath, chatWith(`"tools":[` + weatherTool + `,{"type":"custom","custom":{"name":"apply_patch"}}],` +
			`"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"custom","custom":{"name":"apply_patch"}}]}}`)},
		{"custom tool calls answered", chatPath, chatMsgs(`[{"role":"user","content":"fix it"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"custom","custom":{"name":"apply_patch","input":"*** Begin Patch"}},` +
			`{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},` +
			`{"role":"tool","tool_call_id":"call_1","content":"done"},{"role":"tool","tool_call_id":"call_2","content":"sunny"},` +
			`{"role":"assistant","tool_calls":[{"id":"call_3","type":"custom","custom":{"name":"apply_patch","input":""}}]},{"role":"tool","tool_call_id":"call_3","content":"ok"}]`)},
		{"128 tools", chatPath, chatWith(tools(128))},
		{"64-char tool name", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"` + strings.Repeat("A", 64) + `"}}]`)},
		{"schema with lookahead pattern and defs", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":{"type":"object","$defs":{"id":{"type":"string","pattern":"^(?!x)\\w+$"}},"properties":{"id":{"$ref":"#/$defs/id"}},"additionalProperties":false}}}]`)},
		{"draft-07 schema", chatPath, chatWith(`"tools":[{"type":"function","function":{"name":"f","parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","definitions":{}}}}]`)},
		{"legacy functions", chatPath, chatWith(`"functions":[{"name":"a","parameters":{"type":"object"}},{"name":"b"}],"function_call":{"name":"b"}`)},
		{"legacy function_call auto", chatPath, chatWith(`"functions":[{"name":"a"}],"function_call":"auto"`)},
		{"json_schema format", chatPath, chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}}}`)},
		{"json_object format", chatPath, chatWith(`"response_format":{"type":"json_object"}`)},
		{"text format", chatPath, chatWith(`"response_format":{"type":"text"}`)},
		{"metadata and store", chatPath, chatWith(`"store":true,"metadata":{"k":"v"},"user":"u","reasoning_effort":"low","service_tier":"auto"`)},
		{"completion string", complPath, complWith(`"temperature":0,"echo":true,"logprobs":5,"best_of":3,"n":3,"stop":"\n","seed":1,"logit_bias":{"1":1}`)},
		{"completion prompts", complPath, `{"model":"m","prompt":["a","b"],"suffix":"end","stream":true,"stream_options":{"include_usage":true}}`},
		{"completion tokens", complPath, `{"model":"m","prompt":[1,2,3]}`},
		{"completion token arrays", complPath, `{"model":"m","prompt":[[1,2],[3]]}`},
		{"completion empty prompt", complPath, `{"model":"m","prompt":""}`},
		{"moderation string", modPath, `{"input":"hello"}`},
		{"moderation strings", modPath, `{"input":["a","b"],"model":"omni-moderation-latest"}`},
		{"moderation parts", modPath, `{"input":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`},
		{"embeddings", embPath, `{"model":"text-embedding-3-small","input":["a"],"encoding_format":"float"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post(tc.path, tc.body))
			if !res.reached {
				t.Fatalf("status %d: %s", res.rec.Code, res.rec.Body)
			}
			if string(res.body) != tc.body {
				t.Errorf("handler body %q, want %q", res.body, tc.body)
			}
		})
	}
}
