package config_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a fake process environment.
type env map[string]string

func (e env) get(name string) string { return e[name] }

func mustParse(t *testing.T, yaml string) *config.File {
	t.Helper()
	f, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func apply(t *testing.T, st *store.Store, yaml string, e env) *config.Report {
	t.Helper()
	report, err := config.Apply(context.Background(), st, mustParse(t, yaml), config.Options{Getenv: e.get})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return report
}

func checkChanges(t *testing.T, report *config.Report, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	got := []string{}
	for _, c := range report.Changes {
		got = append(got, c.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if report.Changed() != (len(want) > 0) {
		t.Errorf("Changed() = %v with changes %q", report.Changed(), report.Changes)
	}
}

// verify checks key with a fresh Verifier over the database.
func verify(st *store.Store, key string) (apikey.Principal, error) {
	return apikey.NewVerifier(st.LookupKey, time.Minute).Verify(context.Background(), key)
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	const firstKey = "shop-key-one-0123456789abcdef"
	environment := env{"SHOP_API_KEY": firstKey}

	// First apply creates everything.
	report := apply(t, st, example, environment)
	checkChanges(t, report,
		"source shop created",
		"api key shop/SHOP_API_KEY created",
		"sink vip-alerts created",
		"sink archive created",
		"rule shop/vip-purchase created",
		"rule shop/archive-rest created",
	)
	list, err := st.ListRules(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	for _, r := range list {
		s := fmt.Sprintf("%s/%s v%d", r.SourceName, r.Name, r.Version)
		for _, k := range r.Sinks {
			s += " " + k.Name
		}
		summary = append(summary, s)
	}
	if diff := cmp.Diff([]string{"shop/archive-rest v1 archive", "shop/vip-purchase v1 vip-alerts"}, summary); diff != "" {
		t.Errorf("stored rules (-want +got):\n%s", diff)
	}
	p, err := verify(st, firstKey)
	if err != nil || p.SourceName != "shop" {
		t.Errorf("the applied key verifies as %+v, %v; want source shop", p, err)
	}
	id, _ := apikey.ID(firstKey)
	stored, err := st.KeyByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.Hash, firstKey) || stored.Name != "SHOP_API_KEY" {
		t.Errorf("stored key = %+v, want a hash named SHOP_API_KEY", stored)
	}

	// The same file again changes nothing.
	checkChanges(t, apply(t, st, example, environment))

	// A new threshold is a new version of that rule only.
	edited := strings.Replace(example, "value: 500", "value: 1000", 1)
	report = apply(t, st, edited, environment)
	checkChanges(t, report, "rule shop/vip-purchase updated")
	wantFields := []config.FieldChange{{Path: "condition.all[0].value", Old: "500", New: "1000"}}
	if diff := cmp.Diff(wantFields, report.Changes[0].Fields); diff != "" {
		t.Errorf("changed fields (-want +got):\n%s", diff)
	}
	checkChanges(t, apply(t, st, edited, environment))
	src, err := st.SourceByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"vip-purchase": 2, "archive-rest": 1} {
		r, err := st.RuleByName(ctx, src.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != want {
			t.Errorf("rule %s version = %d, want %d", name, r.Version, want)
		}
	}

	// Rotating the key in the environment revokes the old one.
	const secondKey = "shop-key-two-0123456789abcdef"
	environment["SHOP_API_KEY"] = secondKey
	checkChanges(t, apply(t, st, edited, environment),
		"api key shop/SHOP_API_KEY created",
		"api key shop/SHOP_API_KEY rotated (1 old revoked)",
	)
	if _, err := verify(st, firstKey); !errors.Is(err, apikey.ErrUnauthenticated) {
		t.Errorf("the rotated-out key verifies: %v", err)
	}
	if p, err := verify(st, secondKey); err != nil || p.SourceName != "shop" {
		t.Errorf("the new key verifies as %+v, %v; want source shop", p, err)
	}
	checkChanges(t, apply(t, st, edited, environment))

	// Going back to the revoked key is refused, without echoing it.
	environment["SHOP_API_KEY"] = firstKey
	_, err = config.Apply(ctx, st, mustParse(t, edited), config.Options{Getenv: environment.get})
	want := "sources[0].api_keys_from_env[0]: the key in SHOP_API_KEY was revoked; put a new key in it"
	if err == nil || err.Error() != want {
		t.Errorf("Apply with a revoked key = %v, want %q", err, want)
	}
}

// Rules may act on sinks and belong to sources that an earlier file saved.
func TestApplyRefersToStoredItems(t *testing.T) {
	st, _ := testenv.Store(t)
	apply(t, st, example, env{"SHOP_API_KEY": "shop-key-one-0123456789abcdef"})
	report := apply(t, st, `
rules:
  - {name: big-spender, source: shop, condition: {field: amount, operator: ">", value: 5000}, actions: [vip-alerts, archive]}
`, nil)
	checkChanges(t, report, "rule shop/big-spender created")
}

func TestApplyErrors(t *testing.T) {
	const shopKey = "shop-key-one-0123456789abcdef"
	const ciKey = "ci-key-0123456789abcdefghij"
	tests := []struct {
		name string
		yaml string
		env  env
		want string
	}{
		{
			name: "missing env var",
			yaml: "sources:\n  - {name: shop, api_keys_from_env: [SHOP_API_KEY, SHOP_BACKUP_KEY]}\n",
			env:  env{"SHOP_API_KEY": shopKey},
			want: "sources[0].api_keys_from_env[1]: environment variable SHOP_BACKUP_KEY is not set",
		},
		{
			name: "key too short",
			yaml: "sources:\n  - {name: shop, api_keys_from_env: [SHOP_API_KEY]}\n",
			env:  env{"SHOP_API_KEY": "hunter2-secret"},
			want: "sources[0].api_keys_from_env[0]: the key in SHOP_API_KEY is not usable: malformed api key: a key is 20 to 256 printable ASCII characters without spaces",
		},
		{
			name: "one key for two sources",
			yaml: "sources:\n  - {name: shop, api_keys_from_env: [SHOP_API_KEY]}\n  - {name: ci, api_keys_from_env: [CI_API_KEY]}\n",
			env:  env{"SHOP_API_KEY": shopKey, "CI_API_KEY": shopKey},
			want: `sources[1].api_keys_from_env[0]: the key in CI_API_KEY already belongs to source "shop"`,
		},
		{
			name: "unknown sink in actions",
			yaml: example + "  - {name: page-me, source: shop, actions: [archive, pager]}\n",
			env:  env{"SHOP_API_KEY": shopKey},
			want: `rules[2].actions[1]: unknown sink "pager"`,
		},
		{
			name: "unknown source",
			yaml: example + "  - {name: builds, source: ci, actions: [archive]}\n",
			env:  env{"SHOP_API_KEY": shopKey},
			want: `rules[2].source: unknown source "ci"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := testenv.Store(t)
			tt.env["UNRELATED_KEY"] = ciKey

			report, err := config.Apply(ctx, st, mustParse(t, tt.yaml), config.Options{Getenv: tt.env.get})
			if err == nil {
				t.Fatalf("Apply succeeded with %q, want %q", report.Changes, tt.want)
			}
			var cfgErr *config.Error
			if !errors.As(err, &cfgErr) {
				t.Errorf("error %T is not a *config.Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
			for name, value := range tt.env {
				if strings.Contains(err.Error(), value) {
					t.Errorf("error %q reveals the value of %s", err, name)
				}
			}

			// The file applies whole or not at all.
			if _, err := st.SourceByName(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a failed Apply left source shop behind: %v", err)
			}
			if sinks, err := st.ListSinks(ctx); err != nil || len(sinks) != 0 {
				t.Errorf("a failed Apply left sinks behind: %d, %v", len(sinks), err)
			}
		})
	}
}

func TestApplyDryRunChangesNothing(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	environment := env{"SHOP_API_KEY": "shop-key-one-0123456789abcdef"}
	report, err := config.Apply(ctx, st, mustParse(t, example), config.Options{Getenv: environment.get, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Changes) != 6 {
		t.Errorf("dry run reported %q, want the 6 creations", report.Changes)
	}
	if sources, err := st.ListSources(ctx); err != nil || len(sources) != 0 {
		t.Errorf("a dry run saved sources: %v, %v", sources, err)
	}
	apply(t, st, example, environment)
	edited := strings.Replace(example, "value: 500", "value: 800", 1)
	report, err = config.Apply(ctx, st, mustParse(t, edited), config.Options{Getenv: environment.get, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, report, "rule shop/vip-purchase updated")
	src, _ := st.SourceByName(ctx, "shop")
	if r, err := st.RuleByName(ctx, src.ID, "vip-purchase"); err != nil || r.Version != 1 {
		t.Errorf("after a dry run the rule is at version %d (%v), want 1", r.Version, err)
	}
}

func TestApplyPrune(t *testing.T) {
	ctx := context.Background()
	st, _ := testenv.Store(t)
	environment := env{"SHOP_API_KEY": "shop-key-one-0123456789abcdef", "CI_API_KEY": "ci-key-0123456789abcdefghij"}
	bigger := strings.Replace(example, "sinks:\n", "  - {name: ci, api_keys_from_env: [CI_API_KEY]}\nsinks:\n  - {name: pager, type: webhook, url: \"http://127.0.0.1:9000/pager\"}\n", 1) +
		"  - {name: failed-build, source: ci, actions: [pager]}\n  - {name: big-spender, source: shop, actions: [archive]}\n"
	apply(t, st, bigger, environment)

	// Without prune, what the file leaves out stays.
	checkChanges(t, apply(t, st, example, environment))

	// A rule of the file keeps the sink it names even when the file does not
	// declare that sink.
	kept := example + "  - {name: big-spender, source: shop, actions: [pager]}\n"
	report, err := config.Apply(ctx, st, mustParse(t, kept), config.Options{Getenv: environment.get, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, report,
		"rule shop/big-spender updated",
		"rule ci/failed-build deleted",
		"source ci deleted (with its API keys)",
	)
	if _, err := st.SinkByName(ctx, "pager"); err != nil {
		t.Errorf("sink pager, still named by a rule, was pruned: %v", err)
	}
	if _, err := verify(st, environment["CI_API_KEY"]); !errors.Is(err, apikey.ErrUnauthenticated) {
		t.Errorf("the key of the pruned source still verifies: %v", err)
	}

	report, err = config.Apply(ctx, st, mustParse(t, example), config.Options{Getenv: environment.get, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, report, "rule shop/big-spender deleted", "sink pager deleted")
}

// A variable that is not set keeps the keys saved from it, so that a file
// can be applied by someone who does not hold the keys.
func TestApplyKeepsKeysOfUnsetVariable(t *testing.T) {
	st, _ := testenv.Store(t)
	const key = "shop-key-one-0123456789abcdef"
	apply(t, st, example, env{"SHOP_API_KEY": key})
	checkChanges(t, apply(t, st, example, env{}))
	if p, err := verify(st, key); err != nil || p.SourceName != "shop" {
		t.Errorf("the key verifies as %+v, %v after an apply without it; want source shop", p, err)
	}
}

func TestApplySinkDiffHidesSecrets(t *testing.T) {
	st, _ := testenv.Store(t)
	const file = `
sinks:
  - {name: hook, type: webhook, url: "https://hooks.example.com/services/T0/B0/%s", headers: {Authorization: "Bearer %s"}, timeout: %s}
`
	apply(t, st, fmt.Sprintf(file, "tok-one", "hdr-one", "5s"), nil)
	report := apply(t, st, fmt.Sprintf(file, "tok-two", "hdr-two", "7s"), nil)
	checkChanges(t, report, "sink hook updated")
	want := []config.FieldChange{
		{Path: "headers.Authorization", Old: `"<redacted>"`, New: `"<redacted>"`},
		{Path: "timeout", Old: `"5s"`, New: `"7s"`},
		{Path: "url", Old: `"<redacted>"`, New: `"<redacted>"`},
	}
	if diff := cmp.Diff(want, report.Changes[0].Fields); diff != "" {
		t.Errorf("changed fields (-want +got):\n%s", diff)
	}
	if got := report.Changes[0].Fields[0].String(); got != "headers.Authorization: (secret changed)" {
		t.Errorf("a changed secret reads %q", got)
	}
}
