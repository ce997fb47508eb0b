package sinkconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
	"unicode/utf8"

	"github.com/zenith-hq/zenith/pkg/action"
)

// Limits on templates. A template's output past MaxTemplateOutput is an
// error rather than a message nobody can read; the sinks trim their
// messages to their own, smaller limits. So is any text a function builds
// past it, which bounds the memory one rendering takes, and a rendering
// that runs range bodies more than MaxTemplateSteps times in all, which
// bounds its time: text/template itself has no limit on either.
const (
	MaxTemplateSize   = 16 << 10
	MaxTemplateOutput = 64 << 10
	MaxTemplateSteps  = 100_000
)

// Template is a message template: Go text/template over a TemplateData,
// with the functions listed in TemplateFuncs and nothing else. It is safe
// for concurrent use.
type Template struct {
	t *template.Template
}

// TemplateData is what a template sees. Data is the event's data with its
// numbers kept exactly as sent (json.Number: compare them after num).
type TemplateData struct {
	DispatchID string
	Event      TemplateEvent
	Data       map[string]any
	Rule       action.RuleRef
	Sink       action.SinkRef
}

// TemplateEvent is the envelope of the event a template renders.
type TemplateEvent struct {
	ID      string
	Source  string
	Type    string
	Subject string
	Time    time.Time

	extensions map[string]string
}

// Extension returns the producer's CloudEvents extension attribute name,
// or "" when the event has none: {{.Event.Extension "tenant"}}.
func (e TemplateEvent) Extension(name string) string {
	return e.extensions[name]
}

// TemplateFuncs are the functions templates may call besides text/template's
// own: none of them reaches outside the data given, and none builds text
// longer than MaxTemplateOutput. text/template's printf, print, println,
// html, js and urlquery are replaced by versions bounded the same way.
var TemplateFuncs = template.FuncMap{
	"json":     toJSON,
	"upper":    func(s string) (string, error) { return bounded(strings.ToUpper(s)) },
	"lower":    func(s string) (string, error) { return bounded(strings.ToLower(s)) },
	"trim":     strings.TrimSpace,
	"truncate": truncate,
	"default":  orDefault,
	"join":     join,
	"num":      num,
	"replace":  replace,
	"contains": func(substr, s string) bool { return strings.Contains(s, substr) },
	"printf":   func(format string, args ...any) (string, error) { return bounded(fmt.Sprintf(format, args...)) },
	"print":    func(args ...any) (string, error) { return bounded(fmt.Sprint(args...)) },
	"println":  func(args ...any) (string, error) { return bounded(fmt.Sprintln(args...)) },
	"html":     func(args ...any) (string, error) { return bounded(template.HTMLEscaper(args...)) },
	"js":       func(args ...any) (string, error) { return bounded(template.JSEscaper(args...)) },
	"urlquery": func(args ...any) (string, error) { return bounded(template.URLQueryEscaper(args...)) },
	stepFunc:   func() string { return "" },
}

// stepFunc names the function CompileTemplate calls at the start of every
// range body; Execute binds it to a counter of its own.
const stepFunc = "zenithStep"

var (
	errTextTooLong  = fmt.Errorf("text longer than %d bytes", MaxTemplateOutput)
	errTooManySteps = fmt.Errorf("ranges run more than %d times", MaxTemplateSteps)
)

// bounded returns s, or an error when it is longer than MaxTemplateOutput.
func bounded(s string) (string, error) {
	if len(s) > MaxTemplateOutput {
		return "", errTextTooLong
	}
	return s, nil
}

// replace replaces every old in s by repl, refusing first a result longer
// than MaxTemplateOutput.
func replace(old, repl, s string) (string, error) {
	if n := strings.Count(s, old); len(s)+n*(len(repl)-len(old)) > MaxTemplateOutput {
		return "", errTextTooLong
	}
	return strings.ReplaceAll(s, old, repl), nil
}

// CompileTemplate compiles the template text of the setting named field.
// Errors are *Error values naming the setting.
func CompileTemplate(field, text string) (*Template, error) {
	if len(text) > MaxTemplateSize {
		return nil, fieldErr(field, "template must be at most %d bytes", MaxTemplateSize)
	}
	t, err := template.New(field).Funcs(TemplateFuncs).Parse(text)
	if err != nil {
		return nil, fieldErr(field, "invalid template: %s", templateProblem(err))
	}
	step, err := template.New("").Funcs(TemplateFuncs).Parse("{{" + stepFunc + "}}")
	if err != nil {
		return nil, fmt.Errorf("compile the step counter: %w", err)
	}
	for _, named := range t.Templates() {
		if named.Tree != nil {
			countSteps(named.Tree.Root, step.Tree.Root.Nodes[0])
		}
	}
	return &Template{t: t}, nil
}

