// Package sinkconf defines the settings of each kind of sink and checks them
// when a sink is saved, so that a bad setting is refused with a clear error
// instead of failing deliveries later. The dispatcher reads the same types.
//
// Every kind has a settings type (Webhook, Slack, Discord, S3) with a Parse
// function that decodes and checks it, a delivery Policy under the "policy"
// key, and a Redacted method returning a copy whose secrets (URLs holding
// tokens, API tokens, signing secrets, access keys) are replaced by
// RedactedValue, for showing settings back. Secret fields have the Secret
// type, which never prints its value.
//
// Message templates (see Template) are compiled when the settings are
// parsed, so a template that cannot run is refused at save time.
package sinkconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sink types.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
	TypeDiscord = "discord"
	TypeS3      = "s3"
)

// Types lists every sink type Zenith can deliver to.
var Types = []string{TypeWebhook, TypeSlack, TypeDiscord, TypeS3}

// Settings is the parsed settings of a sink of any type.
type Settings interface {
	// Redacted returns a copy whose secret fields hold RedactedValue.
	Redacted() Settings
	// DeliveryPolicy returns how deliveries to the sink are retried and
	// limited.
	DeliveryPolicy() Policy
}

// parsers maps each sink type to the function reading its settings.
var parsers = map[string]func(json.RawMessage) (Settings, error){
	TypeWebhook: asSettings(ParseWebhook),
	TypeSlack:   asSettings(ParseSlack),
	TypeDiscord: asSettings(ParseDiscord),
	TypeS3:      asSettings(ParseS3),
}

func asSettings[T Settings](parse func(json.RawMessage) (T, error)) func(json.RawMessage) (Settings, error) {
	return func(config json.RawMessage) (Settings, error) {
		s, err := parse(config)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// Error reports a problem with one setting of a sink.
type Error struct {
	Field   string
	Problem string
}

func (e *Error) Error() string {
	return e.Field + ": " + e.Problem
}

func fieldErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// Validate checks the settings of a sink of type sinkType. It returns an
// *Error naming the bad setting.
func Validate(sinkType string, config json.RawMessage) error {
	_, err := Parse(sinkType, config)
	return err
}

// Parse reads and checks the settings of a sink of type sinkType. It returns
// an *Error naming the bad setting.
func Parse(sinkType string, config json.RawMessage) (Settings, error) {
	parse, ok := parsers[sinkType]
	switch {
	case sinkType == "":
		return nil, fieldErr("type", "is required (one of %s)", strings.Join(Types, ", "))
	case !ok:
		return nil, fieldErr("type", "unknown sink type %q (want one of %s)", sinkType, strings.Join(Types, ", "))
	}
	return parse(config)
}

// Redact returns the settings of a sink of type sinkType with every secret
// replaced by RedactedValue, as JSON, for showing them back.
func Redact(sinkType string, config json.RawMessage) (json.RawMessage, error) {
	s, err := Parse(sinkType, config)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.Redacted()); err != nil {
		return nil, fmt.Errorf("encode redacted settings: %w", err)
	}
	return bytes.TrimSpace(b.Bytes()), nil
}

// redactedLogValue logs settings as the JSON of their redacted copy.
func redactedLogValue(s Settings) slog.Value {
	b, err := json.Marshal(s.Redacted())
	if err != nil {
		return slog.StringValue(RedactedValue)
	}
	return slog.StringValue(string(b))
}

// RedactedValue stands in for a secret in redacted settings and in logs.
const RedactedValue = "<redacted>"

// Secret is a setting that must not be shown, such as a token or a URL
// holding one. It prints as RedactedValue with fmt and log/slog, but keeps
// its value in JSON, which is how settings are stored; Redacted copies of
// settings replace it before they are shown.
type Secret string

// String returns RedactedValue, or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return RedactedValue
}

// GoString hides the value from %#v too.
func (s Secret) GoString() string {
	return s.String()
}

// LogValue hides the value from log/slog.
func (s Secret) LogValue() slog.Value {
	return slog.StringValue(s.String())
}

// Value returns the secret itself, for the code that uses it.
func (s Secret) Value() string {
	return string(s)
}

