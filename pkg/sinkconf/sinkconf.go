// Package sinkconf defines the settings of each kind of sink and checks them
// when a sink is saved, so that a bad setting is refused with a clear error
// instead of failing deliveries later. The dispatcher reads the same types.
package sinkconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Sink types.
const (
	TypeWebhook = "webhook"
)

// Types lists every sink type Zenith can deliver to.
var Types = []string{TypeWebhook}

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
	switch sinkType {
	case TypeWebhook:
		_, err := ParseWebhook(config)
		return err
	case "":
		return fieldErr("type", "is required (one of %s)", strings.Join(Types, ", "))
	default:
		return fieldErr("type", "unknown sink type %q (want one of %s)", sinkType, strings.Join(Types, ", "))
	}
}

// Webhook is an HTTP endpoint that receives each action as a JSON POST of the
// event and the rule that matched.
type Webhook struct {
	// URL is the endpoint, http or https. It may hold a token, so it is
	// treated as a secret: never logged, never shown back.
	URL string `json:"url"`
	// Method is the HTTP method; empty means POST.
	Method string `json:"method,omitempty"`
	// Headers are sent with every request.
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one attempt, as a Go duration such as "5s"; empty means
	// DefaultWebhookTimeout.
	Timeout string `json:"timeout,omitempty"`
}

// DefaultWebhookTimeout bounds one webhook attempt when the sink sets none.
const DefaultWebhookTimeout = 10 * time.Second

// ParseWebhook reads and checks webhook settings.
func ParseWebhook(config json.RawMessage) (Webhook, error) {
	var w Webhook
	if err := decodeStrict(config, &w); err != nil {
		return Webhook{}, err
	}
	if w.URL == "" {
		return Webhook{}, fieldErr("url", "is required")
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Webhook{}, fieldErr("url", "must be an absolute http or https URL")
	}
	switch w.Method {
	case "", http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return Webhook{}, fieldErr("method", "must be POST, PUT or PATCH")
	}
	for name, value := range w.Headers {
		if err := checkHeader(name, value); err != nil {
			return Webhook{}, err
		}
	}
	if _, err := w.AttemptTimeout(); err != nil {
		return Webhook{}, err
	}
	return w, nil
}

// AttemptTimeout returns the sink's per-attempt timeout.
func (w Webhook) AttemptTimeout() (time.Duration, error) {
	if w.Timeout == "" {
		return DefaultWebhookTimeout, nil
	}
	d, err := time.ParseDuration(w.Timeout)
	if err != nil || d <= 0 || d > 5*time.Minute {
		return 0, fieldErr("timeout", "must be a duration between 1ms and 5m, such as \"5s\"")
	}
	return d, nil
}

// HTTPMethod returns the sink's method, POST when unset.
func (w Webhook) HTTPMethod() string {
	if w.Method == "" {
		return http.MethodPost
	}
	return w.Method
}

func checkHeader(name, value string) error {
	field := "headers." + name
	if name == "" || strings.ContainsAny(name, " \t\r\n:") {
		return fieldErr(field, "is not a valid header name")
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fieldErr(field, "must not contain CR, LF or NUL")
	}
	return nil
}

func decodeStrict(config json.RawMessage, into any) error {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fieldErr(strings.Trim(name, `"`), "is not a setting of this sink type")
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fieldErr(typeErr.Field, "must be a JSON %s", typeErr.Type.Kind())
		}
		return fieldErr("config", "is not a valid JSON object")
	}
	return nil
}
