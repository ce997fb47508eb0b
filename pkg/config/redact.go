package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// RedactSink returns the settings of a sink of sinkType with every secret
// replaced by sinkconf.RedactedValue. What is secret is declared by each
// sink type's settings (sinkconf.Secret fields), so a new type cannot leak a
// secret by naming it unusually.
func RedactSink(sinkType string, settings json.RawMessage) (json.RawMessage, error) {
	if len(settings) == 0 {
		return settings, nil
	}
	redacted, err := sinkconf.Redact(sinkType, settings)
	if err != nil {
		return nil, fmt.Errorf("redact sink settings: %w", err)
	}
	return redacted, nil
}

// RestoreSecrets returns update with each RedactedValue put back to the
// stored secret it stands for, so that a sink read back (redacted), edited
// and saved keeps the secrets the editor never saw:
//
//   - a setting that is RedactedValue stands for the stored secret at the
//     same place, such as headers.X-Auth;
//   - in a list, the first RedactedValue stands for the list's first stored
//     secret, the second for the second, and so on, wherever they stand in
//     the list. Signing secrets rotate without knowing the old one:
//     ["whsec_NEW", "<redacted>"] keeps the stored secret after the new one,
//     and ["<redacted>"] later keeps the first and drops the rest.
//
// A RedactedValue that stands for no stored secret (a new header, a list
// longer than the stored one) is an *Error naming the setting: stored, it
// would be sent as is.
func RestoreSecrets(sinkType string, stored, update json.RawMessage) (json.RawMessage, error) {
	if len(update) == 0 {
		return update, nil
	}
	updateDoc, err := decodeSettings(update)
	if err != nil {
		return nil, fmt.Errorf("read sink settings: %w", err)
	}
	var storedDoc, shownDoc any
	if len(stored) > 0 {
		if storedDoc, err = decodeSettings(stored); err != nil {
			return nil, fmt.Errorf("read stored sink settings: %w", err)
		}
		redacted, err := RedactSink(sinkType, stored)
		if err != nil {
			return nil, err
		}
		if shownDoc, err = decodeSettings(redacted); err != nil {
			return nil, err
		}
	}
	restored, err := restore(updateDoc, storedDoc, shownDoc, "")
	if err != nil {
		return nil, err
	}
	return encodeJSON(restored)
}

// restore puts back the secrets in update, found at path, from stored, which
// is shown as shown.
func restore(update, stored, shown any, path string) (any, error) {
	switch u := update.(type) {
	case string:
		if u != sinkconf.RedactedValue {
			return u, nil
		}
		if secret, ok := stored.(string); ok && shown == sinkconf.RedactedValue {
			return secret, nil
		}
		return nil, errorAt(path, "%q stands for a stored secret, but this sink has none there", sinkconf.RedactedValue)
	case map[string]any:
		storedMap, _ := stored.(map[string]any)
		shownMap, _ := shown.(map[string]any)
		for key, value := range u {
			var err error
			if u[key], err = restore(value, storedMap[key], shownMap[key], join(path, pathKey(key))); err != nil {
				return nil, err
			}
		}
	case []any:
		return restoreList(u, stored, shown, path)
	}
	return update, nil
}

// restoreList puts back the secrets of a list: the n-th RedactedValue is
// the n-th stored secret. Other items are matched by position.
func restoreList(update []any, stored, shown any, path string) (any, error) {
	storedList, _ := stored.([]any)
	shownList, _ := shown.([]any)
	var secrets []any
	for i, item := range storedList {
		if i < len(shownList) && shownList[i] == sinkconf.RedactedValue {
			secrets = append(secrets, item)
		}
	}
	for i, item := range update {
		itemPath := fmt.Sprintf("%s[%d]", path, i)
		if item == sinkconf.RedactedValue {
			if len(secrets) == 0 {
				return nil, errorAt(itemPath, "%q stands for a stored secret, but this sink has no more in this list", sinkconf.RedactedValue)
			}
			update[i], secrets = secrets[0], secrets[1:]
			continue
		}
		var storedItem, shownItem any
		if i < len(storedList) && i < len(shownList) {
			storedItem, shownItem = storedList[i], shownList[i]
		}
		var err error
		if update[i], err = restore(item, storedItem, shownItem, itemPath); err != nil {
			return nil, err
		}
	}
	return update, nil
}

// refuseRedacted reports a setting that is RedactedValue: it stands for a
// secret that was not shown, and saving it would send it as is.
func refuseRedacted(settings json.RawMessage, path string) error {
	if !bytes.Contains(settings, []byte("redacted")) {
		return nil
	}
	doc, err := decodeSettings(settings)
	if err != nil {
		return nil // sinkconf names what is wrong with settings that are not JSON
	}
	if at, found := findString(doc, path, isRedacted); found {
		return errorAt(at, "%q stands for a secret that was not shown: write the secret itself (or ${VARIABLE})", sinkconf.RedactedValue)
	}
	return nil
}

func isRedacted(s string) bool { return s == sinkconf.RedactedValue }

// findString returns the path, under path, of the first string of doc, a
// decoded JSON value, that match accepts: a value, or a key, which is
// placed at its object. Keys are visited in order, so the answer does not
// change from one call to the next.
func findString(doc any, path string, match func(string) bool) (string, bool) {
	switch v := doc.(type) {
	case string:
		return path, match(v)
	case map[string]any:
		for _, key := range slices.Sorted(maps.Keys(v)) {
			if match(key) {
				return path, true
			}
			if at, found := findString(v[key], join(path, pathKey(key)), match); found {
				return at, true
			}
		}
	case []any:
		for i, item := range v {
			if at, found := findString(item, fmt.Sprintf("%s[%d]", path, i), match); found {
				return at, true
			}
		}
	}
	return "", false
}

// decodeSettings decodes sink settings, keeping numbers as written.
func decodeSettings(raw json.RawMessage) (any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	return doc, nil
}
