package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// chatReceiver is a loopback chat endpoint keeping the bodies it got and
// answering with status and body.
type chatReceiver struct {
	*httptest.Server
	bodies chan []byte
}

func newChatReceiver(t *testing.T, status int, body string, header map[string]string) *chatReceiver {
	t.Helper()
	rc := &chatReceiver{bodies: make(chan []byte, 10)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.bodies <- b
		for name, value := range header {
			w.Header().Set(name, value)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// deliverChat builds a sink of sinkType from config, delivers the VIP
// purchase with it, and decodes what rc received into into. It returns the
// status the sink reported.
func deliverChat(t *testing.T, sinkType, config string, rc *chatReceiver, into any) int {
	t.Helper()
	sink, err := NewRegistry(testClient(), 10).Sinks[sinkType](storeSink(sinkType, config))
	if err != nil {
		t.Fatal(err)
	}
	code, err := sink.Deliver(context.Background(), testAction("rule-1", "sink-1", "ev-1"))
	if err != nil {
		t.Fatalf("Deliver = %d, %v", code, err)
	}
	if err := json.Unmarshal(<-rc.bodies, into); err != nil {
		t.Fatal(err)
	}
	return code
}

// vipTemplates are chat settings a team would write for the VIP purchase.
const vipTemplates = `"title":"VIP purchase: {{.Data.amount}}",
	"text":"A *{{.Data.user.segment}}* customer spent *{{printf \"%.2f\" (num .Data.amount)}}* in {{.Event.Source}}.",
	"fields":[{"name":"Amount","value":"{{.Data.amount}}","inline":true},{"name":"Segment","value":"{{.Data.user.segment}}","inline":true}],
	"priority":"{{if gt (num .Data.amount) 500.0}}high{{else}}normal{{end}}"`

func TestSlackMessageOfVIPPurchase(t *testing.T) {
	rc := newChatReceiver(t, http.StatusOK, "ok", nil)
	var got slackPayload
	if code := deliverChat(t, "slack", `{"webhook_url":"`+rc.URL+`/services/T/B/x",`+vipTemplates+`}`, rc, &got); code != http.StatusOK {
		t.Errorf("Deliver = %d, want 200", code)
	}
	want := slackPayload{
		Text: "VIP purchase: 742.5",
		Attachments: []slackAttachment{{Color: "#e01e5a", Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: "VIP purchase: 742.5"}},
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: "A *VIP* customer spent *742.50* in shop."}},
			{Type: "section", Fields: []slackText{{Type: "mrkdwn", Text: "*Amount*\n742.5"}, {Type: "mrkdwn", Text: "*Segment*\nVIP"}}},
			{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: "rule vip-purchase v3 · event ev-1 · shop"}}},
		}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("slack message (-want +got):\n%s", diff)
	}
}

