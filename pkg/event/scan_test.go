package event_test

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/zenith-hq/zenith/pkg/event"
)

// nested returns data whose innermost value sits levels deep: an object
// holding levels-1 arrays.
func nested(levels int) string {
	return `{"a":` + strings.Repeat("[", levels-1) + "1" + strings.Repeat("]", levels-1) + "}"
}

// manyKeys returns an object of n distinct keys followed by extra members.
func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString(extra + "}")
	return b.String()
}

func TestValidateDataHostile(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		wantErr    string // empty: valid
		wantReason string
	}{
		{name: "nested objects and arrays", data: `{"user":{"tags":["a",{"b":[1,2.5e-3,-0,true,false,null]}]}}`},
		{name: "unicode and escapes", data: `{"name":"Zoë \u00e9\n\"q\" \\ \/","emoji":"\ud83d\ude00 😀"}`},
		{name: "integer beyond 2^64", data: `{"n":123456789012345678901234567890}`},
		{name: "number beyond float64", data: `{"n":1e400,"m":-1E-400}`},
		{name: "empty key", data: `{"":1}`},
		{name: "same key in sibling objects", data: `{"a":{"k":1},"b":{"k":2},"c":[{"k":1},{"k":1}]}`},
		{name: "depth at the limit", data: nested(event.MaxDepth)},
		{name: "many keys", data: manyKeys(500, "")},
		{name: "string at the limit", data: `{"s":"` + strings.Repeat("x", event.MaxStringLength) + `"}`},
		{name: "key at the limit", data: `{"` + strings.Repeat("k", event.MaxKeyLength) + `":1}`},

		{"depth past the limit", nested(event.MaxDepth + 1), "data.a" + strings.Repeat("[0]", event.MaxDepth-1) + ": nests deeper than 32 levels", "too_deep"},
		{"depth of 10000", nested(10000), "data.a" + strings.Repeat("[0]", event.MaxDepth-1) + ": nests deeper than 32 levels", "too_deep"},
		{"duplicate key", `{"amount":1,"amount":2}`, `data: has the key "amount" twice`, "duplicate_key"},
		{"duplicate nested key", `{"user":{"id":1,"segment":"a","segment":"VIP"}}`, `data.user: has the key "segment" twice`, "duplicate_key"},
		{"duplicate key in an array", `{"l":[{},{"k":1,"k":1}]}`, `data.l[1]: has the key "k" twice`, "duplicate_key"},
		{"duplicate key spelt with an escape", `{"a":1,"\u0061":2}`, `data: has the key "a" twice`, "duplicate_key"},
		{"duplicate key in a large object", manyKeys(100, `,"k1":2`), `data: has the key "k1" twice`, "duplicate_key"},
		{"invalid UTF-8 in a value", "{\"s\":\"a\xffb\"}", "data.s: is not valid UTF-8", "invalid_utf8"},
		{"invalid UTF-8 in a key", "{\"k\xc3\":1}", "data: has a key that is not valid UTF-8", "invalid_utf8"},
		{"overlong UTF-8", "{\"s\":\"\xc0\xaf\"}", "data.s: is not valid UTF-8", "invalid_utf8"},
		{"UTF-8 surrogate", "{\"s\":\"\xed\xa0\x80\"}", "data.s: is not valid UTF-8", "invalid_utf8"},
		{"lone high surrogate", `{"s":"\ud800"}`, `data.s: holds a lone surrogate \uD800`, "invalid_utf8"},
		{"high surrogate before a letter", `{"s":"\ud800\u0041"}`, `data.s: holds a lone surrogate \uD800`, "invalid_utf8"},
		{"lone low surrogate", `{"l":["\udc00"]}`, `data.l[0]: holds a lone surrogate \uDC00`, "invalid_utf8"},
		{"string past the limit", `{"s":"` + strings.Repeat("x", event.MaxStringLength+1) + `"}`, "data.s: is a string longer than 65536 bytes", "too_long"},
		{"key past the limit", `{"` + strings.Repeat("k", event.MaxKeyLength+1) + `":1}`, "data: has a key longer than 256 bytes", "too_long"},
		{"number past the limit", `{"n":` + strings.Repeat("9", event.MaxNumberLength+1) + `}`, "data.n: is a number longer than 128 characters", "too_long"},
		{"odd key in the path", `{"a.b":{"x":1,"x":2}}`, `data["a.b"]: has the key "x" twice`, "duplicate_key"},
		{"control character", "{\"s\":\"a\nb\"}", "data: is not valid JSON at byte 8", "invalid_data"},
		{"NaN", `{"n":NaN}`, "data: is not valid JSON at byte 6", "invalid_data"},
		{"leading zero", `{"n":01}`, "data: is not valid JSON at byte 7", "invalid_data"},
		{"bare point", `{"n":1.}`, "data: is not valid JSON at byte 8", "invalid_data"},
		{"bad escape", `{"s":"\x"}`, "data: is not valid JSON at byte 8", "invalid_data"},
		{"bad unicode escape", `{"s":"\u12G4"}`, "data: is not valid JSON at byte 9", "invalid_data"},
		{"trailing comma", `{"a":1,}`, "data: is not valid JSON at byte 8", "invalid_data"},
		{"single quotes", `{'a':1}`, "data: is not valid JSON at byte 2", "invalid_data"},
		{"truncated", `{"a":{"b":"`, "data: is truncated JSON", "invalid_data"},
		{"two objects", `{} {}`, "data: must hold exactly one JSON object", "invalid_data"},
		{"an array", `[{}]`, "data: must be a JSON object", "invalid_data"},
		{"too large", `{"s":"` + strings.Repeat("x", event.MaxDataSize) + `"}`, "data: must be at most 262144 bytes", "too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := event.ValidateData([]byte(tt.data))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateData = %v, want nil", err)
				}
				if !json.Valid([]byte(tt.data)) {
					t.Fatalf("test data is not valid JSON")
				}
				return
			}
			fe, ok := event.AsFieldError(err)
			if !ok {
				t.Fatalf("ValidateData = %v, want a *FieldError %q", err, tt.wantErr)
			}
			if err.Error() != tt.wantErr || fe.Reason() != tt.wantReason {
				t.Errorf("ValidateData = %q (reason %s), want %q (reason %s)", err, fe.Reason(), tt.wantErr, tt.wantReason)
			}
		})
	}
}

