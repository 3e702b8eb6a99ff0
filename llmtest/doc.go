// Package llmtest is to LLM APIs what net/http/httptest is to HTTP: an
// in-process OpenAI-compatible server (/v1/chat/completions,
// /v1/completions, /v1/models) backed by a tiny deterministic language
// model, with fault injection, so tests need no GPU and no network.
//
//	srv := llmtest.NewServer(llmtest.Config{})
//	defer srv.Close()
//	client := openai.NewClient(option.WithBaseURL(srv.URL+"/v1"), option.WithAPIKey("test"))
//	resp, _ := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
//		Model: "llmtest-1", Seed: openai.Int(1), Temperature: openai.Float(0),
//		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello!")},
//	}) // same request, same answer; usage equals what package tokens counts
//
// # The model
//
// An interpolated trigram model with absolute discounting (D = 0.75) over
// o200k_base tokens, trained once per process, in a few milliseconds, on a
// small corpus of stories, dialogues, how-tos and code embedded in the
// package. It continues the last two tokens of the prompt (the last
// message's text), so different prompts give different answers, and ends a
// choice with <|endoftext|> where a corpus document ended.
//
// At each step the candidate set is the 32 most frequent continuations of
// the last two tokens, the 32 most frequent continuations of the last
// token, the 8 most frequent tokens, and every logit_bias token; the base
// logit of a candidate is log P(token | last two tokens) under the full
// model, and the probability of tokens outside the set is dropped. Then:
//
//	logit += logit_bias − count·frequency_penalty − [count > 0]·presence_penalty
//	p      = softmax(logit / T)                  (T = 1 when temperature is 0)
//	p      = the top_p nucleus of p, renormalised (smallest set by descending p reaching top_p)
//
// where count is how often the token was generated so far in the choice.
// Temperature 0 picks the largest logit (greedy); otherwise the token is
// drawn from p with a PCG generator seeded from seed, the request's
// messages (or prompt) and the choice index: identical requests with the
// same seed get identical choices, streamed or not, and the n choices of
// a request are independent streams. Without seed, draws are random.
// logprobs and top_logprobs report log p: the distribution the token was
// drawn from, after penalties, bias, temperature and top_p.
//
// Stop sequences are matched on the decoded text and cut off with what
// follows (finish_reason "stop"); max_tokens (or max_completion_tokens,
// else Config.MaxTokens) gives "length". Usage: prompt_tokens is
// tokens.CountChat (tokens.CountPrompt) with the encoding of the
// requested model, completion_tokens the number of tokens generated (a
// stop sequence's tokens included, <|endoftext|> not); a tool call counts
// tokens(name) + tokens(arguments or input) + 3, as tokens.ChatStreamCounter
// does.
//
// # Tools and JSON
//
// With tools, tool_choice "required" or naming a function answers with
// tool_calls; "auto" calls the tools the last user message mentions (see
// planTools in tools.go for the exact rule); allowed_tools applies its
// mode to the tools it names. Arguments, and the content asked for by a
// json_object or json_schema response_format, are generated from the JSON
// Schema (see schemaGen for the keywords honoured). A custom tool is
// called with input its regex grammar matches, or a few words for a text
// format or a lark grammar, streamed a token a piece as arguments are.
//
// # Faults
//
// Config.Fault, or the X-Llmtest-Fault header per request
// ("latency=50ms,ttft=20ms,per_token=1ms,status=429,retry_after=2,
// cut_after=5,malformed_after=3,times=2", see ParseFault), adds delays
// (through Config.Sleep, so tests need not sleep), error envelopes with
// retry-after, malformed events and cut connections.
package llmtest
