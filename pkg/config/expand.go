package config

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
)

// A sink's settings may name environment variables instead of holding
// secrets such as webhook URLs with tokens or signing secrets, so that the
// file can be kept in git:
//
//	url: "${SLACK_WEBHOOK_URL}"
//	secrets: ["${HOOK_SECRET}"]
//	url: "http://${RECEIVER_ADDR:-127.0.0.1:9000}/vip"
//
// ${NAME} is replaced by the variable's value and is an error when NAME is
// not set; ${NAME:-default} falls back to default when NAME is unset or
// empty. References are expanded where the file is read (at the ingestor's
// start for ZENITH_CONFIG, in zenithctl for apply), never by the admin API
// from its own environment, so a file cannot read a server's variables.
const (
	refOpen    = "${"
	refDefault = ":-"
)

// ExpandEnv returns the configuration file b as JSON, with the variable
// references in its sinks' settings replaced by values from lookup. An
// unset variable without a default is an *Error naming the setting.
func ExpandEnv(b []byte, lookup func(string) (string, bool)) ([]byte, error) {
	js, err := ToJSON(b)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}

	top, _ := doc.(map[string]any)
	sinks, _ := top["sinks"].([]any)
	for i, sink := range sinks {
		fields, ok := sink.(map[string]any)
		if !ok {
			continue
		}
		for key, value := range fields {
			if key == "name" || key == "type" {
				continue
			}
			if fields[key], err = expandValue(value, fmt.Sprintf("sinks[%d].%s", i, key), lookup); err != nil {
				return nil, err
			}
		}
	}
	return encodeJSON(doc)
}

// expandValue expands the references in every string within value.
func expandValue(value any, path string, lookup func(string) (string, bool)) (any, error) {
	var err error
	switch v := value.(type) {
	case string:
		return expandString(v, path, lookup)
	case map[string]any:
		for key, child := range v {
			if v[key], err = expandValue(child, join(path, key), lookup); err != nil {
				return nil, err
			}
		}
	case []any:
		for i, child := range v {
			if v[i], err = expandValue(child, fmt.Sprintf("%s[%d]", path, i), lookup); err != nil {
				return nil, err
			}
		}
	}
	return value, nil
}

// expandString replaces each ${NAME} and ${NAME:-default} in s.
func expandString(s, path string, lookup func(string) (string, bool)) (string, error) {
	var out strings.Builder
	for {
		start := strings.Index(s, refOpen)
		if start < 0 {
			out.WriteString(s)
			return out.String(), nil
		}
		end := strings.IndexByte(s[start:], '}')
		if end < 0 {
			return "", errorAt(path, "has %q without a closing }", refOpen)
		}
		value, err := resolve(s[start+len(refOpen):start+end], path, lookup)
		if err != nil {
			return "", err
		}
		out.WriteString(s[:start])
		out.WriteString(value)
		s = s[start+end+1:]
	}
}

// resolve returns the value of one reference, NAME or NAME:-default.
func resolve(ref, path string, lookup func(string) (string, bool)) (string, error) {
	name, fallback, hasDefault := strings.Cut(ref, refDefault)
	if !envPattern.MatchString(name) {
		return "", errorAt(path, "${%s} does not name an environment variable", ref)
	}
	value, set := lookup(name)
	switch {
	case set && value != "":
		return value, nil
	case hasDefault:
		return fallback, nil
	case set:
		return "", errorAt(path, "environment variable %s is empty", name)
	default:
		return "", errorAt(path, "environment variable %s is not set", name)
	}
}

// refusePlaceholders reports a sink setting that still holds a variable
// reference: the file was not expanded where it was read, and storing the
// reference as if it were the value would fail every delivery.
func refusePlaceholders(settings json.RawMessage, path string) error {
	if !bytes.Contains(settings, []byte(refOpen)) {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(settings, &fields); err != nil {
		return nil // sinkconf names what is wrong with settings that are not an object
	}
	for key, raw := range fields {
		if bytes.Contains(raw, []byte(refOpen)) {
			return errorAt(join(path, key), "holds a %s...} reference that was not expanded: "+
				"apply the file with zenithctl or ZENITH_CONFIG, which read the variables", refOpen)
		}
	}
	return nil
}

// encodeJSON writes doc as JSON, leaving <, > and & as they are.
func encodeJSON(doc any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode configuration: %w", err)
	}
	return bytes.TrimSpace(b.Bytes()), nil
}

// refuseNUL reports a string of doc, a sink's settings or a rule's
// condition, that holds the character U+0000: PostgreSQL cannot store it in
// a jsonb column, and the save would otherwise fail as an internal error
// rather than name the place.
func refuseNUL(doc json.RawMessage, path string) error {
	if !bytes.Contains(doc, []byte(`\u0000`)) {
		return nil
	}
	tree, err := decodeSettings(doc)
	if err != nil {
		return nil // the item's own checks name what is wrong with it
	}
	if at, found := findString(tree, path, hasNUL); found {
		// A sink's settings saved through the admin API have no path of
		// their own.
		return errorAt(cmp.Or(at, "settings"), "must not contain the character U+0000")
	}
	return nil
}

func hasNUL(s string) bool { return strings.ContainsRune(s, 0) }
