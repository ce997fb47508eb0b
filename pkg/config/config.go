// Package config reads Zenith's declarative configuration file (sources and
// their API keys, sinks, rules) and applies it to the database idempotently:
// each item is created or updated by name, and applying the same file twice
// changes nothing the second time.
//
// The file is YAML:
//
//	sources:
//	  - name: shop
//	    api_keys_from_env: [SHOP_API_KEY]
//	sinks:
//	  - {name: vip-alerts, type: webhook, url: "http://127.0.0.1:9000/vip"}
//	rules:
//	  - name: vip-purchase
//	    source: shop
//	    event_type: purchase.completed
//	    condition:
//	      all:
//	        - {field: amount, operator: ">", value: 500}
//	        - {field: user.segment, operator: "==", value: VIP}
//	    actions: [vip-alerts]
//	  - {name: archive-rest, source: shop, fallback: true, actions: [archive]}
//
// API keys are never written in the file: it names environment variables
// that hold them.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// File is a parsed and validated configuration file.
type File struct {
	Sources []Source `json:"sources"`
	Sinks   []Sink   `json:"sinks"`
	Rules   []Rule   `json:"rules"`
}

// Source declares a source and the environment variables holding its keys.
type Source struct {
	Name           string   `json:"name"`
	APIKeysFromEnv []string `json:"api_keys_from_env"`
}

// Sink declares a sink: a name, a type, and the type's settings written
// beside them.
type Sink struct {
	Name   string
	Type   string
	Config json.RawMessage
}

// Rule declares a rule of a source.
type Rule struct {
	Name      string          `json:"name"`
	Source    string          `json:"source"`
	EventType string          `json:"event_type"`
	Condition json.RawMessage `json:"condition"`
	Fallback  bool            `json:"fallback"`
	Priority  int             `json:"priority"`
	// Enabled defaults to true.
	Enabled *bool    `json:"enabled"`
	Actions []string `json:"actions"`
}

// IsEnabled reports whether the rule is enabled; a rule is unless it says
// otherwise.
func (r Rule) IsEnabled() bool {
	return r.Enabled == nil || *r.Enabled
}

// Error reports a problem at one place of the file: a path such as
// rules[0].condition.all[1].operator, a line and column, or both.
type Error struct {
	Path string
	// Line and Column, counted from 1, place a problem the YAML reader
	// found (a syntax error, a key given twice); zero when the path alone
	// names the place.
	Line, Column int
	Problem      string
}

// Error reads "line 5, column 5: sinks[0].url: is given twice", leaving
// out what is not known.
func (e *Error) Error() string {
	msg := e.Problem
	if e.Path != "" {
		msg = e.Path + ": " + msg
	}
	if e.Line > 0 {
		msg = fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, msg)
	}
	return msg
}

