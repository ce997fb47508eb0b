package event_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

// transmit sends msg through a real NATS server and returns it as received,
// so that the round trips below cover what the wire does to headers.
func transmit(t *testing.T, nc *nats.Conn, msg *nats.Msg) *nats.Msg {
	t.Helper()
	sub, err := nc.SubscribeSync(msg.Subject)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // the connection closes at cleanup anyway
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("receive %s: %v", msg.Subject, err)
	}
	return got
}

func TestFromNATSRoundTrip(t *testing.T) {
	nc, err := nats.Connect(testenv.NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)

	in := validEvent()
	in.Time = time.Date(2025, 3, 14, 16, 9, 26, 535000001, time.FixedZone("CET", 3600))
	withoutSubject := validEvent()
	withoutSubject.Subject = ""
	structured, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		msg  *nats.Msg
		want event.Event
	}{
		{
			name: "binary mode",
			msg:  &nats.Msg{Subject: "test.binary", Header: in.Header(), Data: in.Data},
			want: in,
		},
		{
			name: "binary mode without subject",
			msg:  &nats.Msg{Subject: "test.binary", Header: withoutSubject.Header(), Data: withoutSubject.Data},
			want: withoutSubject,
		},
		{
			name: "structured mode",
			msg: &nats.Msg{
				Subject: "test.structured",
				Header:  nats.Header{event.HeaderContentType: {event.StructuredContentType + "; charset=utf-8"}},
				Data:    structured,
			},
			want: event.Event{
				ID: in.ID, Source: in.Source, Type: in.Type, Time: in.Time, Subject: in.Subject,
				Data: []byte(`{"amount":742.5,"user":{"segment":"VIP"}}`),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			received := transmit(t, nc, tt.msg)
			got, err := event.FromNATS(received.Header, received.Data)
			if err != nil {
				t.Fatalf("FromNATS: %v", err)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("time = %v, want %v", got.Time, tt.want.Time)
			}
			got.Time, tt.want.Time = time.Time{}, time.Time{}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromNATS mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeader(t *testing.T) {
	e := validEvent()
	e.Time = time.Date(2025, 3, 14, 16, 9, 26, 0, time.FixedZone("CET", 3600))
	want := nats.Header{
		"ce-specversion":     {"1.0"},
		"ce-id":              {e.ID},
		"ce-source":          {"shop"},
		"ce-type":            {"purchase.completed"},
		"ce-time":            {"2025-03-14T15:09:26Z"},
		"ce-subject":         {"order/1234"},
		"ce-datacontenttype": {"application/json"},
	}
	if diff := cmp.Diff(want, e.Header()); diff != "" {
		t.Errorf("Header mismatch (-want +got):\n%s", diff)
	}

	e.Subject = ""
	if _, ok := e.Header()[event.HeaderSubject]; ok {
		t.Errorf("Header() of an event without subject has %s", event.HeaderSubject)
	}
}

func TestHeaderValue(t *testing.T) {
	h := nats.Header{
		"CE-ID":        {"upper"},
		"Ce-Source":    {"mixed"},
		"ce-type":      {"first", "second"},
		"ce-subject":   {},
		"Content-Type": {"application/json"},
	}
	tests := []struct {
		name string
		want string
	}{
		{"ce-id", "upper"},
		{"CE-ID", "upper"},
		{"ce-source", "mixed"},
		{"CE-SOURCE", "mixed"},
		{"ce-type", "first"},
		{"Ce-Type", "first"},
		{"content-type", "application/json"},
		{"ce-subject", ""}, // present without a value
		{"ce-time", ""},
	}
	for _, tt := range tests {
		if got := event.HeaderValue(h, tt.name); got != tt.want {
			t.Errorf("HeaderValue(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A producer publishing to NATS by hand may capitalise the header names.
func TestFromNATSAnyHeaderCase(t *testing.T) {
	h := nats.Header{
		"CE-SpecVersion": {"1.0"},
		"Ce-Id":          {"evt-7"},
		"CE-SOURCE":      {"shop"},
		"Ce-Type":        {"cart.abandoned"},
		"CE-Time":        {"2025-03-14T15:09:26Z"},
	}
	got, err := event.FromNATS(h, []byte(`{"items":3}`))
	if err != nil {
		t.Fatalf("FromNATS: %v", err)
	}
	want := event.Event{
		ID: "evt-7", Source: "shop", Type: "cart.abandoned",
		Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
		Data: []byte(`{"items":3}`),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FromNATS mismatch (-want +got):\n%s", diff)
	}
}

func TestFromNATSErrors(t *testing.T) {
	good := validEvent()
	tests := []struct {
		name    string
		edit    func(h nats.Header)
		payload string
		want    string
	}{
		{"no specversion", func(h nats.Header) { h.Del(event.HeaderSpecVersion) }, "", `ce-specversion: must be "1.0"`},
		{"old specversion", func(h nats.Header) { h.Set(event.HeaderSpecVersion, "0.3") }, "", `ce-specversion: must be "1.0"`},
		{"XML content", func(h nats.Header) { h.Set(event.HeaderDataContentType, "application/xml") }, "", "ce-datacontenttype: must be application/json"},
		{"bad time", func(h nats.Header) { h.Set(event.HeaderTime, "yesterday") }, "", "ce-time: must be an RFC 3339 timestamp"},
		{"no id", func(h nats.Header) { delete(h, event.HeaderID) }, "", "id: is required"},
		{"bad source", func(h nats.Header) { h[event.HeaderSource] = []string{"Shop"} }, "", "source: must be 1-63 lower-case letters, digits, '-' or '_'"},
		{"payload not an object", func(nats.Header) {}, `[1]`, "data: must be a JSON object"},
		{
			"structured with bad envelope",
			func(h nats.Header) { h.Set(event.HeaderContentType, "Application/CloudEvents+JSON") },
			`{"type":"a","data":{}}`,
			"id: is required",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := good.Header()
			tt.edit(h)
			payload := good.Data
			if tt.payload != "" {
				payload = []byte(tt.payload)
			}
			_, err := event.FromNATS(h, payload)
			if err == nil || err.Error() != tt.want {
				t.Errorf("FromNATS error = %v, want %q", err, tt.want)
			}
		})
	}
}

// FuzzFromNATS reads messages in both CloudEvents modes built from random
// header values and payloads: any of them is either an event that
// validates, and comes back the same from its own headers, or a
// *FieldError; never a panic.
func FuzzFromNATS(f *testing.F) {
	good := validEvent()
	f.Add("1.0", good.ID, good.Source, good.Type, "2025-03-14T15:09:26Z", good.Subject, "application/json", good.Data, false)
	f.Add("1.0", "e 1", "Shop", "a.>", "yesterday", "a\r\nb", "text/plain", []byte(`{"a":1,"a":2}`), false)
	f.Add("", "", "", "", "", "", event.StructuredContentType, []byte(`{"id":"e","source":"shop","type":"a","time":"2025-03-14T15:09:26Z","data":{}}`), true)
	f.Fuzz(func(t *testing.T, spec, id, source, typ, at, subject, contentType string, payload []byte, structured bool) {
		h := nats.Header{}
		if structured {
			h.Set(event.HeaderContentType, contentType)
		} else {
			h[event.HeaderSpecVersion] = []string{spec}
			h[event.HeaderID] = []string{id}
			h[event.HeaderSource] = []string{source}
			h[event.HeaderType] = []string{typ}
			h[event.HeaderTime] = []string{at}
			h[event.HeaderSubject] = []string{subject}
			h[event.HeaderDataContentType] = []string{contentType}
		}
		e, err := event.FromNATS(h, payload)
		if err != nil {
			if _, ok := event.AsFieldError(err); !ok {
				t.Fatalf("FromNATS = %v, not a *FieldError", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("FromNATS returned an event that does not validate: %v", err)
		}
		again, err := event.FromNATS(e.Header(), e.Data)
		if err != nil {
			t.Fatalf("the event's own headers do not read back: %v", err)
		}
		if !again.Time.Equal(e.Time) || again.ID != e.ID || again.Source != e.Source || again.Type != e.Type ||
			again.Subject != e.Subject || string(again.Data) != string(e.Data) {
			t.Fatalf("round trip changed the event: %+v, then %+v", e, again)
		}
	})
}
