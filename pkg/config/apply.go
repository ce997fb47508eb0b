package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Report lists what applying a file changed, one line per created or updated
// item, such as "rule shop/vip-purchase updated".
type Report struct {
	Changes []string
}

// Changed reports whether applying the file changed anything.
func (r *Report) Changed() bool {
	return len(r.Changes) > 0
}

func (r *Report) add(kind, name, what string) {
	r.Changes = append(r.Changes, kind+" "+name+" "+what)
}

// Getenv reads an environment variable; os.Getenv has this shape.
type Getenv func(name string) string

// Apply makes the database hold what f declares, creating or updating each
// source, key, sink and rule by name, in one transaction. Items the file does
// not name are left alone. A key read from the environment is stored as a
// hash only; a key that replaced an earlier value of the same variable
// revokes the earlier one. Apply never reports a key's value in an error.
func Apply(ctx context.Context, st *store.Store, f *File, getenv Getenv) (*Report, error) {
	var report *Report
	err := st.InTx(ctx, func(tx *store.Store) error {
		report = &Report{}
		a := applier{tx: tx, getenv: getenv, report: report, sources: map[string]string{}, sinks: map[string]string{}}
		return a.apply(ctx, f)
	})
	if err != nil {
		return nil, err
	}
	return report, nil
}

// applier holds the state of one Apply: the ids of the sources and sinks
// saved so far, by name, so rules can refer to them.
type applier struct {
	tx      *store.Store
	getenv  Getenv
	report  *Report
	sources map[string]string
	sinks   map[string]string
}

func (a *applier) apply(ctx context.Context, f *File) error {
	for i, src := range f.Sources {
		if err := a.applySource(ctx, src, fmt.Sprintf("sources[%d]", i)); err != nil {
			return err
		}
	}
	for _, sink := range f.Sinks {
		saved, changed, err := a.tx.PutSink(ctx, sink.Name, sink.Type, sink.Config)
		if err != nil {
			return err
		}
		a.sinks[sink.Name] = saved.ID
		a.noteChange(changed, "sink", sink.Name)
	}
	for i, rule := range f.Rules {
		if err := a.applyRule(ctx, rule, fmt.Sprintf("rules[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) noteChange(changed bool, kind, name string) {
	if changed {
		a.report.add(kind, name, "saved")
	}
}

func (a *applier) applySource(ctx context.Context, src Source, path string) error {
	saved, created, err := a.tx.EnsureSource(ctx, src.Name)
	if err != nil {
		return err
	}
	a.sources[src.Name] = saved.ID
	if created {
		a.report.add("source", src.Name, "created")
	}

	for i, envName := range src.APIKeysFromEnv {
		keyPath := fmt.Sprintf("%s.api_keys_from_env[%d]", path, i)
		if err := a.applyKey(ctx, saved, envName, keyPath); err != nil {
			return err
		}
	}
	return nil
}

// applyKey stores the key held by the environment variable envName for src,
// and revokes any other key saved earlier from the same variable.
func (a *applier) applyKey(ctx context.Context, src store.Source, envName, path string) error {
	key := a.getenv(envName)
	if key == "" {
		return errorAt(path, "environment variable %s is not set", envName)
	}
	id, err := apikey.ID(key)
	if err != nil {
		return errorAt(path, "the key in %s is not usable: %v", envName, err)
	}

	existing, err := a.tx.KeyByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := a.createKey(ctx, src, envName, id, key); err != nil {
			return err
		}
	case err != nil:
		return err
	case existing.SourceID != src.ID:
		return errorAt(path, "the key in %s already belongs to source %q", envName, existing.SourceName)
	case existing.RevokedAt != nil:
		return errorAt(path, "the key in %s was revoked; put a new key in it", envName)
	}

	revoked, err := a.tx.RevokeKeysNamed(ctx, src.ID, envName, id)
	if err != nil {
		return err
	}
	if revoked > 0 {
		a.report.add("api key", src.Name+"/"+envName, fmt.Sprintf("rotated (%d old revoked)", revoked))
	}
	return nil
}

func (a *applier) createKey(ctx context.Context, src store.Source, envName, id, key string) error {
	hash, err := apikey.Hash(key)
	if err != nil {
		return err
	}
	if err := a.tx.CreateKey(ctx, id, src.ID, envName, hash); err != nil {
		return err
	}
	a.report.add("api key", src.Name+"/"+envName, "saved")
	return nil
}

func (a *applier) applyRule(ctx context.Context, rule Rule, path string) error {
	sourceID, err := a.sourceID(ctx, rule.Source, path+".source")
	if err != nil {
		return err
	}
	spec := store.RuleSpec{
		SourceID:  sourceID,
		Name:      rule.Name,
		EventType: rule.EventType,
		Condition: rule.Condition,
		Fallback:  rule.Fallback,
		Priority:  rule.Priority,
		Enabled:   rule.IsEnabled(),
	}
	for i, sinkName := range rule.Actions {
		id, err := a.sinkID(ctx, sinkName, fmt.Sprintf("%s.actions[%d]", path, i))
		if err != nil {
			return err
		}
		spec.SinkIDs = append(spec.SinkIDs, id)
	}

	_, changed, err := a.tx.PutRule(ctx, spec)
	if err != nil {
		return err
	}
	a.noteChange(changed, "rule", rule.Source+"/"+rule.Name)
	return nil
}

// sourceID resolves a source a rule names: one the file declares, or one
// already in the database.
func (a *applier) sourceID(ctx context.Context, name, path string) (string, error) {
	if id, ok := a.sources[name]; ok {
		return id, nil
	}
	src, err := a.tx.SourceByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", errorAt(path, "unknown source %q", name)
	}
	if err != nil {
		return "", err
	}
	a.sources[name] = src.ID
	return src.ID, nil
}

// sinkID resolves a sink a rule acts on, like sourceID.
func (a *applier) sinkID(ctx context.Context, name, path string) (string, error) {
	if id, ok := a.sinks[name]; ok {
		return id, nil
	}
	sink, err := a.tx.SinkByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return "", errorAt(path, "unknown sink %q", name)
	}
	if err != nil {
		return "", err
	}
	a.sinks[name] = sink.ID
	return sink.ID, nil
}
