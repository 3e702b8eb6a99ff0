package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// referenceSummary is what NewBodyEntry read before readSummary: the body
// decoded whole with json.Unmarshal.
func referenceSummary(k Kind, body []byte) (summary, error) {
	var s summary
	if k == KindCompletion {
		var c wire.Completion
		if err := json.Unmarshal(body, &c); err != nil {
			return s, err
		}
		s.object, s.model, s.usage = c.Object, c.Model, c.Usage
		for _, ch := range c.Choices {
			s.reasons = append(s.reasons, ch.FinishReason)
		}
		return s, nil
	}
	var c wire.ChatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		return s, err
	}
	s.object, s.model, s.usage = c.Object, c.Model, c.Usage
	for _, ch := range c.Choices {
		s.reasons = append(s.reasons, ch.FinishReason)
	}
	return s, nil
}

var summaryCases = []string{
	chatBody,
	`{"object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4,"prompt_tokens_details":{"cached_tokens":2}}}`,
	`{"object":"text_completion","model":"m","choices":[{"text":"a","index":0,"finish_reason":"length","logprobs":null}]}`,
	` { "MODEL" : "upper" , "Object":"chat.completion", "choices" : [ { "Finish_Reason" : "stop" } , {"finish_reason":null} ] } `,
	`{"model":"a","model":"b","choices":[{"finish_reason":"stop","finish_reason":"length"}]}`,
	`{"model":"\u006d\n\"","object":"chat.\u0063ompletion","choices":[{"finish_reason":"st\u006fp"}]}`,
	`{"m\u006fdel":"escaped name","choices":[]}`,
	`{"model":null,"object":null,"usage":null,"choices":null}`,
	`{"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
	`{"model":5}`, `{"object":true}`, `{"usage":[]}`, `{"usage":{"prompt_tokens":"x"}}`, `{"choices":{}}`,
	`{"choices":[1]}`, `{"choices":[{"finish_reason":1}]}`, `{"choices":[null]}`,
	`{"model":"m"} x`, `{"model":"m"`, `[]`, `null`, `"s"`, ``, `{"a":[1,2,}`, `{"model":"é\xff"}`,
	`{"ſodel":"long s is not m"}`, `{"uſage":{"total_tokens":9}}`, `{"cHoIcEs":[{"FINISH_REASON":"stop"}]}`,
}

func TestReadSummaryMatchesReference(t *testing.T) {
	for _, body := range summaryCases {
		for _, k := range []Kind{KindChat, KindCompletion} {
			checkSummary(t, k, []byte(body))
		}
	}
}

// checkSummary compares readSummary with referenceSummary on body. Where
// the reference accepts the body, readSummary must read the same; where
// it refuses an invalid one, readSummary must refuse it too. It may read
// a valid body whose other members the reference refuses for their types.
func checkSummary(t *testing.T, k Kind, body []byte) {
	t.Helper()
	want, wantErr := referenceSummary(k, body)
	got, err := readSummary(body)
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("%q (%v): reference reads it, readSummary: %v", body, k, err)
	case wantErr == nil:
		if got.object != want.object || got.model != want.model || !reflect.DeepEqual(got.usage, want.usage) ||
			fmt.Sprint(got.reasons) != fmt.Sprint(want.reasons) {
			t.Fatalf("%q (%v):\n got %+v\nwant %+v", body, k, got, want)
		}
	case !json.Valid(body) && err == nil:
		t.Fatalf("%q: invalid JSON read as %+v", body, got)
	case err == nil:
		var te *json.UnmarshalTypeError
		if !errors.As(wantErr, &te) {
			t.Fatalf("%q (%v): reference: %v, readSummary reads it", body, k, wantErr)
		}
		switch f := strings.ToLower(te.Field); {
		case f == "object", f == "model", f == "choices", f == "choices.finish_reason", strings.HasPrefix(f, "usage"):
			t.Fatalf("%q (%v): reference: %v, readSummary reads it", body, k, wantErr)
		}
	}
}

func FuzzReadSummary(f *testing.F) {
	for _, c := range summaryCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSummary(t, KindChat, body)
		checkSummary(t, KindCompletion, body)
	})
}