// redact returns RedactedValue in place of a set secret.
func (s Secret) redact() Secret {
	if s == "" {
		return ""
	}
	return RedactedValue
}

// decodeStrict decodes one JSON object into into, refusing unknown settings
// and naming the setting at fault.
func decodeStrict(config json.RawMessage, into any) error {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fieldErr(unknownSetting(config, reflect.TypeOf(into), quoted), "is not a setting of this sink type")
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fieldErr(typeErr.Field, "must be a JSON %s", jsonKind(typeErr.Type.Kind().String()))
		}
		return fieldErr("config", "is not a valid JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fieldErr("config", "must hold exactly one JSON object")
	}
	return nil
}

// unknownSetting returns the path of the setting encoding/json reported
// unknown as quoted, which it names without saying where: at the top, or
// inside another setting, such as policy.max_retries or fields[1].label.
func unknownSetting(config json.RawMessage, into reflect.Type, quoted string) string {
	name, err := strconv.Unquote(quoted)
	if err != nil {
		return quoted
	}
	if path, ok := findUnknown(config, into, name); ok {
		return path
	}
	return settingName(name)
}

// findUnknown looks in raw, decoded into a value of type t, for a key that
// t has no field for and that is called name, and returns its path.
func findUnknown(raw json.RawMessage, t reflect.Type, name string) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) != nil {
			return "", false
		}
		for _, key := range slices.Sorted(maps.Keys(fields)) {
			field, known := fieldNamed(t, key)
			if !known && key == name {
				return settingName(key), true
			}
			if path, ok := findUnknown(fields[key], field.Type, name); known && ok {
				return nestedPath(settingName(key), path), true
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			return "", false
		}
		for i, item := range items {
			if path, ok := findUnknown(item, t.Elem(), name); ok {
				return nestedPath(fmt.Sprintf("[%d]", i), path), true
			}
		}
	}
	return "", false
}

// fieldNamed returns the field of struct type t that encoding/json fills
// from key, matched as it matches them, without regard to case.
func fieldNamed(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if f.IsExported() && name != "-" && strings.EqualFold(name, key) {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// nestedPath joins a setting's path and a path inside it.
func nestedPath(outer, inner string) string {
	if strings.HasPrefix(inner, "[") {
		return outer + inner
	}
	return outer + "." + inner
}

// settingName is a key as an error names it: quoted when it holds anything
// but letters, digits, '_' and '-', so that an error never carries a
// control character.
func settingName(key string) string {
	if key != "" && strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == "" {
		return key
	}
	return strconv.Quote(key)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	case "bool":
		return "boolean"
	case "int", "int64", "float64":
		return "number"
	default:
		return goKind
	}
}

// checkHTTPURL checks that raw is an absolute http or https URL. The error
// does not quote the URL, which may hold a token.
func checkHTTPURL(field, raw string) error {
	if raw == "" {
		return fieldErr(field, "is required")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(field, "must be an absolute http or https URL")
	}
	return nil
}

// parseDuration reads an optional duration setting between min and max;
// empty means def.
func parseDuration(field, raw string, def, min, max time.Duration) (time.Duration, error) {
	if raw == "" {
		return def, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < min || d > max {
		return 0, fieldErr(field, "must be a duration between %s and %s, such as \"5s\"", shortDuration(min), shortDuration(max))
	}
	return d, nil
}

// shortDuration prints d without zero minutes and seconds: 5m, not 5m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// DefaultTimeout bounds one attempt of an HTTP sink that sets none.
const DefaultTimeout = 10 * time.Second

// attemptTimeout reads the timeout setting of an HTTP sink.
func attemptTimeout(raw string) (time.Duration, error) {
	return parseDuration("timeout", raw, DefaultTimeout, time.Millisecond, 5*time.Minute)
}

// withPrefix returns err with its field prefixed, for settings nested in a
// list or object.
func withPrefix(prefix string, err error) error {
	var fe *Error
	if errors.As(err, &fe) {
		return &Error{Field: prefix + "." + fe.Field, Problem: fe.Problem}
	}
	return err
}
