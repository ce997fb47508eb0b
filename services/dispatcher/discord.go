package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Discord's limits, in characters.
const (
	discordContentLimit = 2000
	discordTitleLimit   = 256
	discordTextLimit    = 4096
	discordNameLimit    = 256
	discordValueLimit   = 1024
	discordFooterLimit  = 2048
	discordEmbedLimit   = 6000
)

// discord is a Sink posting a message with one embed through a Discord
// webhook, with mentions limited to the kinds the sink allows.
type discord struct {
	target   httpTarget
	renderer chatRenderer
	content  *sinkconf.Template
	url      string
	username string
	mentions []string
}

// NewDiscordFactory returns the SinkFactory of Discord sinks. They share
// client, which should come from NewSinkClient.
func NewDiscordFactory(client *http.Client) SinkFactory {
	return func(s store.Sink) (Sink, error) {
		cfg, err := sinkconf.ParseDiscord(s.Config)
		if err != nil {
			return nil, fmt.Errorf("discord settings: %w", err)
		}
		templates, _ := cfg.Templates()
		content, _ := cfg.ContentTemplate()
		timeout, _ := cfg.AttemptTimeout()
		return &discord{
			target: httpTarget{client: client, kind: "discord", timeout: timeout, policy: cfg.Policy},
			renderer: chatRenderer{templates: templates, color: cfg.Color,
				escapeTitle: escapeDiscord, escapeText: escapeDiscord},
			content:  content,
			url:      cfg.WebhookURL.Value(),
			username: cfg.Username,
			mentions: append([]string{}, cfg.AllowMentions...),
		}, nil
	}
}

// Deliver posts the message of a. A 429 answer's retry_after is honoured.
func (d *discord) Deliver(ctx context.Context, a action.Action) (int, error) {
	payload, err := d.payload(a)
	if err != nil {
		return 0, err
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, finalError("encode discord message: %w", err)
	}
	resp, err := d.target.post(ctx, http.MethodPost, d.url, body, func(h http.Header) {
		h.Set("Content-Type", "application/json")
	})
	if resp.code == http.StatusTooManyRequests {
		withDiscordRetryAfter(err, resp.body)
	}
	return resp.code, err
}

// withDiscordRetryAfter sets the wait of a 429 from its body's retry_after,
// in seconds with a fraction, which is more precise than Retry-After.
func withDiscordRetryAfter(err error, body []byte) {
	var answer struct {
		RetryAfter float64 `json:"retry_after"`
	}
	var de *DeliveryError
	if !errors.As(err, &de) || json.Unmarshal(body, &answer) != nil || answer.RetryAfter <= 0 {
		return
	}
	de.RetryAfter = time.Duration(min(answer.RetryAfter, maxRetryAfterSeconds) * float64(time.Second))
}

// Discord webhook message.
type (
	discordPayload struct {
		Content         string          `json:"content,omitempty"`
		Username        string          `json:"username,omitempty"`
		Embeds          []discordEmbed  `json:"embeds"`
		AllowedMentions discordMentions `json:"allowed_mentions"`
	}
	discordEmbed struct {
		Title       string         `json:"title"`
		Description string         `json:"description,omitempty"`
		Color       int            `json:"color"`
		Fields      []discordField `json:"fields,omitempty"`
		Footer      discordFooter  `json:"footer"`
		Timestamp   string         `json:"timestamp,omitempty"`
	}
	discordField struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Inline bool   `json:"inline"`
	}
	discordFooter struct {
		Text string `json:"text"`
	}
	// discordMentions lists the kinds of mention that may ping; an empty
	// list disables them all.
	discordMentions struct {
		Parse []string `json:"parse"`
	}
)

// payload renders the message of a, each part trimmed to Discord's limits.
func (d *discord) payload(a action.Action) (discordPayload, error) {
	msg, err := d.renderer.render(a)
	if err != nil {
		return discordPayload{}, err
	}
	data, err := sinkconf.NewTemplateData(a, escapeDiscord)
	if err != nil {
		return discordPayload{}, finalError("message: %w", err)
	}
	content, err := d.content.Execute(data)
	if err != nil {
		return discordPayload{}, finalError("message %w", err)
	}
	embed := discordEmbed{
		Title:       trimText(orPlaceholder(msg.title), discordTitleLimit, discordMarkup),
		Description: trimText(msg.text, discordTextLimit, discordMarkup),
		Color:       colorValue(msg.color),
		Footer:      discordFooter{Text: trimText(msg.footer, discordFooterLimit, discordMarkup)},
	}
	if !a.Event.Time.IsZero() {
		embed.Timestamp = a.Event.Time.UTC().Format(time.RFC3339)
	}
	for _, f := range msg.fields {
		embed.Fields = append(embed.Fields, discordField{
			Name:   trimText(orPlaceholder(f.name), discordNameLimit, plainText),
			Value:  trimText(orPlaceholder(f.value), discordValueLimit, discordMarkup),
			Inline: f.inline,
		})
	}
	fitEmbed(&embed)
	return discordPayload{
		Content:         trimText(content, discordContentLimit, discordMarkup),
		Username:        d.username,
		Embeds:          []discordEmbed{embed},
		AllowedMentions: discordMentions{Parse: d.mentions},
	}, nil
}

// fitEmbed keeps the embed's text within Discord's total limit: it
// shortens the description first, then the field values evenly.
func fitEmbed(e *discordEmbed) {
	fixed := textLen(e.Title) + textLen(e.Footer.Text)
	values := 0
	for _, f := range e.Fields {
		fixed += textLen(f.Name)
		values += textLen(f.Value)
	}
	room := discordEmbedLimit - fixed - values
	if textLen(e.Description) <= room {
		return
	}
	e.Description = trimText(e.Description, max(room, 0), discordMarkup)
	if room >= 0 {
		return
	}
	share := (discordEmbedLimit - fixed) / len(e.Fields)
	for i := range e.Fields {
		e.Fields[i].Value = trimText(e.Fields[i].Value, share, discordMarkup)
	}
}

// colorValue turns "#rrggbb" into the integer Discord wants.
func colorValue(hex string) int {
	v, err := strconv.ParseInt(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		return 0
	}
	return int(v)
}
