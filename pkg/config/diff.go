package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// FieldChange is one setting that differs between the stored item and the
// one saved over it. Old is empty for a setting added, New for one removed.
// Values are JSON; a secret's values are shown redacted.
type FieldChange struct {
	Path string `json:"path"`
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// String shows the change in one line, such as "timeout: "5s" -> "9s"". A
// changed secret, both of whose values read "<redacted>", is shown as
// "url: (secret changed)".
func (c FieldChange) String() string {
	switch {
	case c.Old == "":
		return fmt.Sprintf("%s: + %s", c.Path, c.New)
	case c.New == "":
		return fmt.Sprintf("%s: - %s", c.Path, c.Old)
	case c.Old == c.New:
		return fmt.Sprintf("%s: (secret changed)", c.Path)
	default:
		return fmt.Sprintf("%s: %s -> %s", c.Path, c.Old, c.New)
	}
}

// diffJSON compares two JSON documents leaf by leaf, in path order. shownOld
// and shownNew are the same documents as shown to people (redacted); a leaf
// that differs is reported with its shown values, so a secret never appears.
// Any document may be empty.
func diffJSON(oldDoc, newDoc, shownOld, shownNew json.RawMessage) []FieldChange {
	oldLeaves, newLeaves := leaves(oldDoc), leaves(newDoc)
	shownOldLeaves, shownNewLeaves := leaves(shownOld), leaves(shownNew)

	paths := slices.Sorted(maps.Keys(oldLeaves))
	for p := range newLeaves {
		if _, ok := oldLeaves[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)

	var changes []FieldChange
	for _, p := range paths {
		if oldLeaves[p] == newLeaves[p] {
			continue
		}
		changes = append(changes, FieldChange{Path: p, Old: shownOldLeaves[p], New: shownNewLeaves[p]})
	}
	return changes
}

// leaves flattens a JSON document into its leaf values by path, such as
// condition.all[0].value, each written as compact JSON. An empty object or
// list is a leaf of its own.
func leaves(doc json.RawMessage) map[string]string {
	out := map[string]string{}
	if len(doc) == 0 {
		return out
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return out
	}
	flatten(v, "", out)
	return out
}

func flatten(v any, path string, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			out[path] = "{}"
		}
		for k, child := range x {
			flatten(child, join(path, k), out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, child := range x {
			flatten(child, fmt.Sprintf("%s[%d]", path, i), out)
		}
	default:
		out[path] = compactJSON(x)
	}
}

// compactJSON writes a leaf value as JSON for people to read.
func compactJSON(v any) string {
	b, _ := encodeJSON(v)
	return string(b)
}
