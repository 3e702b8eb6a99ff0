package middleware

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/llmgate/llmgate/billing"
	"github.com/llmgate/llmgate/cache"
	"github.com/llmgate/llmgate/internal/chunkjson"
	"github.com/llmgate/llmgate/limiter"
	"github.com/llmgate/llmgate/models"
	"github.com/llmgate/llmgate/policy"
	"github.com/llmgate/llmgate/tokens"
	"github.com/llmgate/llmgate/wire"
)

// Endpoint is the OpenAI endpoint a request addresses.
type Endpoint uint8

// Endpoints llmgate knows.
const (
	EndpointUnknown Endpoint = iota
	EndpointChatCompletions
	EndpointCompletions
	EndpointModerations
	EndpointEmbeddings
	EndpointModels
)

var endpointPaths = [...]string{
	EndpointUnknown:         "",
	EndpointChatCompletions: "/v1/chat/completions",
	EndpointCompletions:     "/v1/completions",
	EndpointModerations:     "/v1/moderations",
	EndpointEmbeddings:      "/v1/embeddings",
	EndpointModels:          "/v1/models",
}

// Path returns the endpoint's URL path, such as "/v1/chat/completions".
func (e Endpoint) Path() string {
	if int(e) < len(endpointPaths) {
		return endpointPaths[e]
	}
	return ""
}

// String returns the endpoint's path, or "unknown".
func (e Endpoint) String() string {
	if p := e.Path(); p != "" {
		return p
	}
	return "unknown"
}

// Principal is who a request acts for, as established by Auth.
type Principal struct {
	KeyID  string            // the key's id; never the key itself
	User   string            // user the key belongs to, if any
	Org    string            // org the key belongs to, if any
	Tier   string            // tier whose limits apply
	Labels map[string]string // free-form labels from the key store
}

// Call is everything llmgate knows about one request, shared by the layers of
// the chain through the request context. The first layer that needs it
// creates it; later layers read and extend it, and none re-reads the body.
//
// A Call belongs to one request and is not safe for concurrent use, except
// where a method says otherwise.
type Call struct {
	// RequestID is the request's x-request-id.
	RequestID string
	// Principal is set by Auth; nil when the chain has no Auth.
	Principal *Principal

	// Endpoint, Raw and exactly one of Chat, Completion, Moderation and
	// Embedding are set by Decode (none for /v1/models). Raw is the body
	// as the wrapped handler receives it: when a layer changes the request
	// it patches Raw so that fields the parsed types do not know survive
	// byte for byte.
	Endpoint   Endpoint
	Raw        []byte
	Chat       *wire.ChatCompletionRequest
	Completion *wire.CompletionRequest
	Moderation *wire.ModerationRequest
	Embedding  *wire.EmbeddingRequest

	// Model is the model the request asks for (after alias resolution,
	// once a layer resolves aliases).
	Model string
	// RequestedModel is the model as the client sent it, set by Count
	// when it resolves an alias or a pinned version; "" when Model is
	// what the client sent.
	RequestedModel string
	// Stream reports whether the client asked for a streamed response.
	Stream bool

	// Set by Count.

	// ModelInfo is what the model catalog knows about Model; its zero
	// value for an unknown model.
	ModelInfo models.Model
	// Encoding is the tokenizer of Model.
	Encoding *tokens.Encoding
	// PromptTokens is the prompt's token count, as OpenAI bills it.
	PromptTokens int
	// MaxCompletionTokens is the most completion tokens the call can
	// produce, all choices together: what limits and budgets reserve.
	// Always 0 for embeddings.
	MaxCompletionTokens int

	// Usage is the call's usage once the response has ended: as the
	// handler reported it or, when it reported none, as Count counted it
	// (UsageCounted). Nil until then, and for responses without usage.
	Usage        *wire.Usage
	UsageCounted bool

	// InputModeration is the verdict on the request's text, set by the
	// input side of Moderate; nil when no moderator ran.
	InputModeration *wire.ModerationResult
	// Decision is the policy's decision, set by Policy; nil without one.
	Decision *policy.Decision
	// CacheStatus is "HIT", "MISS" or "BYPASS", set by Cache; on a hit the
	// response came from the cache and the handler did not run.
	CacheStatus string
	// CostEstimate is the worst-case cost the budget layer reserved, and
	// Cost the cost it settled once the response ended.
	CostEstimate, Cost billing.Money
	// SavedCost is what a cache hit would have cost at the model's prices
	// for the stored usage, set by Cache when it serves a hit; 0 otherwise.
	SavedCost billing.Money

	observers []Observer
	// answered is set by the tap once the client has the whole answer
	// (its [DONE] event, or the complete response flushed before OnEnd).
	// A client may then close the connection, ending the request's
	// context, while the observers still settle and store: they must not
	// take that for a client that went away. Read and written with
	// sync/atomic, from any goroutine (a plain word, not an atomic.Bool,
	// so that a Call stays copyable before the chain uses it).
	answered uint32
	// ending is set while the tap calls the OnEnd observers, and end
	// holds the work they handed to Go.
	ending bool
	end    *endWork
	// tally counts a streamed completion for Count and Budget; set by
	// Count, nil without it.
	tally *streamTally

	// obsBuf backs observers and tallyBuf backs tally, so that the chain's
	// usual subscribers (usage, limits, budgets, cache, moderation) and
	// the tally cost no allocation beyond the Call's own. A Call must not
	// be copied once a layer has subscribed.
	obsBuf   [callObservers]Observer
	tallyBuf streamTally
}