// CheckJSON refuses what ValidateData refuses but for its limits, at any
// place of any JSON value, and names the place under its root.
func TestCheckJSON(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr string // empty: valid
	}{
		{name: "an object", raw: `{"all":[{"field":"a","operator":"==","value":1}]}`},
		{name: "not an object", raw: ` [1, "a", true] `},
		{name: "same key in sibling objects", raw: `{"all":[{"k":1},{"k":1}]}`},
		{name: "deeper than data may nest", raw: nested(event.MaxDepth + 10)},
		{name: "number longer than data's", raw: `{"n":` + strings.Repeat("9", event.MaxNumberLength+1) + `}`},
		{name: "key longer than data's", raw: `{"` + strings.Repeat("k", event.MaxKeyLength+1) + `":1}`},

		{"duplicate key", `{"field":"a","operator":"==","value":1,"value":2}`, `condition: has the key "value" twice`},
		{"duplicate key in a list", `{"all":[{"field":"a","operator":"exists"},{"field":"b","field":"c","operator":"exists"}]}`, `condition.all[1]: has the key "field" twice`},
		{"duplicate key spelt with an escape", `{"not":{"value":1,"v\u0061lue":2}}`, `condition.not: has the key "value" twice`},
		{"lone surrogate", `{"value":"\udc00"}`, `condition.value: holds a lone surrogate \uDC00`},
		{"invalid UTF-8", "{\"value\":\"\xff\"}", "condition.value: is not valid UTF-8"},
		{"trailing bracket", `{"field":"a","operator":"exists"}]`, "condition: must hold exactly one JSON object"},
		{"empty", ``, "condition: is truncated JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := event.CheckJSON([]byte(tt.raw), "condition")
			switch {
			case tt.wantErr == "" && fe != nil:
				t.Fatalf("CheckJSON = %v, want nil", fe)
			case tt.wantErr == "" && !json.Valid([]byte(tt.raw)):
				t.Fatalf("test input is not valid JSON")
			case tt.wantErr != "" && (fe == nil || fe.Error() != tt.wantErr):
				t.Errorf("CheckJSON = %v, want %q", fe, tt.wantErr)
			}
		})
	}
}

