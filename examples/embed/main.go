// Command embed shows llmgate wrapping an existing, in-process handler: a
// toy "echo" model that answers a chat completion with the last user
// message. Replace echo with your own handler (or a reverse proxy) and keep
// the chain.
//
//	go run ./examples/embed [-listen 127.0.0.1:8080]
package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/llmgate/llmgate/middleware"
	"github.com/llmgate/llmgate/wire"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	flag.Parse()

	key := demoKey()
	store, err := middleware.NewStaticKeyStore([]middleware.KeyEntry{
		{ID: "demo", SHA256: middleware.HashKey(key), User: "demo", Tier: "free"},
	})
	if err != nil {
		log.Fatal(err)
	}
	h := middleware.Chain(
		middleware.RequestID,
		middleware.Recover(middleware.RecoverConfig{}),
		middleware.Auth(middleware.AuthConfig{Store: store}),
		middleware.Decode(middleware.DecodeConfig{}),
	)(http.HandlerFunc(echo))

	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("llmgate embed example on http://%s\ndemo key: %s\ntry:\n", *listen, key)
	fmt.Printf("  curl -s http://%s/v1/chat/completions -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n", *listen, key)
	fmt.Printf("    -d '{\"model\":\"echo-1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}'\n")
	log.Fatal(srv.ListenAndServe())
}

// echo is the "existing handler": it trusts llmgate to have validated the
// request and reads the parsed form from the Call instead of the body.
func echo(w http.ResponseWriter, r *http.Request) {
	c := middleware.CallFrom(r.Context())
	if c == nil || c.Chat == nil {
		wire.WriteError(w, wire.Errorf(http.StatusNotFound, wire.TypeInvalidRequest, wire.CodeUnknownURL, "",
			"This example only serves POST /v1/chat/completions."))
		return
	}
	var last string
	for _, m := range c.Chat.Messages {
		if m.Role == wire.RoleUser {
			last = m.Content.String()
		}
	}
	reply := "You said: " + last
	words := len(strings.Fields(reply))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(wire.ChatCompletion{
		ID:      "chatcmpl-" + middleware.RequestIDFrom(r.Context()),
		Object:  wire.ObjectChatCompletion,
		Created: time.Now().Unix(),
		Model:   c.Model,
		Choices: []wire.ChatChoice{{
			Message:      wire.Message{Role: wire.RoleAssistant, Content: wire.TextContent(reply)},
			FinishReason: wire.FinishStop,
		}},
		Usage: &wire.Usage{PromptTokens: len(strings.Fields(last)), CompletionTokens: words,
			TotalTokens: len(strings.Fields(last)) + words},
	})
}

func demoKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "sk-demo-" + hex.EncodeToString(b[:])
}
