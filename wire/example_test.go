package wire_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/llmgate/llmgate/wire"
)

func Example() {
	body := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]}],"stop":"\n"}`
	var req wire.ChatCompletionRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		panic(err)
	}
	fmt.Println(req.Model, req.Messages[0].Content.String(), len(req.Stop))
	// Output: gpt-4o-mini Hello 1
}

func ExampleWriteError() {
	rec := httptest.NewRecorder()
	wire.WriteError(rec, wire.InvalidParam("temperature", "temperature must be between 0 and 2, got 3"))
	fmt.Println(rec.Code)
	fmt.Print(rec.Body.String())
	// Output:
	// 400
	// {"error":{"message":"temperature must be between 0 and 2, got 3","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}
}
