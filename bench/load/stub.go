package load

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// StubConfig shapes the stub's fixed answer. Zero values mean the defaults.
type StubConfig struct {
	// Model is the model named in every answer. Default: gpt-4o-mini.
	Model string
	// Chunks is the number of content chunks of a streamed answer (one word
	// each), followed by a usage chunk and [DONE]. The non-streamed answer
	// holds the same words. Default: 16.
	Chunks int
	// PromptTokens is the usage's prompt_tokens. Default: 300.
	PromptTokens int
	// Interval is the pause before each streamed chunk after the first,
	// as a model's time per token: it keeps streams open, for measuring
	// many concurrent streams. Default: 0, no pause.
	Interval time.Duration
	// Chunked sends the JSON answer without a Content-Length, in two
	// flushed writes, as an upstream does that writes its encoder's output
	// as it comes (Ollama, past 2 KiB). Default: false, a Content-Length.
	Chunked bool
}

// Stub returns a minimal OpenAI-compatible upstream: every POST is read to
// its end and answered with the same chat completion — a JSON body with
// usage, or, when the request body contains "stream":true, an SSE stream of
// Chunks chunks flushed one by one, a usage chunk and data: [DONE]. Both
// answers are built once, so the stub costs the same in every scenario.
// Any other method gets 405. The handler is safe for concurrent use.
func Stub(cfg StubConfig) http.Handler {
	if cfg.Model == "" {
		cfg.Model = "gpt-4o-mini"
	}
	if cfg.Chunks <= 0 {
		cfg.Chunks = 16
	}
	if cfg.PromptTokens <= 0 {
		cfg.PromptTokens = 300
	}
	s := &stub{interval: cfg.Interval, chunked: cfg.Chunked}
	var content bytes.Buffer
	for i := range cfg.Chunks {
		word := fmt.Sprintf("word%d ", i)
		content.WriteString(word)
		role := ""
		if i == 0 {
			role = `"role":"assistant",`
		}
		finish := "null"
		if i == cfg.Chunks-1 {
			finish = `"stop"`
		}
		s.events = append(s.events, fmt.Appendf(nil,
			`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":%q,`+
				`"choices":[{"index":0,"delta":{%s"content":%q},"finish_reason":%s}]}`+"\n\n",
			cfg.Model, role, word, finish))
	}
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`,
		cfg.PromptTokens, cfg.Chunks, cfg.PromptTokens+cfg.Chunks)
	s.events = append(s.events, fmt.Appendf(nil,
		`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":%q,"choices":[],"usage":%s}`+"\n\n",
		cfg.Model, usage), []byte("data: [DONE]\n\n"))
	s.body = fmt.Appendf(nil, `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":%q,`+
		`"choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":%s}`,
		cfg.Model, content.String(), usage)
	s.bodyLen = []string{strconv.Itoa(len(s.body))}
	return s
}

type stub struct {
	body     []byte
	bodyLen  []string
	events   [][]byte
	interval time.Duration
	chunked  bool
}

var (
	streamMarker = []byte(`"stream":true`)
	stubBufs     = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	buf := stubBufs.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(r.Body)
	stream := bytes.Contains(buf.Bytes(), streamMarker)
	stubBufs.Put(buf)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h := w.Header()
	if !stream {
		h["Content-Type"] = []string{"application/json"}
		if s.chunked {
			half := len(s.body) / 2
			_, _ = w.Write(s.body[:half])
			_ = http.NewResponseController(w).Flush()
			_, _ = w.Write(s.body[half:])
			return
		}
		h["Content-Length"] = s.bodyLen
		_, _ = w.Write(s.body)
		return
	}
	h["Content-Type"] = []string{"text/event-stream"}
	h["Cache-Control"] = []string{"no-cache"}
	rc := http.NewResponseController(w)
	for i, ev := range s.events {
		if i > 0 && s.interval > 0 {
			time.Sleep(s.interval)
		}
		if _, err := w.Write(ev); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
