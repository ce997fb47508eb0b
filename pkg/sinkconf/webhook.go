package sinkconf

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Webhook is an HTTP endpoint that receives each action as one request: by
// default a JSON object holding the dispatch id, the event and the rule that
// matched, or the output of the Body template.
type Webhook struct {
	// URL is the endpoint, http or https. It may hold a token.
	URL Secret `json:"url"`
	// Method is the HTTP method; empty means POST.
	Method string `json:"method,omitempty"`
	// Headers are sent with every request. Their values may hold tokens.
	// Headers that framing, signing or tracing own are refused.
	Headers map[string]Secret `json:"headers,omitempty"`
	// Timeout bounds one attempt, as a Go duration such as "5s"; empty means
	// DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Secrets sign every request the Standard Webhooks way, each giving one
	// signature in the webhook-signature header: during a rotation, list the
	// new secret and the old. A secret is "whsec_" followed by the base64 of
	// 24 to 64 random bytes.
	Secrets []Secret `json:"secrets,omitempty"`
	// Body is a template of the request body; empty means the JSON envelope.
	Body string `json:"body,omitempty"`
	// ContentType is the body's media type; empty means application/json.
	ContentType string `json:"content_type,omitempty"`
	// Policy says how deliveries are retried and limited.
	Policy Policy `json:"policy,omitzero"`
}

// SecretPrefix starts every Standard Webhooks signing secret.
const SecretPrefix = "whsec_"

// Bounds of a signing secret's key, in bytes, and of the number of secrets.
const (
	minSecretKey = 24
	maxSecretKey = 64
	maxSecrets   = 4
)

// reservedHeaders may not be set by a sink: the HTTP client, the signature
// and the trace context own them.
var reservedHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Content-Type": true, "Transfer-Encoding": true,
	"Connection": true, "Keep-Alive": true, "Upgrade": true, "Te": true, "Trailer": true,
	"Proxy-Authorization": true, "Proxy-Connection": true,
	"Webhook-Id": true, "Webhook-Timestamp": true, "Webhook-Signature": true,
	"Traceparent": true, "Tracestate": true,
}

// ParseWebhook reads and checks webhook settings.
func ParseWebhook(config json.RawMessage) (Webhook, error) {
	var w Webhook
	if err := decodeStrict(config, &w); err != nil {
		return Webhook{}, err
	}
	if err := w.check(); err != nil {
		return Webhook{}, err
	}
	return w, nil
}

func (w Webhook) check() error {
	if err := checkHTTPURL("url", w.URL.Value()); err != nil {
		return err
	}
	switch w.Method {
	case "", http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return fieldErr("method", "must be POST, PUT or PATCH")
	}
	for name, value := range w.Headers {
		if err := checkHeader(name, value.Value()); err != nil {
			return err
		}
	}
	if _, err := w.AttemptTimeout(); err != nil {
		return err
	}
	if _, err := w.SigningKeys(); err != nil {
		return err
	}
	if err := w.checkBody(); err != nil {
		return err
	}
	return w.Policy.check()
}

func (w Webhook) checkBody() error {
	if w.Body != "" {
		if _, err := CompileTemplate("body", w.Body); err != nil {
			return err
		}
	}
	if w.ContentType != "" {
		if _, _, err := mime.ParseMediaType(w.ContentType); err != nil || strings.ContainsAny(w.ContentType, "\r\n") {
			return fieldErr("content_type", "must be a media type such as text/plain")
		}
	}
	return nil
}

// AttemptTimeout returns the sink's per-attempt timeout.
func (w Webhook) AttemptTimeout() (time.Duration, error) {
	return attemptTimeout(w.Timeout)
}

// HTTPMethod returns the sink's method, POST when unset.
func (w Webhook) HTTPMethod() string {
	if w.Method == "" {
		return http.MethodPost
	}
	return w.Method
}

// BodyContentType returns the body's media type.
func (w Webhook) BodyContentType() string {
	if w.ContentType == "" {
		return "application/json"
	}
	return w.ContentType
}

// SigningKeys returns the HMAC keys of the signing secrets, in order.
func (w Webhook) SigningKeys() ([][]byte, error) {
	if len(w.Secrets) > maxSecrets {
		return nil, fieldErr("secrets", "must list at most %d secrets", maxSecrets)
	}
	keys := make([][]byte, len(w.Secrets))
	for i, s := range w.Secrets {
		field := fmt.Sprintf("secrets[%d]", i)
		encoded, ok := strings.CutPrefix(s.Value(), SecretPrefix)
		if !ok {
			return nil, fieldErr(field, "must start with %q", SecretPrefix)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return nil, fieldErr(field, "must be %q followed by base64", SecretPrefix)
		}
		if len(key) < minSecretKey || len(key) > maxSecretKey {
			return nil, fieldErr(field, "must hold %d to %d bytes of key", minSecretKey, maxSecretKey)
		}
		keys[i] = key
	}
	return keys, nil
}

// LogValue logs the settings redacted.
func (w Webhook) LogValue() slog.Value {
	return redactedLogValue(w)
}

// DeliveryPolicy returns the sink's delivery policy.
func (w Webhook) DeliveryPolicy() Policy {
	return w.Policy
}

// Redacted returns a copy with the URL, header values and secrets hidden.
func (w Webhook) Redacted() Settings {
	w.URL = w.URL.redact()
	if w.Headers != nil {
		headers := make(map[string]Secret, len(w.Headers))
		for name, value := range w.Headers {
			headers[name] = value.redact()
		}
		w.Headers = headers
	}
	if w.Secrets != nil {
		secrets := make([]Secret, len(w.Secrets))
		for i, s := range w.Secrets {
			secrets[i] = s.redact()
		}
		w.Secrets = secrets
	}
	return w
}

// checkHeader checks a custom header: a valid name that no one else owns,
// and a value net/http will send, which also means one that cannot split
// the request (RFC 9110 §5.5). An invalid name is quoted in the error, so
// that a control character in it is shown, not written out.
func checkHeader(name, value string) error {
	if !httpguts.ValidHeaderFieldName(name) {
		return fieldErr("headers."+strconv.Quote(name), "is not a valid header name")
	}
	field := "headers." + name
	if reservedHeaders[http.CanonicalHeaderKey(name)] {
		return fieldErr(field, "is set by Zenith and cannot be overridden")
	}
	return checkHeaderValue(field, value)
}

// checkHeaderValue checks a setting sent in a header, refusing every byte
// net/http refuses: one would fail every delivery.
func checkHeaderValue(field, value string) error {
	if !httpguts.ValidHeaderFieldValue(value) {
		return fieldErr(field, "must not contain control characters such as CR, LF, NUL or DEL")
	}
	return nil
}
