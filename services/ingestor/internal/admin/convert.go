package admin

import (
	"encoding/json"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func optionalTimestamp(t *time.Time) *timestamppb.Timestamp {
	if t == nil {
		return nil
	}
	return timestamppb.New(*t)
}

func toSource(src store.Source) *zenithv1.Source {
	return &zenithv1.Source{
		Id: src.ID, Name: src.Name,
		CreatedAt: timestamp(src.CreatedAt), UpdatedAt: timestamp(src.UpdatedAt),
	}
}

func toAPIKey(k store.APIKey) *zenithv1.APIKey {
	return &zenithv1.APIKey{
		Id:         k.ID,
		Source:     k.SourceName,
		Name:       k.Name,
		Prefix:     apikey.Prefix(k.ID),
		CreatedAt:  timestamp(k.CreatedAt),
		LastUsedAt: optionalTimestamp(k.LastUsedAt),
		RevokedAt:  optionalTimestamp(k.RevokedAt),
	}
}

// toSink converts a stored sink with its secrets redacted: the only way a
// sink leaves the admin API.
func toSink(k store.Sink) (*zenithv1.Sink, error) {
	redacted, err := config.RedactSink(k.Type, k.Config)
	if err != nil {
		return nil, err
	}
	settings, err := toStruct(redacted)
	if err != nil {
		return nil, fmt.Errorf("sink %q settings: %w", k.Name, err)
	}
	return &zenithv1.Sink{
		Id: k.ID, Name: k.Name, Type: k.Type, Settings: settings,
		CreatedAt: timestamp(k.CreatedAt), UpdatedAt: timestamp(k.UpdatedAt),
	}, nil
}

// toRule answers with a stored rule. Its condition is given exactly in
// condition_json and, when every number in it fits a double, as a Struct:
// one holding a number such as 1e400 has no Struct form.
func toRule(r store.Rule) *zenithv1.Rule {
	condition, _ := toStruct(r.Condition) // nil without a Struct form
	enabled := r.Enabled
	out := &zenithv1.Rule{
		Id: r.ID, Source: r.SourceName, Name: r.Name, EventType: r.EventType,
		Condition: condition, Fallback: r.Fallback, Priority: int32(r.Priority),
		Enabled: &enabled, Version: r.Version, UpdatedAt: timestamp(r.UpdatedAt),
		ConditionJson: string(r.Condition),
	}
	for _, k := range r.Sinks {
		out.Actions = append(out.Actions, k.Name)
	}
	return out
}

// fromRule reads a rule of a request in the form the configuration file
// declares it, so that both are checked and saved by the same code.
func fromRule(r *zenithv1.Rule, path string) (config.Rule, error) {
	if r == nil {
		return config.Rule{}, invalid(path, "is required")
	}
	condition, err := ruleCondition(r, path)
	if err != nil {
		return config.Rule{}, err
	}
	return config.Rule{
		Name:      r.GetName(),
		Source:    r.GetSource(),
		EventType: r.GetEventType(),
		Condition: condition,
		Fallback:  r.GetFallback(),
		Priority:  int(r.GetPriority()),
		Enabled:   r.Enabled,
		Actions:   r.GetActions(),
	}, nil
}

// ruleCondition returns a request's rule condition as JSON: condition_json
// as sent, or the Struct once its numbers are known to be exact.
func ruleCondition(r *zenithv1.Rule, path string) (json.RawMessage, error) {
	if r.GetConditionJson() != "" {
		if r.GetCondition() != nil {
			return nil, invalid(join(path, "condition"), "give condition or condition_json, not both")
		}
		return json.RawMessage(r.GetConditionJson()), nil
	}
	if r.GetCondition() == nil {
		return nil, nil
	}
	check := event.StructCheck{Root: join(path, "condition"), Exact: "condition_json"}
	if err := check.Check(r.GetCondition()); err != nil {
		return nil, fieldInvalid(err)
	}
	condition, err := fromStruct(r.GetCondition())
	if err != nil {
		return nil, invalid(join(path, "condition"), "%v", err)
	}
	return condition, nil
}

// toStruct converts a JSON object to a Struct; empty or null gives nil.
func toStruct(raw json.RawMessage) (*structpb.Struct, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s structpb.Struct
	if err := protojson.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// fromStruct converts a Struct to JSON; nil gives nil.
func fromStruct(s *structpb.Struct) (json.RawMessage, error) {
	if s == nil {
		return nil, nil
	}
	return protojson.Marshal(s)
}

func toChanges(report *config.Report) []*zenithv1.Change {
	out := make([]*zenithv1.Change, len(report.Changes))
	for i, c := range report.Changes {
		out[i] = &zenithv1.Change{Kind: c.Kind, Name: c.Name, Op: c.Op, Detail: c.Detail}
		for _, f := range c.Fields {
			out[i].Fields = append(out[i].Fields, &zenithv1.FieldChange{Path: f.Path, Old: f.Old, New: f.New})
		}
	}
	return out
}

// join names a field inside path.
func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// timeLayout writes times in page tokens to the microsecond, the precision
// the database keeps, so a cursor compares equal to the row it came from.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func parseTime(s string) (time.Time, error) {
	return time.Parse(timeLayout, s)
}