// callObservers is how many observers a Call holds without allocating: the
// full chain subscribes five.
const callObservers = 6

type callKey struct{}

// CallFrom returns the Call of the request context, or nil.
func CallFrom(ctx context.Context) *Call {
	c, _ := ctx.Value(callKey{}).(*Call)
	return c
}

// WithCall returns a copy of ctx carrying c.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// ensureCall returns the request's Call, creating it (and a request
// carrying it) when no earlier layer did.
func ensureCall(r *http.Request) (*Call, *http.Request) {
	if c := CallFrom(r.Context()); c != nil {
		return c, r
	}
	c := &Call{RequestID: RequestIDFrom(r.Context())}
	return c, r.WithContext(WithCall(r.Context(), c))
}

// Observe subscribes o to the response of the call. Layers subscribe before
// they call the next handler; the tap calls every observer in the order
// they subscribed.
func (c *Call) Observe(o Observer) {
	if c.observers == nil {
		c.observers = c.obsBuf[:0]
	}
	c.observers = append(c.observers, o)
}

// Observer receives what the response tap learns about the response. Every
// field is optional.
type Observer struct {
	// OnHeader is called once, when the wrapped handler sends its status.
	OnHeader func(status int, h http.Header)
	// OnChunk is called for each data event of a streamed response, after
	// it was written to the client. The Chunk and its fields are valid only
	// during the call.
	OnChunk func(ch *Chunk)
	// OnEnd is called once, after the handler returned. A response whose
	// end the client can tell (no body, or a Content-Length) has been
	// flushed to the client by then, as a stream has up to its [DONE], so
	// slow work here (a Redis round trip) does not delay the answer. A body
	// of unknown length (chunked, as httputil.ReverseProxy passes on an
	// upstream's chunked answer) ends only when the chain returns to
	// net/http, after OnEnd: a handler that has the whole body can set its
	// Content-Length, as examples/proxy does for JSON answers. OnEnd
	// still holds the connection: the next request on it is read when
	// OnEnd is done. A request on another connection may arrive sooner,
	// and see the settles and stores of OnEnd not done yet. The client may
	// also close the connection, which ends the request's context: work
	// here must not depend on it (context.WithoutCancel).
	OnEnd func(res *Response)
}

