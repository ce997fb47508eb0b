package event_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/event"
)

func TestParseJSON(t *testing.T) {
	body := `{
		"specversion": "1.0",
		"id": "evt-1",
		"source": "shop",
		"type": "purchase.completed",
		"time": "2025-03-14T16:09:26.535+01:00",
		"subject": "order/1234",
		"datacontenttype": "application/json; charset=utf-8",
		"data": {"amount": 742.5, "user": {"segment": "VIP"}}
	}`
	got, err := event.ParseJSON([]byte(body))
	if err != nil {
		t.Fatalf("ParseJSON: %v", err)
	}
	want := event.Event{
		ID:      "evt-1",
		Source:  "shop",
		Type:    "purchase.completed",
		Time:    time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC),
		Subject: "order/1234",
		Data:    []byte(`{"amount": 742.5, "user": {"segment": "VIP"}}`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseJSON mismatch (-want +got):\n%s", diff)
	}
}

// The attributes a producer may leave out are filled in by the caller before
// Validate; ParseJSON must accept their absence.
func TestParseJSONMinimal(t *testing.T) {
	got, err := event.ParseJSON([]byte(`{"type":"purchase.completed","data":{"amount":1}}`))
	if err != nil {
		t.Fatalf("ParseJSON: %v", err)
	}
	if got.ID != "" || got.Source != "" || !got.Time.IsZero() {
		t.Errorf("ParseJSON filled in attributes the body did not have: %+v", got)
	}
	// A null id is read as one left out, as every null attribute is.
	if _, err := event.ParseJSON([]byte(`{"id":null,"type":"a","data":{}}`)); err != nil {
		t.Errorf("ParseJSON of a null id: %v, want it read as absent", err)
	}
	if got.Type != "purchase.completed" || string(got.Data) != `{"amount":1}` {
		t.Errorf("ParseJSON = %+v, want type purchase.completed and data {\"amount\":1}", got)
	}
}

func TestParseJSONErrors(t *testing.T) {
	tooBig := `{"type":"a","data":` + string(bigObject(event.MaxDataSize+1)) + `}`
	tests := []struct {
		name string
		body string
		want string
	}{
		{"not an object", `["type", "a"]`, "body: must be a JSON object"},
		{"a string", `"hello"`, "body: must be a JSON object"},
		{"empty body", ``, "body: must be a JSON object"},
		{"broken JSON", `{"type": "a",, "data": {}}`, "body: is not valid JSON at byte 14"},
		{"truncated", `{"type": "a", "data": {`, "body: is truncated JSON"},
		{"two objects", `{"type":"a","data":{}} {}`, "body: must hold exactly one JSON object"},
		{"attribute name no extension may have", `{"type":"a","data":{},"data-schema":"x"}`, "data-schema: is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits"},
		{"number for a string", `{"id":42,"type":"a","data":{}}`, "id: must be a JSON string"},
		{"empty id", `{"id":"","type":"a","data":{}}`, "id: must not be empty; leave it out to have one assigned"},
		{"empty id spelt with an escape", `{"type":"a","data":{},"\u0069d":""}`, "id: must not be empty; leave it out to have one assigned"},
		{"missing type", `{"id":"1","data":{"a":1}}`, "type: is required"},
		{"empty type", `{"type":"","data":{"a":1}}`, "type: is required"},
		{"malformed type", `{"type":"purchase..completed","data":{"a":1}}`, "type: must be dot-separated words of letters, digits, '-' or '_', at most 128 characters"},
		{"bad time", `{"type":"a","time":"14/03/2025","data":{}}`, "time: must be an RFC 3339 timestamp"},
		{"time without zone", `{"type":"a","time":"2025-03-14T15:09:26","data":{}}`, "time: must be an RFC 3339 timestamp"},
		{"bad specversion", `{"specversion":"0.3","type":"a","data":{}}`, `specversion: must be "1.0" when given`},
		{"non-JSON content type", `{"type":"a","datacontenttype":"text/plain","data":{}}`, "datacontenttype: must be application/json when given"},
		{"missing data", `{"type":"a"}`, "data: is required"},
		{"null data", `{"type":"a","data":null}`, "data: is required"},
		{"data not an object", `{"type":"a","data":[{"amount":1}]}`, "data: must be a JSON object"},
		{"data a string", `{"type":"a","data":"{}"}`, "data: must be a JSON object"},
		{"oversized data", tooBig, "data: must be at most 262144 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := event.ParseJSON([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseJSON succeeded, want error %q", tt.want)
			}
			if _, ok := event.AsFieldError(err); !ok {
				t.Errorf("ParseJSON error %T is not a *FieldError", err)
			}
			if err.Error() != tt.want {
				t.Errorf("ParseJSON error = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	in := validEvent()
	in.Time = time.Date(2025, 3, 14, 16, 9, 26, 535000001, time.FixedZone("CET", 3600))

	b, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var attrs map[string]any
	if err := json.Unmarshal(b, &attrs); err != nil {
		t.Fatalf("marshalled event is not JSON: %v", err)
	}
	if attrs["specversion"] != "1.0" || attrs["datacontenttype"] != "application/json" ||
		attrs["time"] != "2025-03-14T15:09:26.535000001Z" {
		t.Errorf("marshalled attributes = %v, want specversion 1.0, JSON content type and UTC time", attrs)
	}

	var out event.Event
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if !out.Time.Equal(in.Time) {
		t.Errorf("time = %v, want %v", out.Time, in.Time)
	}
	// MarshalJSON inlines data as compact JSON; the value must survive.
	var compact bytes.Buffer
	if err := json.Compact(&compact, in.Data); err != nil {
		t.Fatal(err)
	}
	in.Data = compact.Bytes()
	out.Time, in.Time = time.Time{}, time.Time{}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Errorf("round trip mismatch (-want +got):\n%s", diff)
	}
}

// Unmarshalling validates, unlike ParseJSON: an action carrying an event with
// no id must not decode.
func TestUnmarshalJSONValidates(t *testing.T) {
	var e event.Event
	err := json.Unmarshal([]byte(`{"source":"shop","type":"a","time":"2025-03-14T15:09:26Z","data":{}}`), &e)
	if err == nil || !strings.Contains(err.Error(), "id: is required") {
		t.Errorf("Unmarshal of an event without id = %v, want id: is required", err)
	}
	// Nothing fills an id in here, so an empty one is simply missing.
	err = json.Unmarshal([]byte(`{"id":"","source":"shop","type":"a","time":"2025-03-14T15:09:26Z","data":{}}`), &e)
	if err == nil || err.Error() != "id: is required" {
		t.Errorf("Unmarshal of an event with an empty id = %v, want id: is required", err)
	}
}

// Metrics label rejections by Reason; a field a producer made up must not
// become a label value.
func TestParseJSONReason(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"type":"a","data":{},"x-made-up-1234":"v"}`, "unknown_attribute"},
		{`{"type":"a","time":"soon","data":{}}`, "invalid_time"},
		{`{"data":{}}`, "invalid_type"},
		{`[]`, "invalid_body"},
		{`{"id":"","type":"a","data":{}}`, "invalid_id"},
	}
	for _, tt := range tests {
		_, err := event.ParseJSON([]byte(tt.body))
		fe, ok := event.AsFieldError(err)
		if !ok {
			t.Fatalf("ParseJSON(%s) = %v, want a *FieldError", tt.body, err)
		}
		if got := fe.Reason(); got != tt.want {
			t.Errorf("ParseJSON(%s) reason = %q, want %q", tt.body, got, tt.want)
		}
	}
}
