package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// wireEvent is an event as producers write it in JSON: the CloudEvents JSON
// format. Data comes last, so that MarshalJSON can add the extension
// attributes after it.
type wireEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	Extensions      []Extension     `json:"-"`
	// idGiven tells an id given as a string, perhaps empty, from one left
	// out or null.
	idGiven bool
}

// byteOrderMark is U+FEFF in UTF-8, which some editors put at the start of
// a file and JSON text must not begin with.
var byteOrderMark = []byte{0xEF, 0xBB, 0xBF}

// ParseJSON reads one event in the CloudEvents JSON format from body. It
// reads body once, checking the syntax, the limits and rules ValidateData
// names (they apply to the whole body, data included), that no attribute is
// given twice or unknown, and the formats of the type, time, specversion and
// datacontenttype. It does not check the values a caller may fill in
// afterwards (id, source, time): call ValidateAttributes when they are set.
// An id given empty is refused all the same, since CloudEvents requires a
// non-empty one: it is not the same as one left out. Data is the body's
// bytes of the data member, unchanged. Errors are *FieldError values naming
// the problem.
func ParseJSON(body []byte) (Event, error) {
	w, err := scanEvent(body)
	if err != nil {
		return Event{}, err
	}
	if w.idGiven && w.ID == "" {
		return Event{}, fieldErr("id", "must not be empty; leave it out to have one assigned")
	}
	return w.event()
}

// scanEvent reads the event in the CloudEvents JSON format in body, in
// one pass, as ParseJSON describes.
func scanEvent(body []byte) (wireEvent, error) {
	s := getScanner(body, "body")
	defer putScanner(s)
	s.skipSpace()
	if bytes.HasPrefix(body[s.pos:], byteOrderMark) {
		return wireEvent{}, fieldErr("body", "must be a JSON object, without a byte order mark before it (RFC 8259)")
	}
	if s.pos == len(body) || body[s.pos] != '{' {
		return wireEvent{}, fieldErr("body", "must be a JSON object")
	}
	var w wireEvent
	if !s.envelope(&w) || !s.end() {
		return wireEvent{}, s.err
	}
	return w, nil
}

// envelope scans the event object at s.pos into w.
func (s *scanner) envelope(w *wireEvent) bool {
	s.pos++
	seen := map[string]bool{}
	for {
		s.skipSpace()
		if s.pos < len(s.buf) && s.buf[s.pos] == '}' && len(seen) == 0 {
			s.pos++
			return true
		}
		if s.pos == len(s.buf) || s.buf[s.pos] != '"' {
			return s.syntaxError()
		}
		key, ok := s.key()
		if !ok {
			return false
		}
		name := string(unescape(key.raw))
		if !s.colon() || !s.member(w, name, seen) {
			return false
		}
		if more, ok := s.separator('}'); !more {
			return ok
		}
	}
}

// member scans the value of the attribute name into w.
func (s *scanner) member(w *wireEvent, name string, seen map[string]bool) bool {
	if seen[name] {
		return s.fail(codedErr(attributeName(name), ReasonDuplicateKey, "is given twice"))
	}
	seen[name] = true
	s.skipSpace()
	if name == "data" {
		start := s.pos
		s.root = "data"
		if !s.value(0) {
			return false
		}
		s.root = "body"
		w.Data = s.buf[start:s.pos]
		return true
	}

	if s.pos == len(s.buf) {
		return s.syntaxError()
	}
	dst := w.attribute(name)
	if dst == nil {
		return s.extension(w, name)
	}
	switch s.buf[s.pos] {
	case '"':
		s.root = name
		raw, _, ok := s.str(MaxStringLength)
		s.root = "body"
		*dst = string(unescape(raw))
		if name == "id" {
			w.idGiven = true
		}
		return ok
	case 'n':
		return s.literal("null")
	}
	return s.fail(fieldErr(name, "must be a JSON string"))
}

