package middleware

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmgate/llmgate/wire"
)

// nestedSchema is n "properties" levels around an empty schema: its
// objects nest 2n+1 deep.
func nestedSchema(n int) string {
	return strings.Repeat(`{"type":"object","properties":{"a":`, n) + `{}` + strings.Repeat(`}}`, n)
}

// deepestSchema nests objects and arrays exactly depth levels deep.
func deepestSchema(depth int) string {
	if depth%2 == 1 {
		return nestedSchema(depth / 2)
	}
	k := depth/2 - 1
	return strings.Repeat(`{"type":"object","properties":{"a":`, k) + `{"enum":[0]}` + strings.Repeat(`}}`, k)
}

// wideSchema is a flat object schema of about size bytes.
func wideSchema(size int) string {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i := 0; b.Len() < size-24; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"p%d":{"type":"string"}`, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

// boolSchema has n boolean subschemas.
func boolSchema(n int) string {
	var b strings.Builder
	b.WriteString(`{"properties":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"p%d":true`, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

func toolWith(schema string) string {
	return chatWith(`"tools":[{"type":"function","function":{"name":"deep_` + fmt.Sprint(len(schema)) + `","parameters":` + schema + `}}]`)
}

func TestValidateSchemaShape(t *testing.T) {
	const param = "tools[0].function.parameters"
	rejects := []struct {
		name, body, param, msg string
	}{
		// 3000 levels took five minutes to compile; they are refused before.
		{"3000 properties levels", toolWith(nestedSchema(3000)), param, "more than 64 levels deep"},
		{"100 properties levels", toolWith(nestedSchema(100)), param, "more than 64 levels deep"},
		{"one level too deep", toolWith(deepestSchema(maxSchemaDepth + 1)), param, "more than 64 levels deep"},
		{"deep in arrays", toolWith(`{"allOf":` + strings.Repeat(`[{"allOf":`, 40) + `[]` + strings.Repeat(`}]`, 40) + `}`), param, "levels deep"},
		{"second tool", chatWith(`"tools":[` + weatherTool + `,{"type":"function","function":{"name":"g","parameters":` + nestedSchema(40) + `}}]`),
			"tools[1].function.parameters", "levels deep"},
		{"legacy function", chatWith(`"functions":[{"name":"f","parameters":` + nestedSchema(40) + `}]`), "functions[0].parameters", "levels deep"},
		{"response format", chatWith(`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":` + nestedSchema(40) + `}}`),
			"response_format.json_schema.schema", "levels deep"},
		{"too many subschemas", toolWith(boolSchema(maxSchemaNodes)), param, "more than 10000 objects and booleans"},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post(chatPath, tc.body))
			if res.reached || res.rec.Code != 400 {
				t.Fatalf("status %d (reached %v): %.300s", res.rec.Code, res.reached, res.rec.Body)
			}
			e := res.envelope(t)
			if e.Type != wire.TypeInvalidRequest || e.Param != tc.param || e.Code != wire.CodeInvalidValue ||
				!strings.Contains(e.Message, tc.msg) || !strings.Contains(e.Message, tc.param) {
				t.Errorf("envelope %+v", e)
			}
		})
	}
	accepts := []struct{ name, schema string }{
		{"deepest allowed", deepestSchema(maxSchemaDepth)},
		{"deepest allowed, odd", deepestSchema(maxSchemaDepth - 1)},
		{"31 properties levels", nestedSchema(31)},
		{"braces in strings do not nest", `{"description":"` + strings.Repeat(`{[`, 100) + `\"{","enum":["]]]]",true,false]}`},
		{"many subschemas", boolSchema(1000)}, // the bound itself: TestCheckSchemaShape (compiling 10000 takes seconds under -race)
	}
	for _, tc := range accepts {
		t.Run(tc.name, func(t *testing.T) {
			res := serveDecode(t, DecodeConfig{}, post(chatPath, toolWith(tc.schema)))
			if !res.reached {
				t.Fatalf("status %d: %.300s", res.rec.Code, res.rec.Body)
			}
		})
	}
}

