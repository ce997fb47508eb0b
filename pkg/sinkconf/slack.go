package sinkconf

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"time"
)

// Slack posts a message for each action to a Slack channel, through an
// incoming webhook (WebhookURL) or the chat.postMessage API with a bot token
// (Token and Channel). The message has a title, a text, fields and a colour
// bar, each from a template; values from the event are escaped, so the event
// cannot add links or mentions.
type Slack struct {
	// WebhookURL is an incoming webhook's URL, which holds its token.
	WebhookURL Secret `json:"webhook_url,omitempty"`
	// Token is a bot token (xoxb-…) for chat.postMessage, with Channel.
	Token Secret `json:"token,omitempty"`
	// Channel is the channel id or name the bot posts to.
	Channel string `json:"channel,omitempty"`
	// APIURL is the Web API's base URL; empty means DefaultSlackAPIURL.
	APIURL string `json:"api_url,omitempty"`

	// Title is a template of the message's header (plain text); empty means
	// DefaultTitle.
	Title string `json:"title,omitempty"`
	// Text is a template of the message's body, in Slack mrkdwn; empty means
	// DefaultText.
	Text string `json:"text,omitempty"`
	// Fields are short labelled values shown under the text.
	Fields []Field `json:"fields,omitempty"`
	// Priority is a template whose output picks the colour bar: one of
	// critical, high, normal or low (anything else is normal).
	Priority string `json:"priority,omitempty"`
	// Color is a fixed colour bar, "#rrggbb", in place of Priority's.
	Color string `json:"color,omitempty"`

	// Timeout bounds one attempt; empty means DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Policy says how deliveries are retried and limited.
	Policy Policy `json:"policy,omitzero"`
}

// Field is a labelled value of a Slack message or Discord embed; Value is a
// template.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Defaults of the chat sinks' templates.
const (
	DefaultSlackAPIURL = "https://slack.com/api"
	DefaultTitle       = "{{.Event.Type}} from {{.Event.Source}}"
	DefaultText        = "Rule *{{.Rule.Name}}* matched event `{{.Event.ID}}`."
)

// maxFields bounds the fields of a message (Slack shows at most 10 in a
// section; Discord allows 25 per embed).
const maxFields = 10

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// ParseSlack reads and checks Slack settings.
func ParseSlack(config json.RawMessage) (Slack, error) {
	var s Slack
	if err := decodeStrict(config, &s); err != nil {
		return Slack{}, err
	}
	if err := s.check(); err != nil {
		return Slack{}, err
	}
	return s, nil
}

func (s Slack) check() error {
	if err := s.checkDestination(); err != nil {
		return err
	}
	if _, err := s.Templates(); err != nil {
		return err
	}
	if s.Color != "" && !colorPattern.MatchString(s.Color) {
		return fieldErr("color", "must be a colour such as #e01e5a")
	}
	if _, err := s.AttemptTimeout(); err != nil {
		return err
	}
	return s.Policy.check()
}

func (s Slack) checkDestination() error {
	switch {
	case s.WebhookURL != "" && s.Token != "":
		return fieldErr("token", "cannot be set with webhook_url: choose one")
	case s.WebhookURL != "":
		if s.Channel != "" {
			return fieldErr("channel", "is fixed by the incoming webhook; set it only with token")
		}
		return checkHTTPURL("webhook_url", s.WebhookURL.Value())
	case s.Token != "":
		if s.Channel == "" {
			return fieldErr("channel", "is required with token")
		}
		if err := checkHeaderValue("token", s.Token.Value()); err != nil {
			return err
		}
		if s.APIURL != "" {
			return checkHTTPURL("api_url", s.APIURL)
		}
		return nil
	default:
		return fieldErr("webhook_url", "is required (or token and channel)")
	}
}

// ChatTemplates are the compiled templates of a chat message.
type ChatTemplates struct {
	Title, Text, Priority *Template
	// Fields pairs each field's name with its compiled value template.
	Fields []ChatField
}

// ChatField is a message field whose value is a template.
type ChatField struct {
	Name   string
	Value  *Template
	Inline bool
}

// Templates compiles the message's templates.
func (s Slack) Templates() (ChatTemplates, error) {
	return compileChat(s.Title, s.Text, s.Priority, s.Fields)
}

func compileChat(title, text, priority string, fields []Field) (ChatTemplates, error) {
	var t ChatTemplates
	var err error
	if t.Title, err = compileOr("title", title, DefaultTitle); err != nil {
		return t, err
	}
	if t.Text, err = compileOr("text", text, DefaultText); err != nil {
		return t, err
	}
	if t.Priority, err = CompileTemplate("priority", priority); err != nil {
		return t, err
	}
	if len(fields) > maxFields {
		return t, fieldErr("fields", "must list at most %d fields", maxFields)
	}
	for i, f := range fields {
		field := fmt.Sprintf("fields[%d]", i)
		if f.Name == "" {
			return t, fieldErr(field+".name", "is required")
		}
		value, err := CompileTemplate(field+".value", f.Value)
		if err != nil {
			return t, err
		}
		t.Fields = append(t.Fields, ChatField{Name: f.Name, Value: value, Inline: f.Inline})
	}
	return t, nil
}

// AttemptTimeout returns the sink's per-attempt timeout.
func (s Slack) AttemptTimeout() (time.Duration, error) {
	return attemptTimeout(s.Timeout)
}

// PostMessageURL returns the chat.postMessage endpoint of a bot-token sink.
func (s Slack) PostMessageURL() string {
	base := s.APIURL
	if base == "" {
		base = DefaultSlackAPIURL
	}
	return trimSlash(base) + "/chat.postMessage"
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// LogValue logs the settings redacted.
func (s Slack) LogValue() slog.Value {
	return redactedLogValue(s)
}

// DeliveryPolicy returns the sink's delivery policy.
func (s Slack) DeliveryPolicy() Policy {
	return s.Policy
}

// Redacted returns a copy with the webhook URL and token hidden.
func (s Slack) Redacted() Settings {
	s.WebhookURL = s.WebhookURL.redact()
	s.Token = s.Token.redact()
	return s
}

// Priority colours of chat messages.
var priorityColors = map[string]string{
	"critical": "#b3001b",
	"high":     "#e01e5a",
	"normal":   "#2eb67d",
	"low":      "#9e9e9e",
}

// PriorityColor returns the colour of a priority name (the output of a
// Priority template); anything unknown is normal.
func PriorityColor(priority string) string {
	if c, ok := priorityColors[priority]; ok {
		return c
	}
	return priorityColors["normal"]
}
