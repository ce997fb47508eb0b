package dispatcher

import (
	"strings"
	"unicode/utf16"
)

// Chat services count their limits in characters as JavaScript does, in
// UTF-16 code units; counting the same way never overshoots them.

// textLen returns the length of s in UTF-16 code units.
func textLen(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1)
	}
	return n
}

// ellipsis ends a trimmed text.
const ellipsis = "…"

// markup says what a trimmed text must not be cut inside of.
type markup struct {
	// entities: Slack's &amp; &lt; &gt;.
	entities bool
	// angles: Slack links and mentions <…|…>, Discord mentions <@…>.
	angles bool
}

var (
	slackMarkup   = markup{entities: true, angles: true}
	discordMarkup = markup{angles: true}
	plainText     = markup{}
)

// trimText returns s cut to at most limit UTF-16 units, on a rune boundary,
// ending with an ellipsis. It backs off rather than cut an entity, a link or
// a mention in two, and closes a code span or block left open.
func trimText(s string, limit int, m markup) string {
	const fence = "```"
	switch {
	case textLen(s) <= limit:
		return s
	case limit < textLen(ellipsis+"\n"+fence)+1:
		return prefixWithin(s, max(limit, 0))
	}
	head := prefixWithin(s, limit-textLen(ellipsis)-textLen("\n"+fence))
	if m.angles {
		head = backOffOpen(head, "<", ">")
	}
	if m.entities {
		head = backOffEntity(head)
	}
	head = strings.TrimRight(head, "`")

	closer := ""
	if strings.Count(head, fence)%2 == 1 {
		closer = "\n" + fence
	} else if strings.Count(strings.ReplaceAll(head, fence, ""), "`")%2 == 1 {
		closer = "`"
	}
	return head + ellipsis + closer
}

// prefixWithin returns the longest prefix of s, ending on a rune boundary,
// of at most n UTF-16 units.
func prefixWithin(s string, n int) string {
	used := 0
	for i, r := range s {
		used += max(utf16.RuneLen(r), 1)
		if used > n {
			return s[:i]
		}
	}
	return s
}

// backOffOpen cuts s before its last open, when no close follows it.
func backOffOpen(s, open, close string) string {
	i := strings.LastIndex(s, open)
	if i >= 0 && !strings.Contains(s[i:], close) {
		return s[:i]
	}
	return s
}

// backOffEntity cuts s before a trailing entity that lacks its ';'.
func backOffEntity(s string) string {
	i := strings.LastIndexByte(s, '&')
	if i >= 0 && len(s)-i <= len("&amp;") && !strings.Contains(s[i:], ";") {
		return s[:i]
	}
	return s
}

// escapeSlack escapes the three characters Slack's mrkdwn gives meaning to,
// so that text from an event cannot add links or mentions.
var escapeSlack = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// escapeDiscord escapes Discord's markdown, so that text from an event
// cannot add links or formatting; mentions are disabled separately.
var escapeDiscord = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "~", `\~`, "`", "\\`", "|", `\|`,
	">", `\>`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "#", `\#`,
).Replace

// orPlaceholder returns s, or a zero-width space where a chat service
// refuses an empty value.
func orPlaceholder(s string) string {
	if strings.TrimSpace(s) == "" {
		return "\u200b"
	}
	return s
}
