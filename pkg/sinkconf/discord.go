package sinkconf

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// Discord posts a message with one embed for each action through a Discord
// webhook. Mentions in the message ping no one unless AllowMentions says
// which kinds may.
type Discord struct {
	// WebhookURL is the webhook's URL, which holds its token.
	WebhookURL Secret `json:"webhook_url"`
	// Username overrides the webhook's name.
	Username string `json:"username,omitempty"`
	// Content is a template of the text above the embed; empty means none.
	Content string `json:"content,omitempty"`
	// Title is a template of the embed's title; empty means DefaultTitle.
	Title string `json:"title,omitempty"`
	// Text is a template of the embed's description, in Discord markdown;
	// empty means DefaultText.
	Text string `json:"text,omitempty"`
	// Fields are the embed's fields.
	Fields []Field `json:"fields,omitempty"`
	// Priority is a template whose output picks the embed's colour: one of
	// critical, high, normal or low.
	Priority string `json:"priority,omitempty"`
	// Color is a fixed embed colour, "#rrggbb", in place of Priority's.
	Color string `json:"color,omitempty"`
	// AllowMentions lists the kinds of mention that may ping: users, roles,
	// everyone. Empty means none.
	AllowMentions []string `json:"allow_mentions,omitempty"`

	// Timeout bounds one attempt; empty means DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Policy says how deliveries are retried and limited.
	Policy Policy `json:"policy,omitzero"`
}

var mentionKinds = []string{"users", "roles", "everyone"}

// ParseDiscord reads and checks Discord settings.
func ParseDiscord(config json.RawMessage) (Discord, error) {
	var d Discord
	if err := decodeStrict(config, &d); err != nil {
		return Discord{}, err
	}
	if err := d.check(); err != nil {
		return Discord{}, err
	}
	return d, nil
}

func (d Discord) check() error {
	if err := checkHTTPURL("webhook_url", d.WebhookURL.Value()); err != nil {
		return err
	}
	if _, err := d.Templates(); err != nil {
		return err
	}
	if d.Color != "" && !colorPattern.MatchString(d.Color) {
		return fieldErr("color", "must be a colour such as #5865f2")
	}
	for i, kind := range d.AllowMentions {
		if !slices.Contains(mentionKinds, kind) {
			return fieldErr(fmt.Sprintf("allow_mentions[%d]", i), "must be users, roles or everyone")
		}
	}
	if _, err := d.AttemptTimeout(); err != nil {
		return err
	}
	return d.Policy.check()
}

// Templates compiles the message's templates; Content is compiled with
// ContentTemplate.
func (d Discord) Templates() (ChatTemplates, error) {
	if _, err := d.ContentTemplate(); err != nil {
		return ChatTemplates{}, err
	}
	return compileChat(d.Title, d.Text, d.Priority, d.Fields)
}

// ContentTemplate compiles the Content template.
func (d Discord) ContentTemplate() (*Template, error) {
	return CompileTemplate("content", d.Content)
}

// AttemptTimeout returns the sink's per-attempt timeout.
func (d Discord) AttemptTimeout() (time.Duration, error) {
	return attemptTimeout(d.Timeout)
}

// LogValue logs the settings redacted.
func (d Discord) LogValue() slog.Value {
	return redactedLogValue(d)
}

// DeliveryPolicy returns the sink's delivery policy.
func (d Discord) DeliveryPolicy() Policy {
	return d.Policy
}

// Redacted returns a copy with the webhook URL hidden.
func (d Discord) Redacted() Settings {
	d.WebhookURL = d.WebhookURL.redact()
	return d
}