// Chunk is one SSE data event of a streamed response, parsed once.
type Chunk struct {
	// Data is the event's data, without the "data: " framing.
	Data []byte
	// Done reports the terminating "[DONE]" event.
	Done bool
	// Exactly one of Chat and Completion is set for a parsable event of
	// the call's endpoint; both are nil for [DONE] and for events that
	// are not valid chunks (Err says why).
	Chat       *wire.ChatCompletionChunk
	Completion *wire.Completion
	Err        error

	seq int // the tap's number for the event, from 1: lets a streamTally count it once
	// extras are the members of the chunk, its choices and their deltas
	// that no field of Chat holds (reasoning_content, say), as the tap's decoder noted
	// them, pointing into Data: valid while OnChunk runs. extrasOK is
	// false when the decoder left the chunk to json.Unmarshal, which
	// notes none (a streamTally then looks in Data itself).
	extras   []chunkjson.Member
	extrasOK bool
}

// Response is what the tap learned about a response once it ended.
type Response struct {
	// Status is the status the handler sent (200 when it wrote without one).
	Status int
	// Header is the response header as sent.
	Header http.Header
	// Stream reports an SSE response.
	Stream bool
	// Body is a non-streamed body, whole; nil for streams.
	Body []byte
	// Usage is the usage the handler reported: in the JSON body, or in the
	// final chunk of a stream. Nil when it reported none.
	Usage *wire.Usage
	// Events counts the data events of a stream, [DONE] excluded.
	Events int
	// Done reports a stream that ended with [DONE].
	Done bool
	// Written is the number of body bytes written to the client.
	Written int64
	// Err is nil for a response that reached the client whole. Otherwise
	// it is the first error writing to the client (a client that went
	// away), the request context's error when the context ended before
	// the handler returned, or ErrHandlerPanicked when the handler
	// panicked (the panic goes on after the observers ran).
	Err error
}

// markAnswered records that the client has the whole answer (see answered).
func (c *Call) markAnswered() { atomic.StoreUint32(&c.answered, 1) }

// wasAnswered reports whether markAnswered was called, from any goroutine.
func (c *Call) wasAnswered() bool { return atomic.LoadUint32(&c.answered) != 0 }

// Go runs f on a goroutine of its own when called from an OnEnd observer,
// so that the end-of-request work of several layers overlaps instead of
// adding up: Limit, Budget and Cache each hand it their settle or store,
// which on Redis is a round trip. The tap waits for every f before the
// handler returns, and a panic in f goes on from there. f must not write
// the Call, nor read what later observers write (Usage, Cost): it works on
// what its observer read before (RequestID, which nothing writes, is fine).
// Called anywhere else, Go runs f at once.
func (c *Call) Go(f func()) {
	if !c.ending {
		f()
		return
	}
	if c.end == nil {
		c.end = new(endWork)
	}
	e := c.end
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() {
			if v := recover(); v != nil {
				e.mu.Lock()
				if e.panicked == nil {
					e.panicked = v
				}
				e.mu.Unlock()
			}
		}()
		f()
	}()
}

// inProcess reports a store that lives in this process (one of
// llmgate's memory stores): its settle or store takes microseconds, less
// than a goroutine for Call.Go costs, so layers run it in line. Any
// other store (Redis, or a wrapper) is taken to wait on I/O.
func inProcess(store any) bool {
	switch store.(type) {
	case *limiter.MemoryStore, *billing.MemoryLedger, *cache.MemoryStore:
		return true
	}
	return false
}

// endWork is the work handed to Call.Go during one request's OnEnd.
type endWork struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	panicked any // the first panic of the work, if any
}

// waitEnd waits for the work handed to Go; when reraise is set, a panic
// of that work goes on here, on the handler's goroutine.
func (c *Call) waitEnd(reraise bool) {
	e := c.end
	if e == nil {
		return
	}
	c.end = nil
	e.wg.Wait()
	if v := e.panicked; v != nil && reraise {
		panic(v)
	}
}