func TestDiscordEmbedOfVIPPurchase(t *testing.T) {
	rc := newChatReceiver(t, http.StatusNoContent, "", nil)
	config := `{"webhook_url":"` + rc.URL + `/api/webhooks/1/tok","username":"zenith","content":"@everyone {{.Event.Type}}",` + vipTemplates + `}`
	var got discordPayload
	if code := deliverChat(t, "discord", config, rc, &got); code != http.StatusNoContent {
		t.Errorf("Deliver = %d, want 204", code)
	}
	want := discordPayload{
		Content:  "@everyone purchase.completed",
		Username: "zenith",
		Embeds: []discordEmbed{{
			Title:       "VIP purchase: 742.5",
			Description: "A *VIP* customer spent *742.50* in shop.",
			Color:       0xe01e5a,
			Fields:      []discordField{{Name: "Amount", Value: "742.5", Inline: true}, {Name: "Segment", Value: "VIP", Inline: true}},
			Footer:      discordFooter{Text: "rule vip-purchase v3 · event ev-1 · shop"},
			Timestamp:   "2026-03-01T12:00:00Z",
		}},
		AllowedMentions: discordMentions{Parse: []string{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discord message (-want +got):\n%s", diff)
	}
}

func TestDiscordMentionsOnlyWhenAllowed(t *testing.T) {
	rc := newChatReceiver(t, http.StatusNoContent, "", nil)
	var got discordPayload
	deliverChat(t, "discord", `{"webhook_url":"`+rc.URL+`","allow_mentions":["users","roles"]}`, rc, &got)
	if diff := cmp.Diff([]string{"users", "roles"}, got.AllowedMentions.Parse); diff != "" {
		t.Errorf("allowed_mentions.parse (-want +got):\n%s", diff)
	}
}

func TestDiscordHonoursRetryAfter(t *testing.T) {
	rc := newChatReceiver(t, http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":1.5,"global":false}`,
		map[string]string{"Retry-After": "2"})
	sink, err := NewDiscordFactory(testClient())(storeSink("discord", `{"webhook_url":"`+rc.URL+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sink.Deliver(context.Background(), testAction("r", "s", "ev-1"))
	var de *DeliveryError
	if !errors.As(err, &de) || !de.Retryable || de.RetryAfter != 1500*time.Millisecond {
		t.Errorf("Deliver = %v (%+v), want a retryable error asking for 1.5s", err, de)
	}
}

func TestDiscordLimits(t *testing.T) {
	rc := newChatReceiver(t, http.StatusNoContent, "", nil)
	long := `{{printf \"%5000s\" .Data.user.segment}}`
	fields := strings.Repeat(`{"name":"`+strings.Repeat("n", 300)+`","value":"`+long+`"},`, 10)
	config := `{"webhook_url":"` + rc.URL + `","title":"` + long + `","text":"` + long + `","content":"` + long + `",
		"fields":[` + strings.TrimSuffix(fields, ",") + `]}`
	var got discordPayload
	deliverChat(t, "discord", config, rc, &got)
	e := got.Embeds[0]
	total := textLen(e.Title) + textLen(e.Description) + textLen(e.Footer.Text)
	for _, f := range e.Fields {
		total += textLen(f.Name) + textLen(f.Value)
		if textLen(f.Name) > discordNameLimit || textLen(f.Value) > discordValueLimit {
			t.Errorf("field of %d+%d characters, over the limits", textLen(f.Name), textLen(f.Value))
		}
	}
	if textLen(got.Content) > discordContentLimit || textLen(e.Title) > discordTitleLimit || total > discordEmbedLimit {
		t.Errorf("content %d, title %d, embed total %d characters: over Discord's limits", textLen(got.Content), textLen(e.Title), total)
	}
}

func TestSlackLimits(t *testing.T) {
	rc := newChatReceiver(t, http.StatusOK, "ok", nil)
	long := strings.Repeat("<{{.Data.user.segment}}> ", 500)
	config := `{"webhook_url":"` + rc.URL + `","title":"` + long + `","text":"` + "```" + long + `",
		"fields":[{"name":"a","value":"` + long + `"}]}`
	var got slackPayload
	deliverChat(t, "slack", config, rc, &got)
	blocks := got.Attachments[0].Blocks
	if n := textLen(blocks[0].Text.Text); n > slackHeaderLimit {
		t.Errorf("header of %d characters, over %d", n, slackHeaderLimit)
	}
	text := blocks[1].Text.Text
	if textLen(text) > slackSectionLimit || !strings.HasSuffix(text, "…\n```") {
		t.Errorf("section of %d characters ending %q, want at most %d with the code block closed",
			textLen(text), text[max(0, len(text)-20):], slackSectionLimit)
	}
	if strings.Count(text, "<") != strings.Count(text, ">") {
		t.Errorf("section text cuts a link in two: ...%q", text[max(0, len(text)-40):])
	}
	if n := textLen(blocks[2].Fields[0].Text); n > slackFieldLimit {
		t.Errorf("field of %d characters, over %d", n, slackFieldLimit)
	}
}

func TestSlackAPIErrors(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		wantErr   string
		retryable bool
	}{
		{"ok", `{"ok":true}`, "", false},
		{"channel not found", `{"ok":false,"error":"channel_not_found"}`, "slack refused the message: channel_not_found", false},
		{"internal error", `{"ok":false,"error":"internal_error"}`, "slack refused the message: internal_error", true},
		{"odd code", `{"ok":false,"error":"<script>"}`, "slack refused the message: unknown_error", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := newChatReceiver(t, http.StatusOK, c.body, nil)
			sink, err := NewSlackFactory(testClient())(storeSink("slack", `{"token":"xoxb-1","channel":"C1","api_url":"`+rc.URL+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			_, err = sink.Deliver(context.Background(), testAction("r", "s", "ev-1"))
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("Deliver = %v, want nil", err)
			case c.wantErr != "" && (err == nil || err.Error() != c.wantErr || retryable(err) != c.retryable):
				t.Errorf("Deliver = %v, want %q (retryable %v)", err, c.wantErr, c.retryable)
			}
		})
	}
}

func TestSlackWebhookErrorCode(t *testing.T) {
	rc := newChatReceiver(t, http.StatusGone, "channel_is_archived", nil)
	sink, err := NewSlackFactory(testClient())(storeSink("slack", `{"webhook_url":"`+rc.URL+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = sink.Deliver(context.Background(), testAction("r", "s", "ev-1"))
	if err == nil || err.Error() != "slack answered 410: channel_is_archived" || retryable(err) {
		t.Errorf("Deliver = %v, want the final error slack answered 410: channel_is_archived", err)
	}
}

func TestChatTemplateErrorIsFinal(t *testing.T) {
	for _, sinkType := range []string{"slack", "discord"} {
		rc := newChatReceiver(t, http.StatusOK, "ok", nil)
		sink, err := NewRegistry(testClient(), 10).Sinks[sinkType](storeSink(sinkType,
			`{"webhook_url":"`+rc.URL+`","text":"{{.Data.amount.cents}}"}`))
		if err != nil {
			t.Fatal(err)
		}
		code, err := sink.Deliver(context.Background(), testAction("r", "s", "ev-1"))
		if code != 0 || err == nil || retryable(err) || !strings.Contains(err.Error(), "render text") {
			t.Errorf("%s: Deliver = %d, %v; want a final render error and no request", sinkType, code, err)
		}
		if len(rc.bodies) != 0 {
			t.Errorf("%s: the endpoint got a request, want none", sinkType)
		}
	}
}
