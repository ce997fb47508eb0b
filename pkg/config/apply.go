package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Kinds of item a Change is about.
const (
	KindSource = "source"
	KindAPIKey = "api key"
	KindSink   = "sink"
	KindRule   = "rule"
)

// What happened to an item.
const (
	OpCreated = "created"
	OpUpdated = "updated"
	OpDeleted = "deleted"
	OpRotated = "rotated"
)

// Change is one item created, updated or deleted. Rules are named
// source/rule, API keys source/VARIABLE.
type Change struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Op   string `json:"op"`
	// Detail says more in a few words, such as how many old keys a rotation
	// revoked.
	Detail string `json:"detail,omitempty"`
	// Fields are the settings an update changed.
	Fields []FieldChange `json:"fields,omitempty"`
}

func (c Change) String() string {
	s := c.Kind + " " + c.Name + " " + c.Op
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// Report lists what applying a file changed, in the order it was done.
type Report struct {
	Changes []Change `json:"changes"`
}

// Changed reports whether applying the file changed anything.
func (r *Report) Changed() bool {
	return len(r.Changes) > 0
}

// Lines returns each change as one line, such as "rule shop/vip updated".
func (r *Report) Lines() []string {
	lines := make([]string, len(r.Changes))
	for i, c := range r.Changes {
		lines[i] = c.String()
	}
	return lines
}

func (r *Report) add(c *Change) {
	if c != nil {
		r.Changes = append(r.Changes, *c)
	}
}

// Getenv reads an environment variable; os.Getenv has this shape.
type Getenv func(name string) string

// Options tune Apply. The zero value reads keys from the process
// environment and creates or updates without deleting.
type Options struct {
	// Getenv reads the variables api_keys_from_env names; nil is os.Getenv.
	// Whoever parses the file reads them: the ingestor at start from its own
	// environment, zenithctl from the environment it runs in.
	Getenv Getenv
	// DryRun reports what applying would change, and changes nothing.
	DryRun bool
	// Prune deletes the rules, sinks and sources the file does not declare
	// (a source or sink a declared rule refers to is kept). API keys are
	// never pruned: revoke them one by one, or delete their source.
	Prune bool
}

// errDryRun rolls back the transaction of a dry run.
var errDryRun = errors.New("dry run")

// Apply makes the database hold what f declares, creating or updating each
// source, key, sink and rule by name, in one transaction; with opts.Prune it
// also deletes what f does not declare. The report lists each change with
// the settings it changed, secrets redacted.
//
// A key read from the environment is stored as a hash only; a key that
// replaced an earlier value of the same variable revokes the earlier one. A
// variable that is not set keeps the keys saved from it earlier, and is an
// error when there are none. Apply never reports a key's value in an error.
func Apply(ctx context.Context, st *store.Store, f *File, opts Options) (*Report, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	var report *Report
	err := st.InTx(ctx, func(tx *store.Store) error {
		report = &Report{}
		a := applier{tx: tx, getenv: opts.Getenv, report: report}
		if err := a.apply(ctx, f); err != nil {
			return err
		}
		if opts.Prune {
			if err := a.prune(ctx, f); err != nil {
				return err
			}
		}
		if opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return nil, err
	}
	return report, nil
}

// applier holds the state of one Apply.
type applier struct {
	tx     *store.Store
	getenv Getenv
	report *Report
}

func (a *applier) apply(ctx context.Context, f *File) error {
	for i, src := range f.Sources {
		if err := a.applySource(ctx, src, fmt.Sprintf("sources[%d]", i)); err != nil {
			return err
		}
	}
	for i, sink := range f.Sinks {
		_, change, err := SaveSink(ctx, a.tx, sink, fmt.Sprintf("sinks[%d]", i))
		if err != nil {
			return err
		}
		a.report.add(change)
	}
	for i, rule := range f.Rules {
		_, change, err := SaveRule(ctx, a.tx, rule, fmt.Sprintf("rules[%d]", i))
		if err != nil {
			return err
		}
		a.report.add(change)
	}
	return nil
}

func (a *applier) applySource(ctx context.Context, src Source, path string) error {
	saved, created, err := a.tx.EnsureSource(ctx, src.Name)
	if err != nil {
		return err
	}
	if created {
		a.report.add(&Change{Kind: KindSource, Name: src.Name, Op: OpCreated})
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
		return a.keepKeys(ctx, src, envName, path)
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
		a.report.add(&Change{Kind: KindAPIKey, Name: src.Name + "/" + envName, Op: OpRotated,
			Detail: fmt.Sprintf("%d old revoked", revoked)})
	}
	return nil
}

// keepKeys accepts an unset variable when keys saved from it earlier are
// still live, and refuses it otherwise.
func (a *applier) keepKeys(ctx context.Context, src store.Source, envName, path string) error {
	keys, err := a.tx.ListKeys(ctx, src.Name, false)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(keys, func(k store.APIKey) bool { return k.Name == envName }) {
		return nil
	}
	return errorAt(path, "environment variable %s is not set", envName)
}

func (a *applier) createKey(ctx context.Context, src store.Source, envName, id, key string) error {
	hash, err := apikey.Hash(key)
	if err != nil {
		return err
	}
	if err := a.tx.CreateKey(ctx, id, src.ID, envName, hash); err != nil {
		return err
	}
	a.report.add(&Change{Kind: KindAPIKey, Name: src.Name + "/" + envName, Op: OpCreated})
	return nil
}

// prune deletes the rules, then the sinks, then the sources that f does not
// declare, keeping the sources and sinks a declared rule refers to.
func (a *applier) prune(ctx context.Context, f *File) error {
	keepRules := map[string]bool{}
	keepSinks := map[string]bool{}
	keepSources := map[string]bool{}
	for _, r := range f.Rules {
		keepRules[r.Source+"/"+r.Name] = true
		keepSources[r.Source] = true
		for _, sink := range r.Actions {
			keepSinks[sink] = true
		}
	}
	for _, k := range f.Sinks {
		keepSinks[k.Name] = true
	}
	for _, s := range f.Sources {
		keepSources[s.Name] = true
	}

	if err := a.pruneRules(ctx, keepRules); err != nil {
		return err
	}
	if err := a.pruneSinks(ctx, keepSinks); err != nil {
		return err
	}
	return a.pruneSources(ctx, keepSources)
}

func (a *applier) pruneRules(ctx context.Context, keep map[string]bool) error {
	stored, err := a.tx.ListRules(ctx, false)
	if err != nil {
		return err
	}
	for _, r := range stored {
		name := r.SourceName + "/" + r.Name
		if keep[name] {
			continue
		}
		if err := a.tx.DeleteRule(ctx, r.SourceID, r.Name); err != nil {
			return fmt.Errorf("prune rule %s: %w", name, err)
		}
		a.report.add(&Change{Kind: KindRule, Name: name, Op: OpDeleted})
	}
	return nil
}

func (a *applier) pruneSinks(ctx context.Context, keep map[string]bool) error {
	stored, err := a.tx.ListSinks(ctx)
	if err != nil {
		return err
	}
	for _, k := range stored {
		if keep[k.Name] {
			continue
		}
		if err := a.tx.DeleteSink(ctx, k.Name); err != nil {
			return fmt.Errorf("prune sink %s: %w", k.Name, err)
		}
		a.report.add(&Change{Kind: KindSink, Name: k.Name, Op: OpDeleted})
	}
	return nil
}

func (a *applier) pruneSources(ctx context.Context, keep map[string]bool) error {
	stored, err := a.tx.ListSources(ctx)
	if err != nil {
		return err
	}
	for _, src := range stored {
		if keep[src.Name] {
			continue
		}
		if _, err := a.tx.DeleteSource(ctx, src.Name, false); err != nil {
			return fmt.Errorf("prune source %s: %w", src.Name, err)
		}
		a.report.add(&Change{Kind: KindSource, Name: src.Name, Op: OpDeleted, Detail: "with its API keys"})
	}
	return nil
}

// SaveSink checks sink k and creates it or updates it by name. It returns
// the saved sink and the change made, nil when the stored sink already had
// these settings. path names the sink in errors, as in Sink.Validate.
func SaveSink(ctx context.Context, st *store.Store, k Sink, path string) (store.Sink, *Change, error) {
	if err := k.Validate(path); err != nil {
		return store.Sink{}, nil, err
	}
	before, err := st.SinkByName(ctx, k.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Sink{}, nil, err
	}
	existed := err == nil

	saved, changed, err := st.PutSink(ctx, k.Name, k.Type, k.Config)
	if err != nil || !changed {
		return saved, nil, err
	}
	change := &Change{Kind: KindSink, Name: k.Name, Op: OpCreated}
	if existed {
		change.Op = OpUpdated
		change.Fields, err = sinkDiff(before, saved)
	}
	return saved, change, err
}

// sinkDiff lists the settings that differ between two versions of a sink,
// secrets redacted.
func sinkDiff(before, after store.Sink) ([]FieldChange, error) {
	oldDoc, shownOld, err := sinkDocs(before)
	if err != nil {
		return nil, err
	}
	newDoc, shownNew, err := sinkDocs(after)
	if err != nil {
		return nil, err
	}
	return diffJSON(oldDoc, newDoc, shownOld, shownNew), nil
}

// sinkDocs returns a sink as the file declares it, and the same with its
// secrets redacted.
func sinkDocs(k store.Sink) (doc, shown json.RawMessage, err error) {
	redacted, err := RedactSink(k.Type, k.Config)
	if err != nil {
		return nil, nil, err
	}
	if doc, err = json.Marshal(Sink{Type: k.Type, Config: k.Config}); err != nil {
		return nil, nil, err
	}
	if shown, err = json.Marshal(Sink{Type: k.Type, Config: redacted}); err != nil {
		return nil, nil, err
	}
	return doc, shown, nil
}

// SaveRule checks rule r and creates it or updates it by source and name,
// with the sinks its actions name, which must exist, as must its source.
// Any change bumps the rule's version. It returns the saved rule and the
// change made, nil when the stored rule already matched r. path names the
// rule in errors, as in Rule.Validate.
func SaveRule(ctx context.Context, st *store.Store, r Rule, path string) (store.Rule, *Change, error) {
	if err := r.Validate(path); err != nil {
		return store.Rule{}, nil, err
	}
	spec, err := ruleSpec(ctx, st, r, path)
	if err != nil {
		return store.Rule{}, nil, err
	}
	before, err := st.RuleByName(ctx, spec.SourceID, r.Name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Rule{}, nil, err
	}
	existed := err == nil

	saved, changed, err := st.PutRule(ctx, spec)
	if err != nil || !changed {
		return saved, nil, err
	}
	change := &Change{Kind: KindRule, Name: r.Source + "/" + r.Name, Op: OpCreated}
	if existed {
		change.Op = OpUpdated
		oldDoc, newDoc := ruleDoc(FromStoredRule(before)), ruleDoc(FromStoredRule(saved))
		change.Fields = diffJSON(oldDoc, newDoc, oldDoc, newDoc)
	}
	return saved, change, nil
}

// ruleSpec resolves the source and sinks rule names into what the store
// saves.
func ruleSpec(ctx context.Context, st *store.Store, r Rule, path string) (store.RuleSpec, error) {
	src, err := st.SourceByName(ctx, r.Source)
	if errors.Is(err, store.ErrNotFound) {
		return store.RuleSpec{}, errorAt(join(path, "source"), "unknown source %q", r.Source)
	}
	if err != nil {
		return store.RuleSpec{}, err
	}
	spec := store.RuleSpec{
		SourceID:  src.ID,
		Name:      r.Name,
		EventType: r.EventType,
		Fallback:  r.Fallback,
		Priority:  r.Priority,
		Enabled:   r.IsEnabled(),
	}
	if r.HasCondition() {
		spec.Condition = r.Condition
	}
	for i, sinkName := range r.Actions {
		sink, err := st.SinkByName(ctx, sinkName)
		if errors.Is(err, store.ErrNotFound) {
			return store.RuleSpec{}, errorAt(fmt.Sprintf("%s[%d]", join(path, "actions"), i), "unknown sink %q", sinkName)
		}
		if err != nil {
			return store.RuleSpec{}, err
		}
		spec.SinkIDs = append(spec.SinkIDs, sink.ID)
	}
	return spec, nil
}

// FromStoredRule returns a stored rule as the file would declare it.
func FromStoredRule(sr store.Rule) Rule {
	enabled := sr.Enabled
	r := Rule{
		Name:      sr.Name,
		Source:    sr.SourceName,
		EventType: sr.EventType,
		Condition: sr.Condition,
		Fallback:  sr.Fallback,
		Priority:  sr.Priority,
		Enabled:   &enabled,
		Actions:   make([]string, len(sr.Sinks)),
	}
	for i, k := range sr.Sinks {
		r.Actions[i] = k.Name
	}
	return r
}

// ruleDoc is the part of a rule an update can change, as JSON.
func ruleDoc(r Rule) json.RawMessage {
	doc := struct {
		EventType string          `json:"event_type"`
		Condition json.RawMessage `json:"condition,omitempty"`
		Fallback  bool            `json:"fallback"`
		Priority  int             `json:"priority"`
		Enabled   bool            `json:"enabled"`
		Actions   []string        `json:"actions"`
	}{r.EventType, nil, r.Fallback, r.Priority, r.IsEnabled(), r.Actions}
	if r.HasCondition() {
		doc.Condition = r.Condition
	}
	b, _ := json.Marshal(doc)
	return b
}
