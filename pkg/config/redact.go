package config

import (
	"encoding/json"
	"fmt"
	"reflect"

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

// RestoreSecrets returns update with every setting that equals its redacted
// stored value replaced by the stored value, so that a sink read back
// (redacted), edited and saved keeps the secrets the editor never saw.
func RestoreSecrets(sinkType string, stored, update json.RawMessage) (json.RawMessage, error) {
	if len(stored) == 0 || len(update) == 0 {
		return update, nil
	}
	var storedFields, updateFields map[string]any
	if err := json.Unmarshal(stored, &storedFields); err != nil {
		return nil, fmt.Errorf("read stored sink settings: %w", err)
	}
	if err := json.Unmarshal(update, &updateFields); err != nil {
		return nil, fmt.Errorf("read sink settings: %w", err)
	}
	redacted, err := RedactSink(sinkType, stored)
	if err != nil {
		return nil, err
	}
	var redactedFields map[string]any
	if err := json.Unmarshal(redacted, &redactedFields); err != nil {
		return nil, err
	}
	restore(updateFields, storedFields, redactedFields)
	return json.Marshal(updateFields)
}

func restore(update, stored, redacted map[string]any) {
	for key, value := range update {
		if reflect.DeepEqual(value, redacted[key]) && !reflect.DeepEqual(value, stored[key]) {
			update[key] = stored[key]
			continue
		}
		nextUpdate, ok1 := value.(map[string]any)
		nextStored, ok2 := stored[key].(map[string]any)
		nextRedacted, ok3 := redacted[key].(map[string]any)
		if ok1 && ok2 && ok3 {
			restore(nextUpdate, nextStored, nextRedacted)
		}
	}
}