func errorAt(path, format string, args ...any) *Error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// Load reads the configuration file at path, expands the environment
// variables its sinks' settings name (see ExpandEnv) and validates it.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	expanded, err := ExpandEnv(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	f, err := Parse(expanded)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Parse reads and validates a configuration file's contents, YAML read as
// ToJSON reads it (its size, nesting and numbers bounded). Unknown keys,
// duplicate keys and duplicate names are errors.
func Parse(b []byte) (*File, error) {
	js, err := ToJSON(b)
	if err != nil {
		return nil, err
	}
	var f File
	if trimmed := bytes.TrimSpace(js); len(trimmed) > 0 && string(trimmed) != "null" {
		if err := f.decode(js); err != nil {
			return nil, err
		}
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// ParseRule reads and checks one rule written as the file writes its rules,
// in YAML or JSON, such as a rule file for the admin API. Errors name the
// rule's keys (actions[1], condition.value) like Parse's. That its source
// and sinks exist is checked when it is saved.
func ParseRule(b []byte) (Rule, error) {
	js, err := ToJSON(b)
	if err != nil {
		return Rule{}, err
	}
	if trimmed := bytes.TrimSpace(js); len(trimmed) == 0 || string(trimmed) == "null" {
		return Rule{}, errorAt("file", "is empty; a rule file holds one rule: its name, source, condition and actions")
	}
	var r Rule
	if err := decodeStrict(js, &r, ""); err != nil {
		return Rule{}, err
	}
	return r, r.Validate("")
}

// decode reads the file's sections item by item, so that an error names the
// item it is in.
func (f *File) decode(js []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil {
		return errorAt("file", "must be a mapping of sources, sinks and rules")
	}
	for key, raw := range top {
		var err error
		switch key {
		case "sources":
			f.Sources, err = decodeList[Source](raw, key)
		case "sinks":
			f.Sinks, err = decodeList[Sink](raw, key)
		case "rules":
			f.Rules, err = decodeList[Rule](raw, key)
		default:
			err = errorAt(pathKey(key), "unknown key (want sources, sinks or rules)")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func decodeList[T any](raw json.RawMessage, path string) ([]T, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, errorAt(path, "must be a list")
	}
	list := make([]T, len(items))
	for i, item := range items {
		if err := decodeStrict(item, &list[i], fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// UnmarshalJSON reads a sink, gathering every key but name and type into its
// settings.
func (k *Sink) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return errorAt("", "must be an object")
	}
	for key, dst := range map[string]*string{"name": &k.Name, "type": &k.Type} {
		if raw, ok := fields[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return errorAt(key, "must be a string")
			}
			delete(fields, key)
		}
	}
	cfg, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	k.Config = cfg
	return nil
}

// MarshalJSON writes a sink with its settings beside name and type.
func (k Sink) MarshalJSON() ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if len(k.Config) > 0 {
		if err := json.Unmarshal(k.Config, &fields); err != nil {
			return nil, err
		}
	}
	fields["name"], _ = json.Marshal(k.Name)
	fields["type"], _ = json.Marshal(k.Type)
	return json.Marshal(fields)
}

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,99}$`)
var envPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks every item of f and the references between them. Rules may
// name sources and sinks that are not in f: those must exist when f is
// applied.
func (f *File) Validate() error {
	if err := f.validateSources(); err != nil {
		return err
	}
	if err := f.validateSinks(); err != nil {
		return err
	}
	return f.validateRules()
}

func (f *File) validateSources() error {
	seen := map[string]bool{}
	for i, s := range f.Sources {
		path := fmt.Sprintf("sources[%d]", i)
		if err := s.Validate(path); err != nil {
			return err
		}
		if seen[s.Name] {
			return errorAt(path+".name", "source %q is declared twice", s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}

func (f *File) validateSinks() error {
	seen := map[string]bool{}
	for i, k := range f.Sinks {
		path := fmt.Sprintf("sinks[%d]", i)
		if err := k.Validate(path); err != nil {
			return err
		}
		if seen[k.Name] {
			return errorAt(path+".name", "sink %q is declared twice", k.Name)
		}
		seen[k.Name] = true
	}
	return nil
}

func (f *File) validateRules() error {
	seen := map[string]bool{}
	for i, r := range f.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		if err := r.Validate(path); err != nil {
			return err
		}
		key := r.Source + "/" + r.Name
		if seen[key] {
			return errorAt(path+".name", "rule %q of source %q is declared twice", r.Name, r.Source)
		}
		seen[key] = true
	}
	return nil
}

// Validate checks a source on its own. path names it in errors, such as
// "sources[0]"; empty names its fields alone.
func (s Source) Validate(path string) error {
	if !event.ValidSourceName(s.Name) {
		return errorAt(join(path, "name"), "must be 1-%d lower-case letters, digits, '-' or '_'", event.MaxSourceLength)
	}
	for j, env := range s.APIKeysFromEnv {
		if !envPattern.MatchString(env) {
			return errorAt(fmt.Sprintf("%s[%d]", join(path, "api_keys_from_env"), j), "%q is not an environment variable name", env)
		}
	}
	return nil
}

// Validate checks a sink on its own: its name, type and settings. path
// names it in errors, like Source.Validate's.
func (k Sink) Validate(path string) error {
	if !namePattern.MatchString(k.Name) {
		return errorAt(join(path, "name"), "must be 1-100 lower-case letters, digits, '.', '-' or '_'")
	}
	if err := refusePlaceholders(k.Config, path); err != nil {
		return err
	}
	if err := refuseRedacted(k.Config, path); err != nil {
		return err
	}
	if err := refuseNUL(k.Config, path); err != nil {
		return err
	}
	if err := sinkconf.Validate(k.Type, k.Config); err != nil {
		var se *sinkconf.Error
		if errors.As(err, &se) {
			return errorAt(join(path, se.Field), "%s", se.Problem)
		}
		return errorAt(path, "%v", err)
	}
	return nil
}

// Validate checks a rule on its own: its names, event type, condition,
// priority, and the sinks it acts on, each named once. That the source and
// sinks exist is checked when it is saved. path names it in errors, like
// Source.Validate's.
func (r Rule) Validate(path string) error {
	if !namePattern.MatchString(r.Name) {
		return errorAt(join(path, "name"), "must be 1-100 lower-case letters, digits, '.', '-' or '_'")
	}
	if !event.ValidSourceName(r.Source) {
		return errorAt(join(path, "source"), "must name a source")
	}
	if err := rules.ValidateEventType(r.EventType, join(path, "event_type")); err != nil {
		return asConfigError(err)
	}
	if err := validateCondition(r.Condition, join(path, "condition")); err != nil {
		return err
	}
	if r.Priority < math.MinInt32 || r.Priority > math.MaxInt32 {
		return errorAt(join(path, "priority"), "must be between %d and %d", math.MinInt32, math.MaxInt32)
	}
	return validateActions(r.Actions, join(path, "actions"))
}

// validateActions checks the sinks a rule acts on: at least one, each named
// once, since a rule sends one action per sink.
func validateActions(actions []string, path string) error {
	if len(actions) == 0 {
		return errorAt(path, "must name at least one sink")
	}
	for i, name := range actions {
		if slices.Contains(actions[:i], name) {
			return errorAt(fmt.Sprintf("%s[%d]", path, i), "sink %q is named twice", name)
		}
	}
	return nil
}

// HasCondition reports whether the rule has a condition; one without
// matches every event of its type.
func (r Rule) HasCondition() bool {
	return len(r.Condition) > 0 && string(r.Condition) != "null"
}

func validateCondition(raw json.RawMessage, path string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if err := refuseNUL(raw, path); err != nil {
		return err
	}
	if _, err := rules.ParseCondition(raw, path); err != nil {
		return asConfigError(err)
	}
	return nil
}

// asConfigError turns a *rules.ValidationError, which names its place in
// the file already, into an *Error.
func asConfigError(err error) error {
	var ve *rules.ValidationError
	if errors.As(err, &ve) {
		return &Error{Path: ve.Path, Problem: ve.Problem}
	}
	return err
}

// decodeStrict decodes JSON into v, refusing unknown keys and naming the
// place of a problem.
func decodeStrict(b []byte, v any, path string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var cfgErr *Error
	if errors.As(err, &cfgErr) {
		return errorAt(join(path, cfgErr.Path), "%s", cfgErr.Problem)
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if literal, ok := strings.CutPrefix(typeErr.Value, "number "); ok && wholeNumber.MatchString(literal) {
			return errorAt(join(path, typeErr.Field), "%s is out of range", literal)
		}
		return errorAt(join(path, typeErr.Field), "must be a %s", kindName(typeErr.Type.Kind().String()))
	}
	if quoted, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, unquoteErr := strconv.Unquote(quoted)
		if unquoteErr != nil {
			name = quoted
		}
		return errorAt(join(path, pathKey(name)), "unknown key")
	}
	return errorAt(path, "must be a mapping")
}

// wholeNumber matches a JSON integer, which a type error on an integer
// field reports only when it does not fit.
var wholeNumber = regexp.MustCompile(`^-?[0-9]+$`)

func join(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	default:
		return path + "." + field
	}
}

func kindName(goKind string) string {
	switch goKind {
	case "slice", "array":
		return "list"
	case "map", "struct":
		return "mapping"
	case "bool":
		return "boolean (true or false)"
	case "int", "int64":
		return "whole number"
	default:
		return goKind
	}
}