func TestCheckSchemaShape(t *testing.T) {
	for _, tc := range []struct {
		schema string
		want   error
	}{
		{deepestSchema(maxSchemaDepth), nil},
		{deepestSchema(maxSchemaDepth + 1), errSchemaDepth},
		{strings.Repeat("[", maxSchemaDepth) + strings.Repeat("]", maxSchemaDepth), nil},
		{strings.Repeat("[", maxSchemaDepth+1), errSchemaDepth},
		{`{"a":"` + strings.Repeat(`\"[`, 200) + `"}`, nil},
		{boolSchema(maxSchemaNodes - 2), nil},
		{boolSchema(maxSchemaNodes - 1), errSchemaNodes},
		{`{"enum":[` + strings.Repeat(`"t","f",`, maxSchemaNodes) + `null]}`, nil},
		{`{"type":`, nil}, // not JSON: for the compiler to say
	} {
		if got := checkSchemaShape([]byte(tc.schema)); got != tc.want {
			t.Errorf("checkSchemaShape(%.80s…) = %v, want %v", tc.schema, got, tc.want)
		}
	}
}

// BenchmarkCompileSchema compiles the deepest schema accepted, a flat one
// of the same size, the widest accepted, and refuses one of 3000 levels
// (which took five minutes to compile).
func BenchmarkCompileSchema(b *testing.B) {
	deep := deepestSchema(maxSchemaDepth)
	cases := []struct {
		name, schema string
		ok           bool
	}{
		{"depth64", deep, true},
		{"wide_same_bytes", wideSchema(len(deep)), true},
		{"depth62_x40", wideOf(deepestSchema(maxSchemaDepth-2), 40), true},
		{"wide_x40", wideSchema(40 * len(deep)), true},
		{"bool_subschemas_9998", boolSchema(maxSchemaNodes - 2), true},
		{"refused_3000_levels", nestedSchema(3000), false},
	}
	for _, bc := range cases {
		raw := []byte(bc.schema)
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := compileSchema(raw); (err == nil) != bc.ok {
					b.Fatal(err)
				}
			}
		})
	}
}

// wideOf is a schema whose properties are n copies of schema.
func wideOf(schema string, n int) string {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"p%d":%s`, i, schema)
	}
	b.WriteString(`}}`)
	return b.String()
}

// TestSchemaBudgetPerRequest: the schemas a request makes llmgate
// compile share one bound, so that many tools, each within bounds, cannot
// cost more than one large schema; schemas compiled before (in the cache)
// are free.
func TestSchemaBudgetPerRequest(t *testing.T) {
	tool := func(name string, n int) string { // a schema of its own: not cached with another
		schema := `{"description":"` + name + `",` + boolSchema(n)[1:]
		return `{"type":"function","function":{"name":"` + name + `","parameters":` + schema + `}}`
	}
	third := maxSchemaNodes / 3
	body := chatWith(`"tools":[` + tool("a", third) + `,` + tool("b", third) + `,` + tool("c", third) + `,` + tool("d", 10) + `]`)
	h := Decode(DecodeConfig{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	send := func(body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, post(chatPath, body))
		return rec
	}
	rec := send(body)
	e, ok := wire.DecodeError(rec.Code, rec.Body.Bytes())
	if !ok || rec.Code != 400 || e.Param != "tools[2].function.parameters" || !strings.Contains(e.Message, "in all") {
		t.Fatalf("status %d: %s; want 400 for tools[2], past the request's bound", rec.Code, rec.Body)
	}
	// Each schema alone fits; once compiled, the four together cost nothing.
	for _, name := range []string{"a", "b", "c"} {
		if rec := send(chatWith(`"tools":[` + tool(name, third) + `]`)); rec.Code != 200 {
			t.Fatalf("tool %s alone: %d %s", name, rec.Code, rec.Body)
		}
	}
	if rec := send(body); rec.Code != 200 {
		t.Errorf("with the schemas cached: %d %s", rec.Code, rec.Body)
	}
}
