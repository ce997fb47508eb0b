package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestSources(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)

	if _, err := st.SourceByName(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("SourceByName of a missing source = %v, want ErrNotFound", err)
	}
	first, created, err := st.EnsureSource(ctx, "shop")
	if err != nil || !created {
		t.Fatalf("EnsureSource = %+v, %v, %v; want created", first, created, err)
	}
	again, created, err := st.EnsureSource(ctx, "shop")
	if err != nil || created {
		t.Fatalf("second EnsureSource = %v, %v; want existing", created, err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("second EnsureSource returned another source (-first +second):\n%s", diff)
	}
	byName, err := st.SourceByName(ctx, "shop")
	if err != nil || byName.ID != first.ID || byName.Name != "shop" {
		t.Errorf("SourceByName = %+v, %v; want id %s", byName, err, first.ID)
	}
}

func TestSinks(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)

	vip, changed, err := st.PutSink(ctx, "vip-alerts", "webhook", json.RawMessage(`{"url":"http://127.0.0.1:9000/vip","headers":{"X-A":"1","X-B":"2"}}`))
	if err != nil || !changed {
		t.Fatalf("PutSink create = %v, %v; want changed", changed, err)
	}
	if _, _, err := st.PutSink(ctx, "archive", "webhook", json.RawMessage(`{"url":"http://127.0.0.1:9000/archive"}`)); err != nil {
		t.Fatal(err)
	}

	// The same settings in another key order and spacing are no change.
	same, changed, err := st.PutSink(ctx, "vip-alerts", "webhook", json.RawMessage(`{ "headers": {"X-B":"2", "X-A":"1"}, "url": "http://127.0.0.1:9000/vip" }`))
	if err != nil || changed {
		t.Fatalf("PutSink with equal settings = %v, %v; want unchanged", changed, err)
	}
	if !same.UpdatedAt.Equal(vip.UpdatedAt) {
		t.Errorf("an unchanged sink was touched: updated_at %v, was %v", same.UpdatedAt, vip.UpdatedAt)
	}

	updated, changed, err := st.PutSink(ctx, "vip-alerts", "webhook", json.RawMessage(`{"url":"http://127.0.0.1:9000/vip2"}`))
	if err != nil || !changed {
		t.Fatalf("PutSink with new settings = %v, %v; want changed", changed, err)
	}
	if updated.ID != vip.ID {
		t.Errorf("update made a new sink: id %s, was %s", updated.ID, vip.ID)
	}

	got, err := st.SinkByName(ctx, "vip-alerts")
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(got.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"url": "http://127.0.0.1:9000/vip2"}, cfg); diff != "" {
		t.Errorf("stored settings (-want +got):\n%s", diff)
	}
	if _, err := st.SinkByName(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SinkByName of a missing sink = %v, want ErrNotFound", err)
	}

	list, err := st.ListSinks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, k := range list {
		listed = append(listed, k.Name+"/"+k.Type)
	}
	if diff := cmp.Diff([]string{"archive/webhook", "vip-alerts/webhook"}, listed); diff != "" {
		t.Errorf("ListSinks (-want +got):\n%s", diff)
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	shop, _, err := st.EnsureSource(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	ci, _, err := st.EnsureSource(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct{ id, source, name string }{
		{"key-old", shop.ID, "SHOP_API_KEY"},
		{"key-new", shop.ID, "SHOP_API_KEY"},
		{"key-other-name", shop.ID, "SHOP_BACKUP_KEY"},
		{"key-ci", ci.ID, "SHOP_API_KEY"},
	} {
		if err := st.CreateKey(ctx, k.id, k.source, k.name, "hash-of-"+k.id); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateKey(ctx, "key-old", shop.ID, "X", "h"); err == nil {
		t.Error("CreateKey with an id in use succeeded")
	}

	rec, err := st.LookupKey(ctx, "key-old")
	if err != nil {
		t.Fatal(err)
	}
	want := apikey.Record{ID: "key-old", SourceID: shop.ID, SourceName: "shop", Hash: "hash-of-key-old"}
	if rec != want {
		t.Errorf("LookupKey = %+v, want %+v", rec, want)
	}
	if _, err := st.LookupKey(ctx, "missing"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("LookupKey of a missing key = %v, want apikey.ErrNotFound", err)
	}
	if _, err := st.KeyByID(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeyByID of a missing key = %v, want ErrNotFound", err)
	}

	// Rotation: every other live key of the source with that name goes.
	n, err := st.RevokeKeysNamed(ctx, shop.ID, "SHOP_API_KEY", "key-new")
	if err != nil || n != 1 {
		t.Fatalf("RevokeKeysNamed = %d, %v; want 1", n, err)
	}
	n, err = st.RevokeKeysNamed(ctx, shop.ID, "SHOP_API_KEY", "key-new")
	if err != nil || n != 0 {
		t.Errorf("second RevokeKeysNamed = %d, %v; want 0: revoked keys stay revoked once", n, err)
	}

	for _, tt := range []struct {
		id      string
		revoked bool
	}{
		{"key-old", true},
		{"key-new", false},
		{"key-other-name", false},
		{"key-ci", false},
	} {
		rec, err := st.LookupKey(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Revoked != tt.revoked {
			t.Errorf("LookupKey(%s).Revoked = %v, want %v", tt.id, rec.Revoked, tt.revoked)
		}
		k, err := st.KeyByID(ctx, tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if (k.RevokedAt != nil) != tt.revoked {
			t.Errorf("KeyByID(%s).RevokedAt = %v, want revoked %v", tt.id, k.RevokedAt, tt.revoked)
		}
		if k.Hash != "hash-of-"+tt.id || k.CreatedAt.IsZero() {
			t.Errorf("KeyByID(%s) = %+v, want its hash and creation time", tt.id, k)
		}
	}
}

// fixture is a source with three sinks.
type fixture struct {
	st                  *store.Store
	source              store.Source
	vip, archive, pager string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, _ := testenv.Store(t)
	src, _, err := st.EnsureSource(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, source: src}
	for name, dst := range map[string]*string{"vip-alerts": &f.vip, "archive": &f.archive, "pager": &f.pager} {
		k, _, err := st.PutSink(ctx, name, "webhook", json.RawMessage(`{"url":"http://127.0.0.1:9000/`+name+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		*dst = k.ID
	}
	return f
}

func TestPutRule(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	spec := store.RuleSpec{
		SourceID:  f.source.ID,
		Name:      "vip-purchase",
		EventType: "purchase.completed",
		Condition: json.RawMessage(`{"all":[{"field":"amount","operator":">","value":500},{"field":"user.segment","operator":"==","value":"VIP"}]}`),
		Priority:  3,
		Enabled:   true,
		SinkIDs:   []string{f.vip, f.archive},
	}
	rule, changed, err := f.st.PutRule(ctx, spec)
	if err != nil || !changed {
		t.Fatalf("PutRule create = %v, %v; want changed", changed, err)
	}
	want := store.Rule{
		ID: rule.ID, SourceID: f.source.ID, SourceName: "shop", Name: "vip-purchase",
		EventType: "purchase.completed", Condition: rule.Condition, Priority: 3, Enabled: true, Version: 1,
		Sinks: []store.RuleSink{
			{ID: f.vip, Name: "vip-alerts", Type: "webhook"},
			{ID: f.archive, Name: "archive", Type: "webhook"},
		},
	}
	if diff := cmp.Diff(want, rule, cmpopts.IgnoreFields(store.Rule{}, "UpdatedAt")); diff != "" {
		t.Errorf("created rule (-want +got):\n%s", diff)
	}
	assertJSONEqual(t, rule.Condition, spec.Condition)

	steps := []struct {
		name        string
		edit        func(s *store.RuleSpec)
		wantChanged bool
		wantVersion int64
	}{
		{"same spec", func(*store.RuleSpec) {}, false, 1},
		{
			"same condition, other spacing and key order",
			func(s *store.RuleSpec) {
				s.Condition = json.RawMessage(`{ "all": [ {"value": 500, "operator": ">", "field": "amount"}, {"operator":"==","field":"user.segment","value":"VIP"} ] }`)
			},
			false, 1,
		},
		{
			"threshold",
			func(s *store.RuleSpec) {
				s.Condition = json.RawMessage(`{"all":[{"field":"amount","operator":">","value":1000},{"field":"user.segment","operator":"==","value":"VIP"}]}`)
			},
			true, 2,
		},
		{
			"same threshold spelt 1e3, which JSONB stores as 1000",
			func(s *store.RuleSpec) {
				s.Condition = json.RawMessage(`{"all":[{"field":"amount","operator":">","value":1e3},{"field":"user.segment","operator":"==","value":"VIP"}]}`)
			},
			false, 2,
		},
		{
			"a tiny threshold",
			func(s *store.RuleSpec) {
				s.Condition = json.RawMessage(`{"all":[{"field":"amount","operator":">","value":-1.50e-400},{"field":"user.segment","operator":"==","value":"VIP"}]}`)
			},
			true, 3,
		},
		{
			"the same tiny threshold spelt otherwise",
			func(s *store.RuleSpec) {
				s.Condition = json.RawMessage(`{"all":[{"field":"amount","operator":">","value":-0.15E-399},{"field":"user.segment","operator":"==","value":"VIP"}]}`)
			},
			false, 3,
		},
		{"sink order", func(s *store.RuleSpec) { s.SinkIDs = []string{f.archive, f.vip} }, true, 4},
		{"sinks", func(s *store.RuleSpec) { s.SinkIDs = []string{f.archive, f.vip, f.pager} }, true, 5},
		{"priority", func(s *store.RuleSpec) { s.Priority = 4 }, true, 6},
		{"event type", func(s *store.RuleSpec) { s.EventType = "" }, true, 7},
		{"fallback", func(s *store.RuleSpec) { s.Fallback = true }, true, 8},
		{"no condition", func(s *store.RuleSpec) { s.Condition = nil }, true, 9},
		{"still no condition", func(*store.RuleSpec) {}, false, 9},
		{"disabled", func(s *store.RuleSpec) { s.Enabled = false }, true, 10},
	}
	for _, step := range steps {
		step.edit(&spec)
		rule, changed, err := f.st.PutRule(ctx, spec)
		if err != nil {
			t.Fatalf("%s: PutRule: %v", step.name, err)
		}
		if changed != step.wantChanged || rule.Version != step.wantVersion {
			t.Errorf("%s: changed %v, version %d; want %v, %d", step.name, changed, rule.Version, step.wantChanged, step.wantVersion)
		}
		stored, err := f.st.RuleByName(ctx, f.source.ID, "vip-purchase")
		if err != nil {
			t.Fatal(err)
		}
		if stored.Version != step.wantVersion || len(stored.Sinks) != len(spec.SinkIDs) {
			t.Errorf("%s: stored version %d with %d sinks; want %d with %d", step.name, stored.Version, len(stored.Sinks), step.wantVersion, len(spec.SinkIDs))
		}
		for i, k := range stored.Sinks {
			if k.ID != spec.SinkIDs[i] {
				t.Errorf("%s: sink %d is %s, want %s", step.name, i, k.Name, spec.SinkIDs[i])
			}
		}
		if (stored.Condition == nil) != (spec.Condition == nil) {
			t.Errorf("%s: stored condition %s, want %s", step.name, stored.Condition, spec.Condition)
		}
	}

	if _, err := f.st.RuleByName(ctx, f.source.ID, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RuleByName of a missing rule = %v, want ErrNotFound", err)
	}
}

func TestListRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ci, _, err := f.st.EnsureSource(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []store.RuleSpec{
		{SourceID: f.source.ID, Name: "vip", Enabled: true, SinkIDs: []string{f.pager, f.vip, f.archive}},
		{SourceID: f.source.ID, Name: "archive-rest", Fallback: true, Enabled: true, SinkIDs: []string{f.archive}},
		{SourceID: f.source.ID, Name: "paused", Enabled: false, SinkIDs: []string{f.vip}},
		{SourceID: ci.ID, Name: "failed-build", EventType: "build.failed", Enabled: true, SinkIDs: []string{f.pager}},
		{SourceID: ci.ID, Name: "no-sinks", Enabled: true},
	} {
		if _, _, err := f.st.PutRule(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}

	summary := func(list []store.Rule) []string {
		var out []string
		for _, r := range list {
			s := r.SourceName + "/" + r.Name + ":"
			for _, k := range r.Sinks {
				s += " " + k.Name
			}
			out = append(out, s)
		}
		return out
	}
	tests := []struct {
		enabledOnly bool
		want        []string
	}{
		{true, []string{
			"ci/failed-build: pager",
			"ci/no-sinks:",
			"shop/archive-rest: archive",
			"shop/vip: pager vip-alerts archive",
		}},
		{false, []string{
			"ci/failed-build: pager",
			"ci/no-sinks:",
			"shop/archive-rest: archive",
			"shop/paused: vip-alerts",
			"shop/vip: pager vip-alerts archive",
		}},
	}
	for _, tt := range tests {
		list, err := f.st.ListRules(ctx, tt.enabledOnly)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, summary(list)); diff != "" {
			t.Errorf("ListRules(%v) (-want +got):\n%s", tt.enabledOnly, diff)
		}
	}
}

func TestListRulesEmpty(t *testing.T) {
	st, _ := testenv.Store(t)
	list, err := st.ListRules(context.Background(), true)
	if err != nil || len(list) != 0 {
		t.Errorf("ListRules of an empty database = %v, %v; want none", list, err)
	}
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	eventTime := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	matchedAt := eventTime.Add(40 * time.Millisecond)
	delivered := store.AuditRecord{
		DispatchID: "d-1", EventID: "evt-1", Source: "shop", EventType: "purchase.completed",
		RuleID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50", RuleName: "vip-purchase", RuleVersion: 2,
		SinkID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f51", SinkName: "vip-alerts", SinkType: "webhook",
		Status: store.StatusDelivered, Attempts: 1, HTTPStatus: 204, Latency: 1500 * time.Microsecond,
		EventTime: eventTime, MatchedAt: matchedAt,
	}
	dead := delivered
	dead.DispatchID, dead.SinkName = "d-2", "archive"
	dead.Status, dead.Attempts, dead.HTTPStatus = store.StatusDeadLettered, 8, 0
	dead.Error = "dial tcp 127.0.0.1:9000: connection refused"
	otherEvent := delivered
	otherEvent.DispatchID, otherEvent.EventID = "d-3", "evt-2"

	if err := st.InsertAudit(ctx, []store.AuditRecord{delivered, dead, otherEvent}); err != nil {
		t.Fatalf("InsertAudit: %v", err)
	}
	// A redelivered action writes its outcome again, maybe a different one:
	// the first row stays.
	retry := delivered
	retry.Status, retry.Attempts = store.StatusDeadLettered, 9
	if err := st.InsertAudit(ctx, []store.AuditRecord{retry}); err != nil {
		t.Fatalf("InsertAudit of a recorded dispatch: %v", err)
	}
	if err := st.InsertAudit(ctx, nil); err != nil {
		t.Errorf("InsertAudit of nothing: %v", err)
	}

	ignoreCreated := cmpopts.IgnoreFields(store.AuditRecord{}, "CreatedAt")
	timesEqual := cmpopts.EquateApproxTime(0)
	got, err := st.AuditByDispatch(ctx, "d-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(delivered, got, ignoreCreated, timesEqual); diff != "" {
		t.Errorf("AuditByDispatch (-want +got):\n%s", diff)
	}
	if got.CreatedAt.IsZero() {
		t.Error("CreatedAt not filled in")
	}
	if _, err := st.AuditByDispatch(ctx, "d-404"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AuditByDispatch of a missing row = %v, want ErrNotFound", err)
	}

	list, err := st.AuditByEvent(ctx, "shop", "evt-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.AuditRecord{delivered, dead}, list, ignoreCreated, timesEqual); diff != "" {
		t.Errorf("AuditByEvent (-want +got):\n%s", diff)
	}
	if list, err := st.AuditByEvent(ctx, "ci", "evt-1"); err != nil || len(list) != 0 {
		t.Errorf("AuditByEvent of another source = %v, %v; want none", list, err)
	}

	for status, want := range map[string]int64{store.StatusDelivered: 2, store.StatusDeadLettered: 1} {
		if n, err := st.CountAudit(ctx, status); err != nil || n != want {
			t.Errorf("CountAudit(%s) = %d, %v; want %d", status, n, err, want)
		}
	}
}

func TestInTxRollsBack(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx *store.Store) error {
		if _, _, err := tx.EnsureSource(ctx, "shop"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	if _, err := st.SourceByName(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("source created in a failed transaction exists: %v", err)
	}

	if err := st.InTx(ctx, func(tx *store.Store) error {
		_, _, err := tx.EnsureSource(ctx, "shop")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SourceByName(ctx, "shop"); err != nil {
		t.Errorf("source created in a committed transaction: %v", err)
	}
}

func assertJSONEqual(t *testing.T, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("stored JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

func TestSourceCRUD(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	if _, err := st.CreateSource(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSource(ctx, "shop"); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSource twice = %v, want ErrExists", err)
	}
	if _, err := st.CreateSource(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RenameSource(ctx, "ci", "shop"); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto a taken name = %v, want ErrExists", err)
	}
	if _, err := st.RenameSource(ctx, "nope", "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rename of a missing source = %v, want ErrNotFound", err)
	}
	renamed, err := st.RenameSource(ctx, "ci", "builds")
	if err != nil || renamed.Name != "builds" {
		t.Fatalf("RenameSource = %+v, %v", renamed, err)
	}
	list, err := st.ListSources(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "builds" || list[1].Name != "shop" {
		t.Errorf("ListSources = %+v, %v", list, err)
	}
	if deleted, err := st.DeleteSource(ctx, "builds", false); err != nil || deleted != (store.SourceDeletion{}) {
		t.Fatalf("DeleteSource = %+v, %v", deleted, err)
	}
	if _, err := st.DeleteSource(ctx, "builds", false); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSource twice = %v, want ErrNotFound", err)
	}
}

// A source with rules is deleted only when its rules may go too; its keys
// always go with it.
func TestDeleteSourceWithRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, name := range []string{"b", "a"} {
		if _, _, err := f.st.PutRule(ctx, store.RuleSpec{SourceID: f.source.ID, Name: name, Enabled: true, SinkIDs: []string{f.pager}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.CreateKey(ctx, "k-1", f.source.ID, "n", "h"); err != nil {
		t.Fatal(err)
	}

	_, err := f.st.DeleteSource(ctx, f.source.Name, false)
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "has rules (a, b)") {
		t.Fatalf("DeleteSource of a source with rules = %v, want ErrInUse naming a and b", err)
	}
	if _, err := f.st.KeyByID(ctx, "k-1"); err != nil {
		t.Errorf("the refused deletion took the key: %v", err)
	}

	deleted, err := f.st.DeleteSource(ctx, f.source.Name, true)
	if err != nil || deleted != (store.SourceDeletion{Rules: 2, APIKeys: 1}) {
		t.Fatalf("DeleteSource with its rules = %+v, %v; want 2 rules and 1 key", deleted, err)
	}
	if _, err := f.st.KeyByID(ctx, "k-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("KeyByID after the deletion = %v, want ErrNotFound", err)
	}
	if err := f.st.DeleteSink(ctx, "pager"); err != nil {
		t.Errorf("the deleted rules still hold their sink: %v", err)
	}
}

func TestKeyListRevokeTouch(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	shop, _, _ := st.EnsureSource(ctx, "shop")
	ci, _, _ := st.EnsureSource(ctx, "ci")
	for _, k := range []struct{ id, source string }{{"k-shop-1", shop.ID}, {"k-shop-2", shop.ID}, {"k-ci", ci.ID}} {
		if err := st.CreateKey(ctx, k.id, k.source, "n", "h"); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.TouchKey(ctx, "k-shop-1"); err != nil {
		t.Fatal(err)
	}
	revoked, err := st.RevokeKey(ctx, "k-shop-2")
	if err != nil || revoked.RevokedAt == nil {
		t.Fatalf("RevokeKey = %+v, %v", revoked, err)
	}
	if again, err := st.RevokeKey(ctx, "k-shop-2"); err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("second RevokeKey = %+v, %v; want the first revocation kept", again, err)
	}
	if _, err := st.RevokeKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeKey of a missing key = %v, want ErrNotFound", err)
	}
	ids := func(list []store.APIKey) string {
		var out []string
		for _, k := range list {
			out = append(out, k.ID)
		}
		return strings.Join(out, ",")
	}
	for _, tt := range []struct {
		source      string
		withRevoked bool
		want        string
	}{
		{"shop", false, "k-shop-1"},
		{"shop", true, "k-shop-1,k-shop-2"},
		{"", false, "k-ci,k-shop-1"},
	} {
		list, err := st.ListKeys(ctx, tt.source, tt.withRevoked)
		if err != nil || ids(list) != tt.want {
			t.Errorf("ListKeys(%q, %v) = %s, %v; want %s", tt.source, tt.withRevoked, ids(list), err, tt.want)
		}
	}
	used, _ := st.KeyByID(ctx, "k-shop-1")
	unused, _ := st.KeyByID(ctx, "k-ci")
	if used.LastUsedAt == nil || unused.LastUsedAt != nil {
		t.Errorf("last use: touched %v, untouched %v", used.LastUsedAt, unused.LastUsedAt)
	}
}

func TestSinkCreateDelete(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.st.CreateSink(ctx, "pager", "webhook", json.RawMessage(`{}`)); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSink of a taken name = %v, want ErrExists", err)
	}
	if _, _, err := f.st.PutRule(ctx, store.RuleSpec{SourceID: f.source.ID, Name: "r", Enabled: true, SinkIDs: []string{f.pager}}); err != nil {
		t.Fatal(err)
	}
	err := f.st.DeleteSink(ctx, "pager")
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "rules act on it ("+f.source.Name+"/r)") {
		t.Errorf("DeleteSink of a sink in use = %v, want ErrInUse naming rule %s/r", err, f.source.Name)
	}
	if err := f.st.DeleteRule(ctx, f.source.ID, "r"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteRule(ctx, f.source.ID, "r"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteRule twice = %v, want ErrNotFound", err)
	}
	if err := f.st.DeleteSink(ctx, "pager"); err != nil {
		t.Errorf("DeleteSink = %v", err)
	}
	if err := f.st.DeleteSink(ctx, "pager"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteSink twice = %v, want ErrNotFound", err)
	}
}

// A dead-lettered dispatch takes a later outcome (a replay's); a delivered
// one keeps its row.
func TestAuditOutcomeAfterDeadLetter(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	now := time.Now()
	dead := store.AuditRecord{
		DispatchID: "d-1", EventID: "evt-1", Source: "shop", EventType: "a.b",
		RuleID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50", RuleName: "r", RuleVersion: 1,
		SinkID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f51", SinkName: "s", SinkType: "webhook",
		Status: store.StatusDeadLettered, Attempts: 24, Error: "503", EventTime: now, MatchedAt: now,
	}
	insert := func(r store.AuditRecord) store.AuditRecord {
		t.Helper()
		if err := st.InsertAudit(ctx, []store.AuditRecord{r}); err != nil {
			t.Fatal(err)
		}
		got, err := st.AuditByDispatch(ctx, r.DispatchID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	if first := insert(dead); !first.UpdatedAt.IsZero() {
		t.Errorf("a first outcome has UpdatedAt %v, want none", first.UpdatedAt)
	}

	// A replay that fails the same way leaves a mark of when it did.
	again := insert(dead)
	if again.Status != store.StatusDeadLettered || again.UpdatedAt.Before(again.CreatedAt) {
		t.Errorf("after an identical failure: status %s, created %v, updated %v; want dead_lettered updated after creation",
			again.Status, again.CreatedAt, again.UpdatedAt)
	}

	replayed := dead
	replayed.Status, replayed.Attempts, replayed.Error, replayed.HTTPStatus = store.StatusDelivered, 1, "", 204
	got := insert(replayed)
	if got.Status != store.StatusDelivered || got.Attempts != 1 || got.Error != "" || got.HTTPStatus != 204 {
		t.Errorf("row = %+v; want the replay's delivery", got)
	}
	if got.UpdatedAt.Before(again.UpdatedAt) {
		t.Errorf("UpdatedAt went back from %v to %v", again.UpdatedAt, got.UpdatedAt)
	}

	later := dead
	later.Error = "too late"
	if kept := insert(later); kept.Status != store.StatusDelivered || !kept.UpdatedAt.Equal(got.UpdatedAt) {
		t.Errorf("a delivered row changed: %+v", kept)
	}
	statuses, err := st.AuditStatuses(ctx, []string{"d-1", "d-404"})
	if err != nil || len(statuses) != 1 || statuses["d-1"] != store.StatusDelivered {
		t.Errorf("AuditStatuses = %v, %v", statuses, err)
	}
}

func TestListAuditPages(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	now := time.Now()
	var tied []store.AuditRecord
	for i := range 7 {
		r := store.AuditRecord{
			DispatchID: fmt.Sprintf("d-%d", i), EventID: fmt.Sprintf("evt-%d", i%3), Source: "shop", EventType: "a.b",
			RuleID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50", RuleName: "r", RuleVersion: 1,
			SinkID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f51", SinkName: "s", SinkType: "webhook",
			Status: store.StatusDelivered, Attempts: 1, EventTime: now, MatchedAt: now,
		}
		// The first four are written in one batch and share a creation
		// time, so the dispatch id alone orders them; the others get their
		// own.
		if i < 4 {
			tied = append(tied, r)
			continue
		}
		if i == 4 {
			if err := st.InsertAudit(ctx, tied); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.InsertAudit(ctx, []store.AuditRecord{r}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	var after *store.AuditCursor
	for {
		page, err := st.ListAudit(ctx, store.AuditFilter{}, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			seen = append(seen, r.DispatchID)
		}
		if len(page) < 3 {
			break
		}
		last := page[len(page)-1]
		after = &store.AuditCursor{CreatedAt: last.CreatedAt, DispatchID: last.DispatchID}
	}
	if got := strings.Join(seen, ","); got != "d-6,d-5,d-4,d-3,d-2,d-1,d-0" {
		t.Errorf("pages = %s, want every row once, newest first", got)
	}
	byEvent, err := st.ListAudit(ctx, store.AuditFilter{EventID: "evt-1", Since: now.Add(-time.Minute), Until: now.Add(time.Minute)}, nil, 10)
	if err != nil || len(byEvent) != 2 {
		t.Errorf("rows of evt-1 = %d, %v; want 2", len(byEvent), err)
	}
}
