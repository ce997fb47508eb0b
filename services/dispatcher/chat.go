package dispatcher

import (
	"fmt"
	"strings"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// chatMessage is a Slack or Discord message rendered from its templates,
// before the service's limits are applied.
type chatMessage struct {
	title string
	text  string
	color string
	// fields are name and value pairs.
	fields []chatField
	// footer names the rule and the event, so a reader can look them up.
	footer string
}

type chatField struct {
	name, value string
	inline      bool
}

// chatRenderer renders chat messages from a sink's templates.
type chatRenderer struct {
	templates sinkconf.ChatTemplates
	// color is a fixed colour, "#rrggbb"; empty means the priority's.
	color string
	// escapeTitle and escapeText escape the event's text for the title and
	// the rest of the message; nil leaves it as it is.
	escapeTitle, escapeText func(string) string
}

// render renders the message of a. A template that cannot render this event
// is a final error.
func (r chatRenderer) render(a action.Action) (chatMessage, error) {
	var msg chatMessage
	titleData, err := sinkconf.NewTemplateData(a, r.escapeTitle)
	if err != nil {
		return msg, finalError("message: %w", err)
	}
	textData, err := sinkconf.NewTemplateData(a, r.escapeText)
	if err != nil {
		return msg, finalError("message: %w", err)
	}

	if msg.title, err = r.templates.Title.Execute(titleData); err != nil {
		return msg, finalError("message %w", err)
	}
	if msg.text, err = r.templates.Text.Execute(textData); err != nil {
		return msg, finalError("message %w", err)
	}
	for _, f := range r.templates.Fields {
		value, err := f.Value.Execute(textData)
		if err != nil {
			return msg, finalError("message %w", err)
		}
		msg.fields = append(msg.fields, chatField{name: f.Name, value: value, inline: f.Inline})
	}
	if msg.color, err = r.pickColor(titleData); err != nil {
		return msg, err
	}
	msg.footer = r.footer(a)
	return msg, nil
}

func (r chatRenderer) pickColor(data *sinkconf.TemplateData) (string, error) {
	if r.color != "" {
		return r.color, nil
	}
	priority, err := r.templates.Priority.Execute(data)
	if err != nil {
		return "", finalError("message %w", err)
	}
	return sinkconf.PriorityColor(strings.ToLower(strings.TrimSpace(priority))), nil
}

// footer names the rule and the event, escaped as the text is.
func (r chatRenderer) footer(a action.Action) string {
	escape := r.escapeText
	if escape == nil {
		escape = func(s string) string { return s }
	}
	return fmt.Sprintf("rule %s v%d · event %s · %s",
		escape(a.Rule.Name), a.Rule.Version, escape(a.Event.ID), escape(a.Event.Source))
}
