package dispatcher

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Standard Webhooks headers. webhook-id carries the dispatch id and is the
// same on every attempt, so a receiver can drop repeats; webhook-timestamp
// is the time of the attempt; webhook-signature holds one signature per
// signing secret.
const (
	WebhookIDHeader        = "webhook-id"
	WebhookTimestampHeader = "webhook-timestamp"
	WebhookSignatureHeader = "webhook-signature"
)

// webhookBody is what a webhook receives unless its sink has a body
// template, and what an archive stores per line.
type webhookBody struct {
	DispatchID string         `json:"dispatch_id"`
	Event      event.Event    `json:"event"`
	Rule       action.RuleRef `json:"rule"`
}

// envelope encodes the webhook body of a.
func envelope(a action.Action) ([]byte, error) {
	return json.Marshal(webhookBody{DispatchID: a.DispatchID, Event: a.Event, Rule: a.Rule})
}

// webhook is a Sink making one HTTP request per action, signed when the sink
// has secrets.
type webhook struct {
	target      httpTarget
	url         string
	method      string
	headers     map[string]string
	body        *sinkconf.Template // nil: the envelope
	contentType string
	keys        [][]byte
}

// NewWebhookFactory returns the SinkFactory of webhook sinks. They share
// client, which should come from NewSinkClient.
func NewWebhookFactory(client *http.Client) SinkFactory {
	return func(s store.Sink) (Sink, error) {
		cfg, err := sinkconf.ParseWebhook(s.Config)
		if err != nil {
			return nil, fmt.Errorf("webhook settings: %w", err)
		}
		timeout, _ := cfg.AttemptTimeout()
		keys, _ := cfg.SigningKeys()
		w := &webhook{
			target:      httpTarget{client: client, kind: "webhook", timeout: timeout, policy: cfg.Policy},
			url:         cfg.URL.Value(),
			method:      cfg.HTTPMethod(),
			headers:     make(map[string]string, len(cfg.Headers)),
			contentType: cfg.BodyContentType(),
			keys:        keys,
		}
		for name, value := range cfg.Headers {
			w.headers[name] = value.Value()
		}
		if cfg.Body != "" {
			if w.body, err = sinkconf.CompileTemplate("body", cfg.Body); err != nil {
				return nil, fmt.Errorf("webhook settings: %w", err)
			}
		}
		return w, nil
	}
}

// Deliver makes one request to the endpoint. 2xx is success; the policy's
// retryable statuses (408, 429 and 5xx by default) and network errors are
// retryable; anything else, 3xx included, is final.
func (w *webhook) Deliver(ctx context.Context, a action.Action) (int, error) {
	body, err := w.render(a)
	if err != nil {
		return 0, err
	}
	resp, err := w.target.post(ctx, w.method, w.url, body, func(h http.Header) {
		w.setHeaders(h, a.DispatchID, body)
	})
	return resp.code, err
}

// render returns the request body: the envelope, or the body template's
// output. A template that cannot render this event is a final error.
func (w *webhook) render(a action.Action) ([]byte, error) {
	if w.body == nil {
		body, err := envelope(a)
		if err != nil {
			return nil, finalError("encode webhook body: %w", err)
		}
		return body, nil
	}
	data, err := sinkconf.NewTemplateData(a, nil)
	if err != nil {
		return nil, finalError("webhook body: %w", err)
	}
	out, err := w.body.Execute(data)
	if err != nil {
		return nil, finalError("webhook %w", err)
	}
	return []byte(out), nil
}

// setHeaders sets the sink's headers, then ours, which a sink cannot
// override: the content type, the webhook id and, with secrets, the
// timestamp and signatures of the exact body sent.
func (w *webhook) setHeaders(h http.Header, dispatchID string, body []byte) {
	for name, value := range w.headers {
		h.Set(name, value)
	}
	h.Set("Content-Type", w.contentType)
	h.Set(WebhookIDHeader, dispatchID)
	if len(w.keys) == 0 {
		return
	}
	timestamp := strconv.FormatInt(time.Now().Unix(), 10)
	h.Set(WebhookTimestampHeader, timestamp)
	h.Set(WebhookSignatureHeader, signatures(w.keys, dispatchID, timestamp, body))
}

// signatures returns the webhook-signature value: for each key, "v1," and
// the base64 HMAC-SHA256 of id.timestamp.body, separated by spaces.
func signatures(keys [][]byte, id, timestamp string, body []byte) string {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(timestamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return strings.Join(sigs, " ")
}