// The envelope's attributes follow the same rules as the data, and none
// may be given twice: with two sources, one parser could read the first and
// another the second.
func TestParseJSONHostile(t *testing.T) {
	tests := []struct {
		name, body, wantErr, wantReason string
	}{
		{"source twice", `{"type":"a","source":"shop","source":"billing","data":{}}`, "source: is given twice", "duplicate_key"},
		{"type twice with an escape", `{"type":"a","typ\u0065":"b","data":{}}`, "type: is given twice", "duplicate_key"},
		{"data twice", `{"type":"a","data":{},"data":{"x":1}}`, "data: is given twice", "duplicate_key"},
		{"duplicate key in data", `{"type":"a","data":{"u":{"k":1,"k":2}}}`, `data.u: has the key "k" twice`, "duplicate_key"},
		{"invalid UTF-8 in subject", "{\"type\":\"a\",\"subject\":\"\xff\",\"data\":{}}", "subject: is not valid UTF-8", "invalid_utf8"},
		{"lone surrogate in id", `{"type":"a","id":"\udfff","data":{}}`, `id: holds a lone surrogate \uDFFF`, "invalid_utf8"},
		{"data too deep", `{"type":"a","data":` + nested(40) + `}`, "data.a" + strings.Repeat("[0]", event.MaxDepth-1) + ": nests deeper than 32 levels", "too_deep"},
		{"long made-up attribute", `{"type":"a","data":{},"` + strings.Repeat("z", 100) + `":1}`, strings.Repeat("z", 61) + "...: is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits", "unknown_attribute"},
		{"syntax error inside data", `{"type":"a","data":{"a":1,,}}`, "body: is not valid JSON at byte 27", "invalid_body"},
		{"object for a string", `{"type":{"a":1},"data":{}}`, "type: must be a JSON string", "invalid_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.ParseJSON([]byte(tt.body))
			fe, ok := event.AsFieldError(err)
			if !ok {
				t.Fatalf("ParseJSON = %v, want a *FieldError %q", err, tt.wantErr)
			}
			if err.Error() != tt.wantErr || fe.Reason() != tt.wantReason {
				t.Errorf("ParseJSON = %q (reason %s), want %q (reason %s)", err, fe.Reason(), tt.wantErr, tt.wantReason)
			}
		})
	}
}

