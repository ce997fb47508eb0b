package sinkconf_test

import (
	"strings"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// vipPurchase is the seed's VIP purchase as the dispatcher receives it.
func vipPurchase() action.Action {
	return action.Action{
		DispatchID: "d-1",
		Event: event.Event{
			ID: "ev-1", Source: "shop", Type: "purchase.completed", Subject: "order <42>",
			Time: time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC),
			Data: []byte(`{"amount":742.5,"order":12345678901234567890,"user":{"segment":"VIP","name":"<!channel> & co"},"tags":["a","b"]}`),
		},
		Rule: action.RuleRef{ID: "r-1", Name: "vip-purchase", Version: 3},
		Sink: action.SinkRef{ID: "s-1", Name: "vip-alerts", Type: "slack"},
	}
}

func render(t *testing.T, text string, escape func(string) string) (string, error) {
	t.Helper()
	tmpl, err := sinkconf.CompileTemplate("text", text)
	if err != nil {
		t.Fatalf("compile %q: %v", text, err)
	}
	data, err := sinkconf.NewTemplateData(vipPurchase(), escape)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl.Execute(data)
}

func TestTemplateRenders(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"envelope", "{{.Event.Type}} {{.Event.ID}} {{.Event.Source}} {{.Rule.Name}} v{{.Rule.Version}} {{.Sink.Name}} {{.DispatchID}}",
			"purchase.completed ev-1 shop vip-purchase v3 vip-alerts d-1"},
		{"numbers exact", "{{.Data.amount}} {{.Data.order}}", "742.5 12345678901234567890"},
		{"num compare", `{{if gt (num .Data.amount) 500.0}}high{{else}}low{{end}}`, "high"},
		{"printf", `{{printf "%.2f" (num .Data.amount)}}`, "742.50"},
		{"nested", "{{.Data.user.segment}}", "VIP"},
		{"time", `{{.Event.Time.Format "2006-01-02 15:04"}}`, "2026-03-01 12:30"},
		{"json", "{{json .Data.user.segment}} {{json .Data.tags}}", `"VIP" ["a","b"]`},
		{"join", `{{join ", " .Data.tags}}`, "a, b"},
		{"default missing", `{{default "n/a" .Data.missing}}`, "n/a"},
		{"default present", `{{default "n/a" .Data.user.segment}}`, "VIP"},
		{"strings", `{{upper .Data.user.segment}} {{lower "AB"}} {{trim "  x "}} {{replace "I" "1" "VIP"}} {{contains "IP" "VIP"}}`, "VIP ab x V1P true"},
		{"truncate", `{{truncate 4 "purchase"}}`, "pur…"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := render(t, c.text, nil)
			if err != nil || got != c.want {
				t.Errorf("render %q = %q, %v; want %q", c.text, got, err, c.want)
			}
		})
	}
}

func TestTemplateEscapesProducerText(t *testing.T) {
	escape := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace
	got, err := render(t, "{{.Data.user.name}} | {{.Event.Subject}} | {{.Event.Type}}", escape)
	want := "&lt;!channel&gt; &amp; co | order &lt;42&gt; | purchase.completed"
	if err != nil || got != want {
		t.Errorf("render = %q, %v; want %q", got, err, want)
	}
}

func TestTemplateErrorsAreReturned(t *testing.T) {
	cases := map[string]string{
		"field of a number":  "{{.Data.amount.cents}}",
		"num of text":        "{{num .Data.user.segment}}",
		"num of nothing":     "{{num .Data.missing}}",
		"unknown field":      "{{.Evnt.ID}}",
		"output over limit":  `{{range $i, $c := .Data.tags}}{{printf "%70000s" "x"}}{{end}}`,
		"join of not a list": `{{join "," .Data.user}}`,
	}
	for name, text := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := render(t, text, nil)
			if err == nil {
				t.Errorf("render %q = %q, want an error", text, got)
			}
		})
	}
}

func TestCompileTemplateRefuses(t *testing.T) {
	for name, text := range map[string]string{
		"syntax":           "{{.Data.amount",
		"unknown function": `{{env "HOME"}}`,
		"too large":        strings.Repeat("x", sinkconf.MaxTemplateSize+1),
	} {
		if _, err := sinkconf.CompileTemplate("text", text); err == nil {
			t.Errorf("%s: CompileTemplate succeeded, want an error", name)
		}
	}
}
