package event_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

// Extension attributes are read from the JSON format whatever their JSON
// type, kept as strings sorted by name, and carried unchanged by both NATS
// modes and by MarshalJSON.
func TestExtensionsRoundTrip(t *testing.T) {
	body := `{"type":"purchase.completed","id":"e-1","source":"shop","time":"2025-03-14T15:09:26Z",
		"tenant":"acme","sequence":42,"sampled":true,"partitionkey":null,"comment":"caf\u00e9 \"quoted\"",
		"dataschema":"https://schemas.example.com/purchase.json","data":{"amount":1}}`
	e, err := event.ParseJSON([]byte(body))
	if err != nil {
		t.Fatalf("ParseJSON: %v", err)
	}
	want := []event.Extension{
		{Name: "comment", Value: `café "quoted"`},
		{Name: "dataschema", Value: "https://schemas.example.com/purchase.json"},
		{Name: "sampled", Value: "true"},
		{Name: "sequence", Value: "42"},
		{Name: "tenant", Value: "acme"},
	}
	if diff := cmp.Diff(want, e.Extensions); diff != "" {
		t.Fatalf("Extensions (-want +got):\n%s", diff)
	}

	nc, err := nats.Connect(testenv.NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	structured, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for name, msg := range map[string]*nats.Msg{
		"binary":     {Subject: "test.binary", Header: e.Header(), Data: e.Data},
		"structured": {Subject: "test.structured", Header: nats.Header{"Content-Type": {event.StructuredContentType}}, Data: structured},
	} {
		got, err := event.FromNATS(transmit(t, nc, msg).Header, msg.Data)
		if err != nil {
			t.Fatalf("%s: FromNATS: %v", name, err)
		}
		if diff := cmp.Diff(want, got.Extensions); diff != "" {
			t.Errorf("%s: extensions after NATS (-want +got):\n%s", name, diff)
		}
	}
	if !strings.Contains(string(structured), `"sequence":"42","tenant":"acme"}`) {
		t.Errorf("MarshalJSON = %s, want the extensions after data, as strings", structured)
	}
}

// A null extension is left out, and so does not count against the limit.
func TestNullExtensionsAreLeftOut(t *testing.T) {
	body := `{"type":"a","data":{}`
	for i := range event.MaxExtensions {
		body += `,"x` + string(rune('a'+i)) + `":1`
	}
	body += `,"gone":null}`
	e, err := event.ParseJSON([]byte(body))
	if err != nil || len(e.Extensions) != event.MaxExtensions {
		t.Fatalf("ParseJSON of 16 extensions and a null = %d extensions, %v; want 16, no error", len(e.Extensions), err)
	}
}

func TestExtensionsRefused(t *testing.T) {
	many := `{"type":"a","data":{}`
	for i := range event.MaxExtensions + 1 {
		many += `,"x` + string(rune('a'+i)) + `":1`
	}
	many += `}`
	tests := []struct {
		name, body, want, reason string
	}{
		{"upper-case name", `{"type":"a","data":{},"Tenant":"x"}`,
			"Tenant: is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits", "unknown_attribute"},
		{"too many", many, "xq: is an extension attribute too many: at most 16", "invalid_extension"},
		{"too long", `{"type":"a","data":{},"tenant":"` + strings.Repeat("x", 257) + `"}`,
			"tenant: must be at most 256 bytes", "invalid_extension"},
		{"C1 control character", `{"type":"a","data":{},"tenant":"a\u0085b"}`, "tenant: must not contain control characters", "invalid_extension"},
		{"control character", `{"type":"a","data":{},"tenant":"a\u0000b"}`, "tenant: must not contain control characters", "invalid_extension"},
		{"array", `{"type":"a","data":{},"tags":[1]}`, "tags: must be a string, a number or a boolean", "invalid_extension"},
		{"twice", `{"type":"a","data":{},"tenant":"x","tenant":"y"}`, "tenant: is given twice", "duplicate_key"},
		{"relative dataschema", `{"type":"a","data":{},"dataschema":"/schemas/a"}`, "dataschema: must be an absolute URI", "invalid_extension"},
		{"binary data", `{"type":"a","data_base64":"AAEC"}`, "data_base64: binary data is not supported: send data as a JSON object", "unknown_attribute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.ParseJSON([]byte(tt.body))
			fe, ok := event.AsFieldError(err)
			if !ok || err.Error() != tt.want || fe.Reason() != tt.reason {
				t.Errorf("ParseJSON = %v (reason %s), want %q (reason %s)", err, reasonOf(err), tt.want, tt.reason)
			}
		})
	}
}

// In NATS binary mode an extension is any ce-* header Zenith does not read
// itself; its name is matched without regard to case, as headers are.
func TestExtensionsFromNATSHeaders(t *testing.T) {
	base := validEvent()
	tests := []struct {
		name   string
		header func(nats.Header)
		want   string
		ext    []event.Extension
	}{
		{"upper-case header", func(h nats.Header) { h["Ce-Tenant"] = []string{"acme"} }, "",
			[]event.Extension{{Name: "tenant", Value: "acme"}}},
		{"other headers ignored", func(h nats.Header) { h["traceparent"] = []string{"00-x"}; h["Nats-Msg-Id"] = []string{"1"} }, "", nil},
		{"header given twice", func(h nats.Header) { h["ce-tenant"] = []string{"a", "b"} }, "ce-tenant: is given twice", nil},
		{"name with a dash", func(h nats.Header) { h["ce-tenant-id"] = []string{"a"} }, "ce-tenant-id: " +
			"is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits", nil},
		{"data as a header", func(h nats.Header) { h["ce-data"] = []string{"{}"} }, "ce-data: " +
			"is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits", nil},
		{"CR LF in a value", func(h nats.Header) { h["ce-tenant"] = []string{"a\r\nb"} }, "tenant: must not contain control characters", nil},
		{"too long a value", func(h nats.Header) { h["ce-tenant"] = []string{strings.Repeat("x", 257)} }, "tenant: must be at most 256 bytes", nil},
		{"no name", func(h nats.Header) { h["ce-"] = []string{"x"} }, "ce-: " +
			"is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base.Header()
			tt.header(h)
			got, err := event.FromNATS(h, base.Data)
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("FromNATS = %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromNATS: %v", err)
			}
			if diff := cmp.Diff(tt.ext, got.Extensions); diff != "" {
				t.Errorf("Extensions (-want +got):\n%s", diff)
			}
		})
	}
}

func reasonOf(err error) string {
	if fe, ok := event.AsFieldError(err); ok {
		return fe.Reason()
	}
	return ""
}
