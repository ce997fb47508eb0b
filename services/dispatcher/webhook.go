package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
)

// WebhookIDHeader carries the dispatch id on every webhook request. It is the
// same on every attempt, so a receiver can drop repeats (Standard Webhooks).
const WebhookIDHeader = "webhook-id"

// maxDrainedBody is how much of a response body is read so that the
// connection can be reused; a longer body closes the connection instead.
const maxDrainedBody = 64 << 10

// webhookBody is what a webhook receives.
type webhookBody struct {
	DispatchID string         `json:"dispatch_id"`
	Event      event.Event    `json:"event"`
	Rule       action.RuleRef `json:"rule"`
}

// webhook is a Sink posting each action as JSON to one endpoint.
type webhook struct {
	client  *http.Client
	url     string
	method  string
	headers map[string]string
	timeout time.Duration
}

// NewWebhookFactory returns the SinkFactory of webhook sinks. They share
// client, which should come from NewWebhookClient.
func NewWebhookFactory(client *http.Client) SinkFactory {
	return func(s store.Sink) (Sink, error) {
		cfg, err := sinkconf.ParseWebhook(s.Config)
		if err != nil {
			return nil, fmt.Errorf("webhook settings: %w", err)
		}
		timeout, err := cfg.AttemptTimeout()
		if err != nil {
			return nil, fmt.Errorf("webhook settings: %w", err)
		}
		return &webhook{
			client:  client,
			url:     cfg.URL,
			method:  cfg.HTTPMethod(),
			headers: cfg.Headers,
			timeout: timeout,
		}, nil
	}
}

// NewWebhookClient returns the HTTP client webhook sinks share. It keeps up
// to idlePerHost connections open per endpoint, so that deliveries do not
// dial each time, never follows a redirect (a 3xx is a failed delivery, and
// following it could reach an address the sink was not meant to), and
// ignores proxy variables.
//
// TODO: refuse private, loopback and link-local addresses unless allowed by
// configuration; today a sink URL can reach services inside the network.
func NewWebhookClient(idlePerHost int) *http.Client {
	transport := &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Deliver makes one request to the endpoint. 2xx is success; 408, 429, 5xx
// and network errors are retryable; anything else, 3xx included, is final.
//
// TODO: honour Retry-After on 429 and 503; today they wait only the generic
// backoff.
func (w *webhook) Deliver(ctx context.Context, a action.Action) (int, error) {
	body, err := json.Marshal(webhookBody{DispatchID: a.DispatchID, Event: a.Event, Rule: a.Rule})
	if err != nil {
		return 0, &DeliveryError{Err: fmt.Errorf("encode webhook body: %w", err)}
	}

	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := w.newRequest(ctx, a.DispatchID, body)
	if err != nil {
		return 0, err
	}

	resp, err := w.client.Do(req)
	if err != nil {
		return 0, &DeliveryError{Retryable: true, Err: fmt.Errorf("webhook request: %w", scrubURL(err))}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainedBody))
	return resp.StatusCode, classify(resp.StatusCode)
}

// newRequest builds the request of one attempt. Our headers are set after the
// sink's own, so that a sink cannot override them.
func (w *webhook) newRequest(ctx context.Context, dispatchID string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, w.method, w.url, bytes.NewReader(body))
	if err != nil {
		// The error would quote the URL.
		return nil, &DeliveryError{Err: errors.New("build webhook request: invalid url")}
	}
	for name, value := range w.headers {
		req.Header.Set(name, value)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookIDHeader, dispatchID)
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(req.Header))
	return req, nil
}

// classify turns an HTTP status into nil or a *DeliveryError.
func classify(status int) error {
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests, status >= 500:
		return &DeliveryError{Retryable: true, Err: fmt.Errorf("webhook answered %d", status)}
	default:
		return &DeliveryError{Err: fmt.Errorf("webhook answered %d", status)}
	}
}

// scrubURL drops the URL net/http puts in its errors: it may hold a token.
func scrubURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}
