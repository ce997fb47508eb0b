package event

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Header names of the CloudEvents NATS binary mode. They are written in lower
// case; nats.Header lookups are case-sensitive, so reads go through
// HeaderValue, which is not.
const (
	HeaderSpecVersion     = "ce-specversion"
	HeaderID              = "ce-id"
	HeaderSource          = "ce-source"
	HeaderType            = "ce-type"
	HeaderTime            = "ce-time"
	HeaderSubject         = "ce-subject"
	HeaderDataContentType = "ce-datacontenttype"
	HeaderContentType     = "Content-Type"
)

// cePrefix begins the name of every CloudEvents header; an extension
// attribute's header is the prefix and its name.
const cePrefix = "ce-"

// StructuredContentType marks a NATS message whose payload is the whole event
// in the CloudEvents JSON format.
const StructuredContentType = "application/cloudevents+json"

// Header returns e's attributes as CloudEvents binary-mode NATS headers. The
// message payload is e.Data.
func (e *Event) Header() nats.Header {
	h := nats.Header{
		HeaderSpecVersion:     {"1.0"},
		HeaderID:              {e.ID},
		HeaderSource:          {e.Source},
		HeaderType:            {e.Type},
		HeaderTime:            {e.Time.UTC().Format(time.RFC3339Nano)},
		HeaderDataContentType: {"application/json"},
	}
	if e.Subject != "" {
		h[HeaderSubject] = []string{e.Subject}
	}
	for _, x := range e.Extensions {
		h[cePrefix+x.Name] = []string{x.Value}
	}
	return h
}

// HeaderValue returns the first value of header name in h, matching the name
// without regard to case.
func HeaderValue(h nats.Header, name string) string {
	if v, ok := h[name]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0]
		}
	}
	return ""
}

// FromNATS reads an event from a NATS message in either CloudEvents mode and
// validates it. It does not check the subject: callers compare Source and
// Type with the subject the message arrived on.
func FromNATS(h nats.Header, payload []byte) (Event, error) {
	if strings.HasPrefix(strings.ToLower(HeaderValue(h, HeaderContentType)), StructuredContentType) {
		var e Event
		err := e.UnmarshalJSON(payload)
		return e, err
	}

	e := Event{
		ID:      HeaderValue(h, HeaderID),
		Source:  HeaderValue(h, HeaderSource),
		Type:    HeaderValue(h, HeaderType),
		Subject: HeaderValue(h, HeaderSubject),
		Data:    payload,
	}
	if v := HeaderValue(h, HeaderSpecVersion); v != "1.0" {
		return Event{}, fieldErr(HeaderSpecVersion, "must be \"1.0\"")
	}
	if ct := HeaderValue(h, HeaderDataContentType); ct != "" && !isJSONContentType(ct) {
		return Event{}, fieldErr(HeaderDataContentType, "must be application/json")
	}
	t, err := time.Parse(time.RFC3339Nano, HeaderValue(h, HeaderTime))
	if err != nil {
		return Event{}, fieldErr(HeaderTime, "must be an RFC 3339 timestamp")
	}
	e.Time = t
	if e.Extensions, err = extensionsFromHeader(h); err != nil {
		return Event{}, err
	}
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}