// Escapes in attributes are decoded before they are checked, and data is
// kept byte for byte, big numbers included.
func TestParseJSONKeepsDataExact(t *testing.T) {
	body := `{"type":"purchase\u002ecompleted","data":{"order":12345678901234567890123, "amount":1e400}}`
	got, err := event.ParseJSON([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "purchase.completed" {
		t.Errorf("type = %q, want purchase.completed", got.Type)
	}
	if want := `{"order":12345678901234567890123, "amount":1e400}`; string(got.Data) != want {
		t.Errorf("data = %s, want %s", got.Data, want)
	}
}

// benchmarkPayloads are the data the validator benchmarks read.
func benchmarkPayloads(b *testing.B) map[string][]byte {
	b.Helper()
	pr, err := os.ReadFile("testdata/pull_request.opened.json")
	if err != nil {
		b.Fatal(err)
	}
	return map[string][]byte{
		"small":           []byte(`{"amount": 742.5, "user": {"segment": "VIP", "id": 12345678901234567890}, "items": ["a", "b"]}`),
		"github_28KB":     pr,
		"many_keys_200KB": []byte(manyKeys(10000, "")),
	}
}

// BenchmarkValidateData measures the validator against json.Valid on the
// same bytes in the same run: json.Valid checks syntax only, so the ratio is
// what depth, duplicate-key, UTF-8 and size checks cost on top of it.
func BenchmarkValidateData(b *testing.B) {
	for name, data := range benchmarkPayloads(b) {
		if err := event.ValidateData(data); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		b.Run(name+"/zenith", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if event.ValidateData(data) != nil {
					b.Fatal("invalid")
				}
			}
		})
		b.Run(name+"/json.Valid", func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if !json.Valid(data) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

// BenchmarkParseJSON measures reading a whole REST body, data included,
// against json.Valid on the same body.
func BenchmarkParseJSON(b *testing.B) {
	pr := benchmarkPayloads(b)["github_28KB"]
	body := []byte(`{"id":"evt-1","type":"pull_request.opened","time":"2025-03-14T15:09:26Z","data":` + string(pr) + `}`)
	b.Run("zenith", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := event.ParseJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(body) {
				b.Fatal("invalid")
			}
		}
	})
}

// FuzzValidateData checks the validator against encoding/json: whatever it
// accepts is valid JSON in valid UTF-8, and whatever it calls a syntax
// error, json.Valid refuses too. CheckJSON, the same check without the
// limits on data, must agree with it.
func FuzzValidateData(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":[1,2.5e-3,-0,true,false,null,"x"]}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
		`{"s":"\ud83d\ude00"}`, `{"s":"\ud800"}`, "{\"s\":\"\xff\"}", nested(40), `{"n":01}`, `{"a":{"b":"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := event.ValidateData(data)
		if err == nil {
			if !json.Valid(data) || !utf8.Valid(data) {
				t.Fatalf("ValidateData accepted %q, which is not valid JSON in UTF-8", data)
			}
			if fe := event.CheckJSON(data, "data"); fe != nil {
				t.Fatalf("ValidateData accepted %q, CheckJSON refused it: %v", data, fe)
			}
			return
		}
		fe, ok := event.AsFieldError(err)
		if !ok {
			t.Fatalf("ValidateData(%q) = %v, not a *FieldError", data, err)
		}
		if syntax := strings.Contains(fe.Problem, "JSON at byte") || fe.Problem == "is truncated JSON"; syntax && json.Valid(data) {
			t.Fatalf("ValidateData(%q) = %v, but json.Valid accepts it", data, err)
		}
		checkJSONAgrees(t, data, fe)
	})
}

// checkJSONAgrees fails the test unless CheckJSON refuses data as
// ValidateData did with fe, for any problem but a limit on data or data
// that is no object, which CheckJSON does not check.
func checkJSONAgrees(t *testing.T, data []byte, fe *event.FieldError) {
	t.Helper()
	switch fe.Reason() {
	case event.ReasonTooDeep, event.ReasonTooLong, event.ReasonTooLarge:
		return
	}
	if fe.Problem == "is required" || fe.Problem == "must be a JSON object" {
		return
	}
	if got := event.CheckJSON(data, "data"); got == nil || got.Error() != fe.Error() {
		t.Fatalf("ValidateData(%q) = %v, CheckJSON = %v", data, fe, got)
	}
}

// FuzzParseJSON checks that any body either parses into an event whose data
// is valid, or is refused with a *FieldError; never a panic.
func FuzzParseJSON(f *testing.F) {
	for _, seed := range []string{
		`{"type":"purchase.completed","data":{"amount":742.5}}`,
		`{"specversion":"1.0","id":"e-1","source":"shop","type":"a.b","time":"2025-03-14T15:09:26Z","subject":"x","datacontenttype":"application/json","data":{"n":1}}`,
		`{"type":"a","type":"b","data":{}}`, `{"type":"a","data":null}`, `{"type":"a","data":[1]}`, `{"id":42}`, `[]`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := event.ParseJSON(body)
		if err != nil {
			if _, ok := event.AsFieldError(err); !ok {
				t.Fatalf("ParseJSON(%q) = %v, not a *FieldError", body, err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("ParseJSON accepted %q, which is not valid JSON", body)
		}
		if err := event.ValidateData(e.Data); err != nil {
			t.Fatalf("ParseJSON(%q) returned data that does not validate: %v", body, err)
		}
		if !event.ValidType(e.Type) {
			t.Fatalf("ParseJSON(%q) returned the invalid type %q", body, e.Type)
		}
	})
}
