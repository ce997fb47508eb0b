// Package event defines Zenith's event envelope: what a producer sends, how it
// is validated, and how it travels on NATS between the tiers.
//
// The attribute names follow CloudEvents 1.0. On NATS an event is carried in
// CloudEvents binary mode: the attributes are lower-case ce-* headers and the
// payload is the event's data, a JSON object, byte for byte as the producer
// sent it; extension attributes are ce-* headers too. Structured mode (the
// whole envelope as JSON, marked by a
// Content-Type of application/cloudevents+json) is accepted too, for
// producers that publish to NATS directly.
package event

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on the envelope's attributes. They keep headers and subjects small
// and make every attribute safe to put in a NATS header.
const (
	MaxIDLength      = 128
	MaxTypeLength    = 128
	MaxSubjectLength = 256
	MaxSourceLength  = 63
)

// Event is one validated occurrence reported by a producer.
type Event struct {
	// ID is the producer's id, or a UUIDv7 Zenith assigned.
	ID string
	// Source is the Zenith source name the event belongs to.
	Source string
	// Type says what happened, as dot-separated words.
	Type string
	// Time is when it happened.
	Time time.Time
	// Subject is what the event is about within its source; may be empty.
	Subject string
	// Data is the event's content: the bytes of a JSON object.
	Data []byte
	// Extensions are the producer's extension attributes, sorted by name;
	// usually none.
	Extensions []Extension
}

var (
	sourcePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	typePattern   = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// FieldError reports a problem with one field of an event or request. Its
// message names the field, so that a producer can fix what it sent.
type FieldError struct {
	// Field names the field: an attribute, or a place in the data such as
	// data.user.tags[2].
	Field   string
	Problem string
	// Code, when set, is the reason: one of the Reason* constants.
	Code string
}

func (e *FieldError) Error() string {
	return e.Field + ": " + e.Problem
}

// Reason is a short, stable, low-cardinality label for the problem, for use
// in metrics: the error's Code, or invalid_<attribute>. A field name a
// producer made up is not a label.
func (e *FieldError) Reason() string {
	if e.Code != "" {
		return e.Code
	}
	switch field := strings.TrimPrefix(e.Field, "ce-"); field {
	case "body", "specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data":
		return "invalid_" + field
	}
	return ReasonUnknownAttribute
}

// ReasonUnknownAttribute is the reason of an attribute Zenith does not know.
const ReasonUnknownAttribute = "unknown_attribute"

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// codedErr is fieldErr with a reason code.
func codedErr(field, code, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Problem: fmt.Sprintf(format, args...), Code: code}
}

// AsFieldError returns the FieldError in err's chain, if there is one.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}

// NewID returns a fresh event id, a UUIDv7, so that ids Zenith assigns sort
// by time.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// ValidSourceName reports whether name can name a source. A source name is
// one NATS subject token: lower-case letters, digits, '-' and '_'.
func ValidSourceName(name string) bool {
	return len(name) <= MaxSourceLength && sourcePattern.MatchString(name)
}

// ValidType reports whether t can be an event type: dot-separated words of
// letters, digits, '-' and '_'. Each word becomes one NATS subject token.
func ValidType(t string) bool {
	return len(t) <= MaxTypeLength && typePattern.MatchString(t)
}

// Validate checks every attribute of e and its data (see ValidateData). It
// returns a *FieldError naming the first problem found.
func (e *Event) Validate() error {
	if err := e.ValidateAttributes(); err != nil {
		return err
	}
	return ValidateData(e.Data)
}

// ValidateAttributes checks every attribute of e but its data, for callers
// that have checked the data already (ParseJSON does), so that the data is
// read once.
func (e *Event) ValidateAttributes() error {
	if err := validateID(e.ID); err != nil {
		return err
	}
	if !ValidSourceName(e.Source) {
		return fieldErr("source", "must be 1-%d lower-case letters, digits, '-' or '_'", MaxSourceLength)
	}
	if err := validateType(e.Type); err != nil {
		return err
	}
	if e.Time.IsZero() {
		return fieldErr("time", "is required")
	}
	if err := validateText("subject", e.Subject, MaxSubjectLength); err != nil {
		return err
	}
	return validateExtensions(e.Extensions)
}

func validateID(id string) error {
	if id == "" {
		return fieldErr("id", "is required")
	}
	if len(id) > MaxIDLength {
		return fieldErr("id", "must be at most %d characters", MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return fieldErr("id", "must be printable ASCII without spaces")
		}
	}
	return nil
}

func validateType(t string) error {
	if t == "" {
		return fieldErr("type", "is required")
	}
	if !ValidType(t) {
		return fieldErr("type", "must be dot-separated words of letters, digits, '-' or '_', at most %d characters", MaxTypeLength)
	}
	return nil
}

// validateText checks the string attribute field: at most max bytes of
// UTF-8 without control characters (C0, DEL and C1), which a NATS header
// cannot carry or a log would show raw.
func validateText(field, value string, max int) *FieldError {
	if len(value) > max {
		return fieldErr(field, "must be at most %d bytes", max)
	}
	if !utf8.ValidString(value) {
		return fieldErr(field, "must be valid UTF-8")
	}
	for _, r := range value {
		if r < ' ' || r >= 0x7f && r <= 0x9f {
			return fieldErr(field, "must not contain control characters")
		}
	}
	return nil
}
