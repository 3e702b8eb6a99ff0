package cache_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/llmgate/llmgate/cache"
)

func ExampleComputeKey() {
	a, _ := cache.ComputeKey(cache.KeyInput{
		Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Scope: cache.Scope{ID: "alice"},
		Body: []byte(`{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi"}]}`),
	})
	b, _ := cache.ComputeKey(cache.KeyInput{
		Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Scope: cache.Scope{ID: "alice"},
		Body: []byte(`{ "messages": [{"content":"hi","role":"user"}], "temperature": 0.0, "stream": true }`),
	})
	c, _ := cache.ComputeKey(cache.KeyInput{
		Endpoint: "/v1/chat/completions", Model: "gpt-4o-mini", Scope: cache.Scope{ID: "bob"},
		Body: []byte(`{"model":"gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":"hi"}]}`),
	})
	fmt.Println("same request, same tenant:", a == b)
	fmt.Println("same request, other tenant:", a == c)
	// Output:
	// same request, same tenant: true
	// same request, other tenant: false
}

func ExampleDecide() {
	temp := 0.0
	cc := cache.ParseCacheControl("No-Cache")
	p := cache.Decide(cache.Reproducible(&temp, nil, nil), cache.OverrideNone, cc)
	fmt.Printf("lookup=%v store=%v\n", p.Lookup, p.Store)
	p = cache.Decide(cache.Reproducible(nil, nil, nil), cache.OverrideNone, cache.CacheControl{})
	fmt.Println("default temperature bypasses:", p.Bypass())
	// Output:
	// lookup=false store=true
	// default temperature bypasses: true
}

func ExampleEntry_StreamEvents() {
	// A stored JSON answer served to a streaming request.
	e, err := cache.NewBodyEntry(cache.KindChat, 200, []byte(`{"id":"c","object":"chat.completion","created":1,"model":"m",`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],`+
		`"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`), time.Unix(0, 0))
	if err != nil {
		panic(err)
	}
	events, _ := e.StreamEvents(true)
	_ = cache.Replay(context.Background(), os.Stdout, nil, events, cache.Pacing{})
	// Output:
	// data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}
	//
	// data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi!"},"finish_reason":null}]}
	//
	// data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}
	//
	// data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}
	//
	// data: [DONE]
}

func ExampleGroup() {
	var g cache.Group
	k, _ := cache.ComputeKey(cache.KeyInput{Body: []byte(`{"temperature":0}`)})
	e, leader, err := g.Do(context.Background(), k, func(context.Context) (*cache.Entry, error) {
		return &cache.Entry{Body: []byte(`{}`)}, nil // the upstream call
	})
	fmt.Println(string(e.Body), leader, err)
	// Output: {} true <nil>
}
