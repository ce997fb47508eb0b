package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"
)

// MaxDataSize is the largest data object accepted, in bytes.
const MaxDataSize = 256 << 10

// ValidateData checks that data is one well-formed JSON object of at most
// MaxDataSize bytes.
func ValidateData(data []byte) error {
	if len(data) == 0 {
		return fieldErr("data", "is required")
	}
	if len(data) > MaxDataSize {
		return fieldErr("data", "must be at most %d bytes", MaxDataSize)
	}
	if firstByte(data) != '{' {
		return fieldErr("data", "must be a JSON object")
	}
	if !json.Valid(data) {
		return fieldErr("data", "is not valid JSON")
	}
	return nil
}

// firstByte returns the first byte of b that is not JSON white space, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		default:
			return c
		}
	}
	return 0
}

// wireEvent is an event as producers write it in JSON: the CloudEvents JSON
// format, restricted to the attributes Zenith knows.
type wireEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	Subject         string          `json:"subject"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
}

// ParseJSON reads one event in the CloudEvents JSON format from body. It
// checks the syntax and the attributes' formats but not the values a caller
// may fill in afterwards (id, source, time): call Validate when they are set.
// Errors are *FieldError values naming the problem.
func ParseJSON(body []byte) (Event, error) {
	if firstByte(body) != '{' {
		return Event{}, fieldErr("body", "must be a JSON object")
	}

	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Event{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, fieldErr("body", "must hold exactly one JSON object")
	}
	return w.event()
}

func (w *wireEvent) event() (Event, error) {
	if w.SpecVersion != "" && w.SpecVersion != "1.0" {
		return Event{}, fieldErr("specversion", "must be \"1.0\" when given")
	}
	if w.DataContentType != "" && !isJSONContentType(w.DataContentType) {
		return Event{}, fieldErr("datacontenttype", "must be application/json when given")
	}

	e := Event{ID: w.ID, Source: w.Source, Type: w.Type, Subject: w.Subject, Data: w.Data}
	// The type and the data come only from the body, so they are checked
	// here; id, source and time may still be filled in by the caller.
	if err := validateType(e.Type); err != nil {
		return Event{}, err
	}
	if w.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			return Event{}, fieldErr("time", "must be an RFC 3339 timestamp")
		}
		e.Time = t
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return Event{}, fieldErr("data", "is required")
	}
	if err := ValidateData(e.Data); err != nil {
		return Event{}, err
	}
	return e, nil
}

// decodeError turns an encoding/json error into a FieldError that says what
// was wrong without echoing Go type names.
func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		// Every attribute but data is a string.
		return fieldErr(typeErr.Field, "must be a JSON string")
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return fieldErr("body", "is not valid JSON at byte %d", syntaxErr.Offset)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "is not a known attribute")
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fieldErr("body", "is truncated JSON")
	}
	return fieldErr("body", "is not valid JSON")
}

func isJSONContentType(ct string) bool {
	mediaType, _, _ := strings.Cut(ct, ";")
	mediaType = strings.TrimSpace(strings.ToLower(mediaType))
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// MarshalJSON writes e in the CloudEvents JSON format, with data inlined.
func (e Event) MarshalJSON() ([]byte, error) {
	w := wireEvent{
		SpecVersion:     "1.0",
		ID:              e.ID,
		Source:          e.Source,
		Type:            e.Type,
		Time:            e.Time.UTC().Format(time.RFC3339Nano),
		Subject:         e.Subject,
		DataContentType: "application/json",
		Data:            json.RawMessage(e.Data),
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads e from the CloudEvents JSON format and validates it.
func (e *Event) UnmarshalJSON(b []byte) error {
	parsed, err := ParseJSON(b)
	if err != nil {
		return err
	}
	if err := parsed.Validate(); err != nil {
		return err
	}
	*e = parsed
	return nil
}
