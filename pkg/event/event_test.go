package event_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/zenith-hq/zenith/pkg/event"
)

// validEvent returns an event that passes Validate; rows of the tables below
// break one attribute of it.
func validEvent() event.Event {
	return event.Event{
		ID:      "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50",
		Source:  "shop",
		Type:    "purchase.completed",
		Time:    time.Date(2025, 3, 14, 15, 9, 26, 535000000, time.UTC),
		Subject: "order/1234",
		Data:    []byte(`{"amount": 742.5, "user": {"segment": "VIP"}}`),
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(e *event.Event)
		wantField  string // empty: valid
		wantMsg    string
		wantReason string // empty: invalid_<wantField>
	}{
		{name: "valid", edit: func(*event.Event) {}},
		{name: "empty subject is fine", edit: func(e *event.Event) { e.Subject = "" }},
		{name: "unicode subject is fine", edit: func(e *event.Event) { e.Subject = "client/Zoë" }},
		{name: "data with leading space", edit: func(e *event.Event) { e.Data = []byte(" \n{}") }},
		{
			name: "missing id", edit: func(e *event.Event) { e.ID = "" },
			wantField: "id", wantMsg: "id: is required",
		},
		{
			name: "id too long", edit: func(e *event.Event) { e.ID = strings.Repeat("a", event.MaxIDLength+1) },
			wantField: "id", wantMsg: "id: must be at most 128 characters",
		},
		{
			name: "id at the limit", edit: func(e *event.Event) { e.ID = strings.Repeat("a", event.MaxIDLength) },
		},
		{
			name: "id with space", edit: func(e *event.Event) { e.ID = "order 1" },
			wantField: "id", wantMsg: "id: must be printable ASCII without spaces",
		},
		{
			name: "id with non-ASCII", edit: func(e *event.Event) { e.ID = "ordér" },
			wantField: "id", wantMsg: "id: must be printable ASCII without spaces",
		},
		{
			name: "upper-case source", edit: func(e *event.Event) { e.Source = "Shop" },
			wantField: "source",
		},
		{
			name: "missing type", edit: func(e *event.Event) { e.Type = "" },
			wantField: "type", wantMsg: "type: is required",
		},
		{
			name: "type with empty word", edit: func(e *event.Event) { e.Type = "purchase..completed" },
			wantField: "type",
		},
		{
			name: "type with wildcard", edit: func(e *event.Event) { e.Type = "purchase.*" },
			wantField: "type",
		},
		{
			name: "missing time", edit: func(e *event.Event) { e.Time = time.Time{} },
			wantField: "time", wantMsg: "time: is required",
		},
		{
			name: "subject too long", edit: func(e *event.Event) { e.Subject = strings.Repeat("s", event.MaxSubjectLength+1) },
			wantField: "subject", wantMsg: "subject: must be at most 256 bytes",
		},
		{
			name: "subject with newline", edit: func(e *event.Event) { e.Subject = "a\nb" },
			wantField: "subject", wantMsg: "subject: must not contain control characters",
		},
		{
			name: "subject with DEL", edit: func(e *event.Event) { e.Subject = "a\x7fb" },
			wantField: "subject", wantMsg: "subject: must not contain control characters",
		},
		{
			name: "subject not UTF-8", edit: func(e *event.Event) { e.Subject = "a\xffb" },
			wantField: "subject", wantMsg: "subject: must be valid UTF-8",
		},
		{
			name: "missing data", edit: func(e *event.Event) { e.Data = nil },
			wantField: "data", wantMsg: "data: is required",
		},
		{
			name: "data is an array", edit: func(e *event.Event) { e.Data = []byte(`[1, 2]`) },
			wantField: "data", wantMsg: "data: must be a JSON object",
		},
		{
			name: "data is broken JSON", edit: func(e *event.Event) { e.Data = []byte(`{"amount": }`) },
			wantField: "data", wantMsg: "data: is not valid JSON at byte 12",
		},
		{
			name: "data too large", edit: func(e *event.Event) { e.Data = bigObject(event.MaxDataSize + 1) },
			wantField: "data", wantMsg: "data: must be at most 262144 bytes", wantReason: "too_large",
		},
		{
			name: "data at the limit", edit: func(e *event.Event) { e.Data = bigObject(event.MaxDataSize) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEvent()
			tt.edit(&e)
			err := e.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			fe, ok := event.AsFieldError(err)
			if !ok {
				t.Fatalf("Validate() = %v, want a *FieldError for %q", err, tt.wantField)
			}
			if fe.Field != tt.wantField {
				t.Errorf("field = %q, want %q (error %q)", fe.Field, tt.wantField, err)
			}
			wantReason := tt.wantReason
			if wantReason == "" {
				wantReason = "invalid_" + tt.wantField
			}
			if fe.Reason() != wantReason {
				t.Errorf("Reason() = %q, want %q", fe.Reason(), wantReason)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

// bigObject returns a JSON object of exactly n bytes (n at least 20), a
// list of strings within MaxStringLength.
func bigObject(n int) []byte {
	b := []byte(`{"pad":[`)
	for sep := ""; ; sep = "," {
		// What the last string may hold: n less the bytes so far, the
		// separator, its quotes and the closing "]}".
		room := n - len(b) - len(sep) - 4
		if room <= 1000 {
			b = append(b, sep+`"`+strings.Repeat("x", room)+`"]}`...)
			return b
		}
		b = append(b, sep+`"`+strings.Repeat("x", min(1000, room-10))+`"`...)
	}
}

func TestValidSourceName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"shop", true},
		{"shop-eu_2", true},
		{"9lives", true},
		{strings.Repeat("a", event.MaxSourceLength), true},
		{strings.Repeat("a", event.MaxSourceLength+1), false},
		{"", false},
		{"Shop", false},
		{"-shop", false},
		{"_shop", false},
		{"shop.eu", false}, // would be two subject tokens
		{"shop*", false},
		{"shop>", false},
		{"shop eu", false},
		{"shöp", false},
	}
	for _, tt := range tests {
		if got := event.ValidSourceName(tt.name); got != tt.want {
			t.Errorf("ValidSourceName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidType(t *testing.T) {
	tests := []struct {
		typ  string
		want bool
	}{
		{"purchase", true},
		{"purchase.completed", true},
		{"Order_Created.v2-beta", true},
		{strings.Repeat("a", event.MaxTypeLength), true},
		{strings.Repeat("a", event.MaxTypeLength+1), false},
		{"", false},
		{".purchase", false},
		{"purchase.", false},
		{"purchase..completed", false},
		{"purchase.*", false},
		{"purchase.>", false},
		{"purchase completed", false},
		{"purchase/completed", false},
	}
	for _, tt := range tests {
		if got := event.ValidType(tt.typ); got != tt.want {
			t.Errorf("ValidType(%q) = %v, want %v", tt.typ, got, tt.want)
		}
	}
}

func TestNewIDIsUUIDv7(t *testing.T) {
	before := time.Now().Truncate(time.Millisecond)
	first := event.NewID()
	second := event.NewID()
	after := time.Now()

	if first == second {
		t.Fatalf("NewID returned %q twice", first)
	}
	for _, id := range []string{first, second} {
		u, err := uuid.Parse(id)
		if err != nil {
			t.Fatalf("NewID() = %q, not a UUID: %v", id, err)
		}
		if u.Version() != 7 {
			t.Errorf("NewID() = %q has version %d, want 7", id, u.Version())
		}
		if u.Variant() != uuid.RFC4122 {
			t.Errorf("NewID() = %q has variant %v, want RFC 4122", id, u.Variant())
		}
		sec, nsec := u.Time().UnixTime()
		stamp := time.Unix(sec, nsec)
		if stamp.Before(before) || stamp.After(after) {
			t.Errorf("NewID() = %q carries time %v, want between %v and %v", id, stamp, before, after)
		}
		if err := (&event.Event{ID: id}).Validate(); err != nil {
			if fe, _ := event.AsFieldError(err); fe == nil || fe.Field == "id" {
				t.Errorf("an id from NewID does not validate: %v", err)
			}
		}
	}
	if first > second {
		t.Errorf("ids do not sort by time: %q came before %q", first, second)
	}
}