// countSteps puts step, a call of stepFunc, at the start of every range
// body in node, so that Execute can count the iterations.
func countSteps(node parse.Node, step parse.Node) {
	switch n := node.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, item := range n.Nodes {
			countSteps(item, step)
		}
	case *parse.RangeNode:
		countSteps(n.List, step)
		countSteps(n.ElseList, step)
		n.List.Nodes = append([]parse.Node{step}, n.List.Nodes...)
	case *parse.IfNode:
		countSteps(n.List, step)
		countSteps(n.ElseList, step)
	case *parse.WithNode:
		countSteps(n.List, step)
		countSteps(n.ElseList, step)
	}
}

// compileOr compiles text, or def when text is empty.
func compileOr(field, text, def string) (*Template, error) {
	if text == "" {
		text = def
	}
	return CompileTemplate(field, text)
}

// templateProblem drops the "template: name:" prefix of a text/template
// error, which repeats the field name.
func templateProblem(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "template: "); ok {
		if _, after, found := strings.Cut(rest, ":"); found {
			return strings.TrimSpace(after)
		}
	}
	return msg
}

// Execute renders the template over data. An error means the template cannot
// render this event (a missing value handed to a function, output over
// MaxTemplateOutput): trying again will not help.
func (t *Template) Execute(data *TemplateData) (string, error) {
	run, err := t.t.Clone()
	if err != nil {
		return "", fmt.Errorf("render %s: %w", t.t.Name(), err)
	}
	steps := 0
	run.Funcs(template.FuncMap{stepFunc: func() (string, error) {
		if steps++; steps > MaxTemplateSteps {
			return "", errTooManySteps
		}
		return "", nil
	}})

	var out limitedBuffer
	if err := run.Execute(&out, data); err != nil {
		return "", fmt.Errorf("render %s: %s", t.t.Name(), templateProblem(err))
	}
	return out.String(), nil
}

var errTemplateOutput = fmt.Errorf("output exceeds %d bytes", MaxTemplateOutput)

// limitedBuffer refuses writes past MaxTemplateOutput, which also ends a
// runaway loop early.
type limitedBuffer struct {
	bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxTemplateOutput {
		return 0, errTemplateOutput
	}
	return b.Buffer.Write(p)
}

// NewTemplateData builds what templates see of a. When escape is not nil,
// every string the producer controls (the data's keys and values, the
// subject, the extension attributes) goes through it, so that a message's markup cannot be forged.
func NewTemplateData(a action.Action, escape func(string) string) (*TemplateData, error) {
	data := map[string]any{}
	if len(a.Event.Data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(a.Event.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			return nil, fmt.Errorf("decode event data: %w", err)
		}
	}
	subject := a.Event.Subject
	extensions := make(map[string]string, len(a.Event.Extensions))
	for _, x := range a.Event.Extensions {
		extensions[x.Name] = x.Value
	}
	if escape != nil {
		data = escapeValue(data, escape).(map[string]any)
		subject = escape(subject)
		for name, value := range extensions {
			extensions[name] = escape(value)
		}
	}
	return &TemplateData{
		DispatchID: a.DispatchID,
		Event: TemplateEvent{
			ID: a.Event.ID, Source: a.Event.Source, Type: a.Event.Type,
			Subject: subject, Time: a.Event.Time, extensions: extensions,
		},
		Data: data,
		Rule: a.Rule,
		Sink: a.Sink,
	}, nil
}

// escapeValue returns v, a decoded JSON value, with every string escaped.
func escapeValue(v any, escape func(string) string) any {
	switch v := v.(type) {
	case string:
		return escape(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[escape(k)] = escapeValue(item, escape)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = escapeValue(item, escape)
		}
		return out
	default:
		return v
	}
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("json: %w", err)
	}
	return bounded(string(b))
}

// truncate shortens s to at most n characters, ending with "…" when cut.
func truncate(n int, s string) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-1]) + "…"
}

// orDefault returns v, or def when v is missing or empty.
func orDefault(def, v any) any {
	if v == nil {
		return def
	}
	rv := reflect.ValueOf(v)
	if rv.IsZero() || ((rv.Kind() == reflect.Map || rv.Kind() == reflect.Slice) && rv.Len() == 0) {
		return def
	}
	return v
}

// join joins the items of list, printed as text, with sep.
func join(sep string, list any) (string, error) {
	items, ok := list.([]any)
	if !ok {
		return "", errors.New("join: not a list")
	}
	parts := make([]string, len(items))
	size := len(sep) * max(0, len(items)-1)
	for i, item := range items {
		parts[i] = fmt.Sprint(item)
		if size += len(parts[i]); size > MaxTemplateOutput {
			return "", errTextTooLong
		}
	}
	return strings.Join(parts, sep), nil
}

// num returns a number of the event's data, or a string holding one, as a
// float64 for comparison and arithmetic-free formatting.
func num(v any) (float64, error) {
	switch v := v.(type) {
	case json.Number:
		return v.Float64()
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case string:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, errors.New("num: the text is not a number")
		}
		return f, nil
	case nil:
		return 0, errors.New("num: no value")
	default:
		return 0, fmt.Errorf("num: a %s is not a number", jsonKind(reflect.TypeOf(v).Kind().String()))
	}
}
