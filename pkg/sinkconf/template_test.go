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
			Time:       time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC),
			Data:       []byte(`{"amount":742.5,"order":12345678901234567890,"user":{"segment":"VIP","name":"<!channel> & co"},"tags":["a","b"]}`),
			Extensions: []event.Extension{{Name: "tenant", Value: "<acme>"}},
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
		{"extension", `{{.Event.Extension "tenant"}}|{{.Event.Extension "missing"}}|{{default "none" (.Event.Extension "missing")}}`, "<acme>||none"},
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
	got, err := render(t, `{{.Data.user.name}} | {{.Event.Subject}} | {{.Event.Type}} | {{.Event.Extension "tenant"}}`, escape)
	want := "&lt;!channel&gt; &amp; co | order &lt;42&gt; | purchase.completed | &lt;acme&gt;"
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

// Templates that would take all memory or loop for minutes stop at the
// limits, with an error naming which.
func TestTemplateLimits(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"doubling text", `{{$x := "aaaaaaaaaaaaaaaa"}}{{range 40}}{{$x = printf "%s%s" $x $x}}{{end}}{{len $x}}`, "text longer than 65536 bytes"},
		{"replace blowing up", `{{$x := printf "%60000s" ""}}{{replace " " "xx" $x}}`, "text longer than 65536 bytes"},
		{"html of ampersands", `{{$x := replace " " "&" (printf "%15000s" "")}}{{html $x}}`, "text longer than 65536 bytes"},
		{"range over a billion", `{{range 1000000000}}{{end}}`, "ranges run more than 100000 times"},
		{"nested ranges", `{{range 1000}}{{range 1000}}{{end}}{{end}}`, "ranges run more than 100000 times"},
		{"ranges in a called template", `{{define "l"}}{{range 1000}}{{end}}{{end}}{{range 1000}}{{template "l"}}{{end}}`, "ranges run more than 100000 times"},
		{"endless recursion", `{{define "a"}}{{template "a"}}{{end}}{{template "a"}}`, "exceeded maximum template depth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := render(t, c.text, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("render = %d bytes, %v; want an error saying %q", len(got), err, c.want)
			}
		})
	}

	within := `{{range 100}}{{range $.Data.tags}}{{.}}{{end}}{{end}}`
	if got, err := render(t, within, nil); err != nil || len(got) != 200 {
		t.Errorf("render %q = %d bytes, %v; want 200 bytes", within, len(got), err)
	}
}

// FuzzTemplate compiles random template text and renders it over an event
// with random data: a template either fails to compile, fails to render,
// or renders within MaxTemplateOutput; never a panic, never unbounded.
func FuzzTemplate(f *testing.F) {
	f.Add("{{.Event.Type}} {{.Data.amount}}", []byte(`{"amount":742.5,"tags":["a","b"]}`))
	f.Add(`{{range $k, $v := .Data}}{{$k}}={{json $v}};{{end}}`, []byte(`{"a":{"b":[1,2]},"c":null}`))
	f.Add(`{{if gt (num .Data.n) 5.0}}{{upper .Data.s}}{{else}}{{default "x" .Data.m}}{{end}}`, []byte(`{"n":"7","s":"é"}`))
	f.Add(`{{$x := "ab"}}{{range 20}}{{$x = printf "%s%s" $x $x}}{{end}}`, []byte(`{}`))
	f.Add(`{{join ", " .Data.l}} {{truncate 3 .Data.s}} {{replace "a" "bb" .Data.s}}`, []byte(`{"l":[1,"x",true],"s":"banana"}`))
	f.Fuzz(func(t *testing.T, text string, data []byte) {
		tmpl, err := sinkconf.CompileTemplate("text", text)
		if err != nil {
			return
		}
		a := vipPurchase()
		if event.ValidateData(data) == nil {
			a.Event.Data = data
		}
		td, err := sinkconf.NewTemplateData(a, strings.NewReplacer("<", "&lt;").Replace)
		if err != nil {
			t.Fatalf("data that validates does not decode: %v", err)
		}
		out, err := tmpl.Execute(td)
		if err == nil && len(out) > sinkconf.MaxTemplateOutput {
			t.Fatalf("rendered %d bytes, past MaxTemplateOutput", len(out))
		}
	})
}
