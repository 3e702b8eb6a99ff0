package tokens_test

import (
	"fmt"

	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

func ExampleEncoding_Count() {
	enc, err := tokens.ForModel("gpt-4o-2024-08-06")
	if err != nil {
		panic(err)
	}
	fmt.Println(enc.Name(), enc.Count("Hello, world!"))
	fmt.Println(enc.Count("<|endoftext|>")) // special-token text is ordinary text
	// Output:
	// o200k_base 4
	// 7
}

func ExampleEncoding_Encode() {
	enc, _ := tokens.Get("cl100k_base")
	ids := enc.Encode("tiktoken is great!")
	text, _ := enc.Decode(ids)
	fmt.Println(ids, text)
	// Output:
	// [83 1609 5963 374 2294 0] tiktoken is great!
}

func ExampleCountChat() {
	enc, _ := tokens.ForModel("gpt-4o")
	req := &wire.ChatCompletionRequest{
		Model: "gpt-4o",
		Messages: []wire.Message{
			{Role: wire.RoleSystem, Content: wire.TextContent("You are terse.")},
			{Role: wire.RoleUser, Content: wire.TextContent("What is 2+2?")},
		},
	}
	fmt.Println(tokens.CountChat(enc, req, nil))
	// Output:
	// 22
}

func ExampleImageTokens() {
	fmt.Println(tokens.ImageTokens("gpt-4o", 1024, 1024, "high"))
	fmt.Println(tokens.ImageTokens("gpt-4o", 1024, 1024, "low"))
	// Output:
	// 765
	// 85
}

func ExampleEncoding_NewStreamCounter() {
	enc, _ := tokens.Get("o200k_base")
	sc := enc.NewStreamCounter()
	for _, delta := range []string{"The answ", "er is ", "42", "."} {
		sc.WriteString(delta)
	}
	fmt.Println(sc.Count(), enc.Count("The answer is 42."))
	// Output:
	// 6 6
}
