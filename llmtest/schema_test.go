package llmtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// validator compiles schema with format assertions on.
func validator(t testing.TB, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(t testing.TB, s *jsonschema.Schema, doc string) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("generated invalid JSON %q: %v", doc, err)
	}
	return s.Validate(inst)
}

var schemaCases = []struct{ name, schema string }{
	{"empty", `{}`},
	{"weather", `{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":14}},"required":["city","unit"],"additionalProperties":false}`},
	{"numbers", `{"type":"object","properties":{"a":{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":1},"b":{"type":"integer","minimum":-5,"maximum":-5},"c":{"type":"integer","multipleOf":7,"minimum":10,"maximum":60},"d":{"type":"number","multipleOf":0.25,"minimum":1,"maximum":2},"e":{"type":"number","minimum":1000}},"required":["a","b","c","d","e"]}`},
	{"arrays", `{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","minLength":3,"maxLength":12},"minItems":2,"maxItems":4,"uniqueItems":true},"flags":{"type":"array","items":{"type":"boolean"},"maxItems":0},"nums":{"type":"array","items":{"type":"integer","enum":[1,2,3,4,5,6]},"minItems":5,"uniqueItems":true}},"required":["tags","flags","nums"]}`},
	{"nested", `{"type":"object","properties":{"user":{"type":"object","properties":{"name":{"type":"string"},"address":{"type":"object","properties":{"street":{"type":"string"},"zip":{"type":"string","maxLength":5,"minLength":5}},"required":["street","zip"]}},"required":["name","address"]},"active":{"type":"boolean"},"note":{"type":["string","null"]}},"required":["user","active","note"]}`},
	{"formats", `{"type":"object","properties":{"when":{"type":"string","format":"date-time"},"day":{"type":"string","format":"date"},"mail":{"type":"string","format":"email"},"link":{"type":"string","format":"uri"},"id":{"type":"string","format":"uuid"},"ip":{"type":"string","format":"ipv4"},"host":{"type":"string","format":"hostname"}},"required":["when","day","mail","link","id","ip","host"]}`},
	{"refs", `{"$defs":{"item":{"type":"object","properties":{"sku":{"type":"string"},"qty":{"type":"integer","minimum":1}},"required":["sku","qty"]}},"type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/$defs/item"},"minItems":1}},"required":["items"]}`},
	{"recursive", `{"$defs":{"node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["name","children"]}},"$ref":"#/$defs/node"}`},
	{"combinators", `{"type":"object","properties":{"v":{"anyOf":[{"type":"null"},{"type":"integer","minimum":3,"maximum":4}]},"w":{"oneOf":[{"type":"string","const":"x"},{"type":"integer"}]},"z":{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]}},"required":["v","w","z"]}`},
	{"const and draft4 bounds", `{"type":"object","properties":{"k":{"const":{"x":[1,2]}},"n":{"type":"number","minimum":5,"maximum":6}},"required":["k","n"]}`},
}

func TestGenerateJSONValidates(t *testing.T) {
	m := testModel(t)
	for _, tc := range schemaCases {
		t.Run(tc.name, func(t *testing.T) {
			s := validator(t, tc.schema)
			distinct := map[string]bool{}
			for seed := range int64(200) {
				doc, err := generateJSON(json.RawMessage(tc.schema), seeded(seed, tc.name).rng(0), m.words)
				if err != nil {
					t.Fatal(err)
				}
				if err := validate(t, s, doc); err != nil {
					t.Fatalf("seed %d: %s does not validate: %v", seed, doc, err)
				}
				distinct[doc] = true
			}
			if tc.name != "empty" && len(distinct) < 2 {
				t.Fatalf("200 seeds gave one document: %v", distinct)
			}
		})
	}
}

func TestGenerateJSONDeterministic(t *testing.T) {
	m := testModel(t)
	for _, tc := range schemaCases {
		a, _ := generateJSON(json.RawMessage(tc.schema), seeded(4, "x").rng(0), m.words)
		b, _ := generateJSON(json.RawMessage(tc.schema), seeded(4, "x").rng(0), m.words)
		if a != b {
			t.Fatalf("%s: %s vs %s", tc.name, a, b)
		}
	}
	if _, err := generateJSON(json.RawMessage(`{`), seeded(1, "").rng(0), m.words); err == nil ||
		!strings.HasPrefix(err.Error(), "llmtest: ") {
		t.Fatalf("bad schema: %v", err)
	}
	if doc, _ := generateJSON(nil, seeded(1, "").rng(0), m.words); !bytes.Equal([]byte(doc), []byte("{}")) {
		t.Fatalf("no parameters: %s", doc)
	}
}
