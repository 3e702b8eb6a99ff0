package tokens

import (
	"bytes"
	"encoding/json"
	"testing"
)

// propertyCases are function parameters for readProperties: the usual
// schemas, and each thing its one pass leaves to encoding/json.
var propertyCases = []string{
	`{"type":"object","properties":{"city":{"type":"string","description":"The city."},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}`,
	` { "properties" : { "a" : { "type" : [ "string" , "null" ] , "enum" : [ 1 , "x" , null ] } } , "additionalProperties" : false } `,
	`{"properties":{"n":{"type":"integer","minimum":1,"maximum":10,"description":null}}}`,
	`{"properties":{"a":null,"b":{}}}`,
	`{"properties":null}`,
	`{"properties":{}}`,
	`{"type":"object"}`,
	`null`, `[]`, `"properties"`, `{}`, ``, `{`, `{"properties":{"a":{}}} x`,
	`{"properties":[]}`,
	`{"properties":{"a":1}}`,
	`{"properties":{"a":{"description":5}}}`,
	`{"properties":{"a":{"enum":"x"}}}`,
	`{"properties":{"a":{"enum":null}}}`,
	`{"properties":{"a":{"enum":[]}}}`,
	`{"properties":{"a":{"enum":["x"],"enum":["y","z"]}}}`,
	`{"properties":{"a":{"enum":["x"],"enum":null}}}`,
	`{"properties":{"a":{"description":"one","description":null}}}`,
	`{"properties":{"a":{"type":"string","type":"number"}}}`,
	`{"properties":{"a":{"type":null}}}`,
	`{"properties":{"a":{"type":"x"}},"properties":{"b":{"type":"y"}}}`,
	`{"properties":{"a":{"type":"x"},"a":{"description":"again"}}}`,
	`{"Properties":{"a":{"type":"x"}}}`,
	`{"PROPERTIES":{"a":{"type":"x"}},"properties":{"b":{}}}`,
	`{"properties":{"a":{"Type":"x","DESCRIPTION":"d","Enum":[1]}}}`,
	`{"propert\u0069es":{"a":{"type":"x"}}}`,
	`{"properties":{"caf\u00e9":{"type":"x"}}}`,
	`{"properties":{"a":{"description":"20 \u00b0C, \"quoted\""}}}`,
	`{"properties":{"a":{"description":"naïve"}}}`,
	`{"properties":{"a":{"type":"\u0073tring"}}}`,
	`{"propertieſ":{"a":{"type":"x"}}}`,
	`{"properties":{"a":{"tyPe":"x"}}}`,
	`{"properties":{"a":{"type":{"nested":["x",{"y":1}]},"items":{"properties":{"z":{}}}}}}`,
	"{\"properties\":{\"a\":{\"description\":\"bad \xff byte\"}}}",
}

// slowProperties is the decoding readProperties stands for.
func slowProperties(raw []byte) (map[string]schemaProperty, bool) {
	var params struct {
		Properties map[string]schemaProperty `json:"properties"`
	}
	if json.Unmarshal(raw, &params) != nil || len(params.Properties) == 0 {
		return nil, false
	}
	return params.Properties, true
}

// checkProperties fails t when readProperties (and, when it is sure, its
// one pass alone) reads raw otherwise than json.Unmarshal. It reports
// whether the one pass was sure.
func checkProperties(t *testing.T, raw []byte) bool {
	t.Helper()
	want, wantOK := slowProperties(raw)
	same := func(what string, got []namedProperty, ok bool) {
		t.Helper()
		if ok != wantOK {
			t.Fatalf("%s %q: ok %v, json.Unmarshal %v", what, raw, ok, wantOK)
		}
		if !ok {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("%s %q: %d properties, json.Unmarshal %d", what, raw, len(got), len(want))
		}
		for _, p := range got {
			w, found := want[p.name]
			if !found || !bytes.Equal(p.Type, w.Type) || p.Description != w.Description || len(p.Enum) != len(w.Enum) {
				t.Fatalf("%s %q: property %q = %+v, json.Unmarshal %+v", what, raw, p.name, p.schemaProperty, w)
			}
			for k := range p.Enum {
				if !bytes.Equal(p.Enum[k], w.Enum[k]) {
					t.Fatalf("%s %q: property %q enum[%d] = %s, json.Unmarshal %s", what, raw, p.name, k, p.Enum[k], w.Enum[k])
				}
			}
		}
	}
	got, ok := readProperties(raw, nil)
	same("readProperties", got, ok)
	fast, ok, sure := readPropertiesFast(raw, nil)
	if sure {
		same("one pass", fast, ok)
	}
	return sure
}

func TestReadProperties(t *testing.T) {
	sure := 0
	for _, c := range propertyCases {
		if checkProperties(t, []byte(c)) {
			sure++
		}
	}
	// The usual schemas must not fall back.
	for _, c := range propertyCases[:7] {
		if _, _, s := readPropertiesFast([]byte(c), nil); !s {
			t.Errorf("%s: left to encoding/json", c)
		}
	}
	t.Logf("%d of %d cases read in one pass", sure, len(propertyCases))
}

func TestJSONText(t *testing.T) {
	for _, raw := range []string{`"string"`, `"a\"b"`, `"caf\u00e9"`, `"naïve"`, `["string","null"]`, `null`, `3`, `""`} {
		var s string
		want := raw
		if json.Unmarshal([]byte(raw), &s) == nil {
			want = s
		}
		if got := jsonText(json.RawMessage(raw)); got != want {
			t.Errorf("jsonText(%s) = %q, want %q", raw, got, want)
		}
	}
}

// FuzzReadProperties holds readProperties to json.Unmarshal on any input.
func FuzzReadProperties(f *testing.F) {
	for _, c := range propertyCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkProperties(t, raw) })
}
