package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Slack's limits, in characters.
const (
	slackHeaderLimit  = 150
	slackSectionLimit = 3000
	slackFieldLimit   = 2000
	// slackLabelLimit is ours: a field's name leaves room for its value.
	slackLabelLimit = 100
)

// slackRetryableErrors are the Web API error codes worth another attempt.
var slackRetryableErrors = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true,
}

// slackErrorCode matches the short error codes Slack answers with, the only
// part of an answer quoted in errors.
var slackErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// slack is a Sink posting a Block Kit message, in an attachment for its
// colour bar, through an incoming webhook or chat.postMessage.
type slack struct {
	target   httpTarget
	renderer chatRenderer
	// url is the incoming webhook or the chat.postMessage endpoint.
	url string
	// token and channel are set for chat.postMessage.
	token, channel string
}

// NewSlackFactory returns the SinkFactory of Slack sinks. They share client,
// which should come from NewSinkClient.
func NewSlackFactory(client *http.Client) SinkFactory {
	return func(s store.Sink) (Sink, error) {
		cfg, err := sinkconf.ParseSlack(s.Config)
		if err != nil {
			return nil, fmt.Errorf("slack settings: %w", err)
		}
		templates, _ := cfg.Templates()
		timeout, _ := cfg.AttemptTimeout()
		sink := &slack{
			target:   httpTarget{client: client, kind: "slack", timeout: timeout, policy: cfg.Policy},
			renderer: chatRenderer{templates: templates, color: cfg.Color, escapeText: escapeSlack},
			url:      cfg.WebhookURL.Value(),
		}
		if cfg.Token != "" {
			sink.url, sink.token, sink.channel = cfg.PostMessageURL(), cfg.Token.Value(), cfg.Channel
		}
		return sink, nil
	}
}

// Deliver posts the message of a. A template that cannot render a is a
// final error, as is any Slack error but rate limiting and outages.
func (s *slack) Deliver(ctx context.Context, a action.Action) (int, error) {
	msg, err := s.renderer.render(a)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(s.payload(msg))
	if err != nil {
		return 0, finalError("encode slack message: %w", err)
	}
	resp, err := s.target.post(ctx, http.MethodPost, s.url, body, func(h http.Header) {
		h.Set("Content-Type", "application/json; charset=utf-8")
		if s.token != "" {
			h.Set("Authorization", "Bearer "+s.token)
		}
	})
	if err != nil {
		return resp.code, withSlackCode(err, string(resp.body))
	}
	if s.token != "" {
		return resp.code, apiError(resp)
	}
	return resp.code, nil
}

// withSlackCode adds the error code an incoming webhook answered with, such
// as channel_is_archived, to err.
func withSlackCode(err error, body string) error {
	var de *DeliveryError
	if errors.As(err, &de) && slackErrorCode.MatchString(body) {
		de.Err = fmt.Errorf("%w: %s", de.Err, body)
	}
	return err
}

// apiError reads a Web API answer, which is 200 even for most failures.
func apiError(resp response) error {
	var answer struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(resp.body, &answer); err != nil {
		return &DeliveryError{Retryable: true, Code: resp.code, Err: errors.New("slack answered with no result")}
	}
	if answer.OK {
		return nil
	}
	code := answer.Error
	if !slackErrorCode.MatchString(code) {
		code = "unknown_error"
	}
	return &DeliveryError{Retryable: slackRetryableErrors[code], Code: resp.code, Err: fmt.Errorf("slack refused the message: %s", code)}
}

// Block Kit message, wrapped in an attachment for the colour bar.
type (
	slackPayload struct {
		Channel     string            `json:"channel,omitempty"`
		Text        string            `json:"text"`
		Attachments []slackAttachment `json:"attachments"`
	}
	slackAttachment struct {
		Color  string       `json:"color"`
		Blocks []slackBlock `json:"blocks"`
	}
	slackBlock struct {
		Type     string      `json:"type"`
		Text     *slackText  `json:"text,omitempty"`
		Fields   []slackText `json:"fields,omitempty"`
		Elements []slackText `json:"elements,omitempty"`
	}
	slackText struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
)

// payload builds the message, each part trimmed to Slack's limits. The
// title doubles as the notification text.
func (s *slack) payload(msg chatMessage) slackPayload {
	title := trimText(orPlaceholder(msg.title), slackHeaderLimit, plainText)
	blocks := []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: title}}}
	if msg.text != "" {
		text := trimText(msg.text, slackSectionLimit, slackMarkup)
		blocks = append(blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: text}})
	}
	if len(msg.fields) > 0 {
		fields := make([]slackText, len(msg.fields))
		for i, f := range msg.fields {
			label := "*" + escapeSlack(trimText(f.name, slackLabelLimit, plainText)) + "*\n"
			value := trimText(orPlaceholder(f.value), slackFieldLimit-textLen(label), slackMarkup)
			fields[i] = slackText{Type: "mrkdwn", Text: label + value}
		}
		blocks = append(blocks, slackBlock{Type: "section", Fields: fields})
	}
	footer := trimText(msg.footer, slackSectionLimit, slackMarkup)
	blocks = append(blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: footer}}})
	return slackPayload{
		Channel:     s.channel,
		Text:        title,
		Attachments: []slackAttachment{{Color: msg.color, Blocks: blocks}},
	}
}