// extension scans the value of the extension attribute name into w: a
// string, a number or a boolean, kept as a string; null leaves it out, as
// CloudEvents says.
func (s *scanner) extension(w *wireEvent, name string) bool {
	switch {
	case name == "data_base64":
		return s.fail(fieldErr(name, "binary data is not supported: send data as a JSON object"))
	case !validExtensionName(name):
		return s.fail(codedErr(attributeName(name), ReasonUnknownAttribute, "%s", extensionNameProblem))
	}

	s.root = name
	defer func() { s.root = "body" }()
	var value string
	switch c := s.buf[s.pos]; {
	case c == '"':
		// The string's length is checked with the other extensions'
		// values (validateExtensions), so the reason is the same on every
		// path an event comes by.
		raw, _, ok := s.str(MaxStringLength)
		if !ok {
			return false
		}
		value = string(unescape(raw))
	case c == 'n':
		return s.literal("null")
	case c == '{' || c == '[':
		return s.fail(codedErr(name, ReasonInvalidExtension, "must be a string, a number or a boolean"))
	default:
		start := s.pos
		if !s.value(0) {
			return false
		}
		value = string(s.buf[start:s.pos])
	}
	if len(w.Extensions) == MaxExtensions {
		return s.fail(codedErr(name, ReasonInvalidExtension, "is an extension attribute too many: at most %d", MaxExtensions))
	}
	w.Extensions = append(w.Extensions, Extension{Name: name, Value: value})
	return true
}

// attributeName is a key a producer sent, fit for an error message: it is
// valid UTF-8 already, and cut to 64 bytes.
func attributeName(name string) string {
	if len(name) > 64 {
		return strings.ToValidUTF8(name[:61], "") + "..."
	}
	return name
}

// attribute returns where the string attribute name goes, or nil when
// there is no such attribute.
func (w *wireEvent) attribute(name string) *string {
	switch name {
	case "specversion":
		return &w.SpecVersion
	case "id":
		return &w.ID
	case "source":
		return &w.Source
	case "type":
		return &w.Type
	case "time":
		return &w.Time
	case "subject":
		return &w.Subject
	case "datacontenttype":
		return &w.DataContentType
	}
	return nil
}

func (w *wireEvent) event() (Event, error) {
	if w.SpecVersion != "" && w.SpecVersion != "1.0" {
		return Event{}, fieldErr("specversion", "must be \"1.0\" when given")
	}
	if w.DataContentType != "" && !isJSONContentType(w.DataContentType) {
		return Event{}, fieldErr("datacontenttype", "must be application/json when given")
	}

	e := Event{ID: w.ID, Source: w.Source, Type: w.Type, Subject: w.Subject, Data: w.Data, Extensions: w.Extensions}
	// The type, the extensions and the data come only from the body, so
	// they are checked here; id, source and time may still be filled in by
	// the caller.
	if err := validateType(e.Type); err != nil {
		return Event{}, err
	}
	sortExtensions(e.Extensions)
	if err := validateExtensions(e.Extensions); err != nil {
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
	if e.Data[0] != '{' {
		return Event{}, fieldErr("data", "must be a JSON object")
	}
	if len(e.Data) > MaxDataSize {
		return Event{}, codedErr("data", ReasonTooLarge, "must be at most %d bytes", MaxDataSize)
	}
	return e, nil
}

func isJSONContentType(ct string) bool {
	mediaType, _, _ := strings.Cut(ct, ";")
	mediaType = strings.TrimSpace(strings.ToLower(mediaType))
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

// MarshalJSON writes e in the CloudEvents JSON format, with data inlined
// and the extension attributes, as strings, after it.
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
	b, err := json.Marshal(w)
	if err != nil || len(e.Extensions) == 0 {
		return b, err
	}
	b = b[:len(b)-1]
	for _, x := range e.Extensions {
		value, err := json.Marshal(x.Value)
		if err != nil {
			return nil, err
		}
		b = append(b, ',', '"')
		b = append(b, x.Name...)
		b = append(b, '"', ':')
		b = append(b, value...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads e from the CloudEvents JSON format and validates it:
// every attribute must be there, as nothing fills one in.
func (e *Event) UnmarshalJSON(b []byte) error {
	w, err := scanEvent(b)
	if err != nil {
		return err
	}
	parsed, err := w.event()
	if err != nil {
		return err
	}
	if err := parsed.ValidateAttributes(); err != nil {
		return err
	}
	*e = parsed
	return nil
}
