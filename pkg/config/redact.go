package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
)

// Redacted replaces a secret setting in what is shown of a sink.
const Redacted = "[redacted]"

// secretKeys are the settings whose whole value is a secret, at any depth of
// a sink's settings.
var secretKeys = map[string]bool{
	"secret": true, "secrets": true, "signing_secret": true, "hmac_secret": true,
	"token": true, "access_token": true, "password": true, "api_key": true,
	"access_key_id": true, "secret_access_key": true, "session_token": true,
	"credentials": true, "private_key": true,
}

// urlKeys are the settings holding an endpoint URL, whose path and query may
// carry a token (Slack and Discord webhook URLs do): only the scheme and host
// are shown.
var urlKeys = map[string]bool{"url": true, "webhook_url": true}

// RedactSink returns a sink's settings with every secret replaced: the
// settings secretKeys names, the path, query and user of its URL, and the
// values of its headers (they often carry an Authorization). The rules go by
// setting name, so a secret setting a new sink type adds must use one of
// these names or be added here.
//
// TODO: ask pkg/sinkconf for each type's own redacted copy once it offers
// one; naming conventions are a weaker guarantee than a type's declaration.
func RedactSink(settings json.RawMessage) (json.RawMessage, error) {
	if len(settings) == 0 {
		return settings, nil
	}
	var fields map[string]any
	if err := json.Unmarshal(settings, &fields); err != nil {
		return nil, fmt.Errorf("redact sink settings: %w", err)
	}
	redactObject(fields)
	return json.Marshal(fields)
}

func redactObject(fields map[string]any) {
	for key, value := range fields {
		switch {
		case secretKeys[key]:
			fields[key] = Redacted
		case urlKeys[key]:
			fields[key] = redactURL(value)
		case key == "headers":
			fields[key] = redactValues(value)
		default:
			if nested, ok := value.(map[string]any); ok {
				redactObject(nested)
			}
		}
	}
}

// redactURL keeps a URL's scheme and host only.
func redactURL(value any) any {
	s, ok := value.(string)
	if !ok {
		return Redacted
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return Redacted
	}
	if u.Path == "" && u.RawQuery == "" && u.User == nil && u.Fragment == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/" + Redacted
}

// redactValues keeps an object's keys and hides its values.
func redactValues(value any) any {
	obj, ok := value.(map[string]any)
	if !ok {
		return Redacted
	}
	out := make(map[string]any, len(obj))
	for k := range obj {
		out[k] = Redacted
	}
	return out
}

// RestoreSecrets returns update with every setting that equals its redacted
// stored value replaced by the stored value, so that a sink read back
// (redacted), edited and saved keeps the secrets the editor never saw.
func RestoreSecrets(stored, update json.RawMessage) (json.RawMessage, error) {
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
	redacted, err := RedactSink(stored)
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
