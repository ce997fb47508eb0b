package ingestor_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
	"github.com/zenith-hq/zenith/services/ingestor"
)

const (
	adminToken    = "admin-token-0123456789abcdef"
	readOnlyToken = "reader-token-0123456789abcdef"
)

// adminHarness is a running ingestor with its admin API on, and a client
// holding the admin token.
type adminHarness struct {
	*harness
	client zenithv1connect.AdminServiceClient
}

func startAdmin(t *testing.T) *adminHarness {
	t.Helper()
	h := startWith(t, func(cfg *ingestor.Config) {
		cfg.AdminTokens = []string{adminToken}
		cfg.AdminReadOnlyTokens = []string{readOnlyToken}
		cfg.KeyRevalidate = 5 * time.Second
	})
	return &adminHarness{harness: h, client: adminClient(h.adminURL, adminToken)}
}

// adminClient calls the admin API at url with token, over gRPC.
func adminClient(url, token string) zenithv1connect.AdminServiceClient {
	return zenithv1connect.NewAdminServiceClient(h2cClient(), url, connect.WithGRPC(),
		connect.WithInterceptors(bearer(token)))
}

func bearer(token string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if token != "" {
				req.Header().Set("Authorization", "Bearer "+token)
			}
			return next(ctx, req)
		}
	}
}

// wantCode fails the test unless err is a Connect error with code whose
// message contains each of parts.
func wantCode(t *testing.T, what string, err error, code connect.Code, parts ...string) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Errorf("%s: %v, want %v", what, err, code)
		return
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("%s: %q does not say %q", what, err, part)
		}
	}
}

// must returns a call's answer, or fails the test given to it:
// must(client.Call(ctx, req))(t).
func must[T any](resp *connect.Response[T], err error) func(t *testing.T) *T {
	return func(t *testing.T) *T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg
	}
}

func TestAdminAPIIsOffWithoutTokens(t *testing.T) {
	h := start(t)
	if h.adminURL != "" {
		t.Errorf("the admin API listens on %s without any token", h.adminURL)
	}
}

func TestAdminTokens(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()

	for _, tt := range []struct {
		name  string
		token string
		want  string
	}{
		{"no token", "", "an admin token is required"},
		{"wrong token", "wrong-token-0123456789abcdef", "not valid"},
		{"a prefix of the token", adminToken[:len(adminToken)-1], "not valid"},
	} {
		_, err := adminClient(h.adminURL, tt.token).ListSources(ctx, connect.NewRequest(&zenithv1.ListSourcesRequest{}))
		wantCode(t, tt.name, err, connect.CodeUnauthenticated, tt.want)
	}

	reader := adminClient(h.adminURL, readOnlyToken)
	list := must(reader.ListSources(ctx, connect.NewRequest(&zenithv1.ListSourcesRequest{})))(t)
	if len(list.GetSources()) != 2 {
		t.Errorf("read-only ListSources = %v, want shop and billing", list.GetSources())
	}
	_, err := reader.CreateSource(ctx, connect.NewRequest(&zenithv1.CreateSourceRequest{Name: "ci"}))
	wantCode(t, "read-only CreateSource", err, connect.CodePermissionDenied, "read-only")
	if _, err := h.st.SourceByName(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused call created the source: %v", err)
	}

	// A read-only token may try a file (a CI check), not apply it.
	file := []byte("sources: [{name: ci}]")
	dry := must(reader.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: file, DryRun: true})))(t)
	if !dry.GetDryRun() || len(dry.GetChanges()) != 1 {
		t.Errorf("read-only dry run = %v, want a dry run creating ci", dry)
	}
	_, err = reader.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: file}))
	wantCode(t, "read-only Apply", err, connect.CodePermissionDenied, "read-only")
	if _, err := h.st.SourceByName(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a read-only apply created the source: %v", err)
	}

	// The scheme's name is case-insensitive.
	for _, scheme := range []string{"bearer", "BEARER"} {
		req := connect.NewRequest(&zenithv1.ListSourcesRequest{})
		req.Header().Set("Authorization", scheme+" "+adminToken)
		if _, err := adminClient(h.adminURL, "").ListSources(ctx, req); err != nil {
			t.Errorf("Authorization: %s <token>: %v", scheme, err)
		}
	}
}

func TestAdminSources(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client

	created := must(c.CreateSource(ctx, connect.NewRequest(&zenithv1.CreateSourceRequest{Name: "ci"})))(t).GetSource()
	if created.GetName() != "ci" || created.GetId() == "" || created.GetCreatedAt() == nil {
		t.Errorf("CreateSource = %v", created)
	}
	_, err := c.CreateSource(ctx, connect.NewRequest(&zenithv1.CreateSourceRequest{Name: "ci"}))
	wantCode(t, "CreateSource twice", err, connect.CodeAlreadyExists, `"ci"`)
	_, err = c.CreateSource(ctx, connect.NewRequest(&zenithv1.CreateSourceRequest{Name: "Not OK"}))
	wantCode(t, "CreateSource with a bad name", err, connect.CodeInvalidArgument, "name: ")

	got := must(c.GetSource(ctx, connect.NewRequest(&zenithv1.GetSourceRequest{Name: "ci"})))(t).GetSource()
	if got.GetId() != created.GetId() {
		t.Errorf("GetSource = %v, want %v", got, created)
	}
	_, err = c.GetSource(ctx, connect.NewRequest(&zenithv1.GetSourceRequest{Name: "nope"}))
	wantCode(t, "GetSource of a missing source", err, connect.CodeNotFound, `source "nope"`)

	renamed := must(c.UpdateSource(ctx, connect.NewRequest(&zenithv1.UpdateSourceRequest{Name: "ci", NewName: "builds"})))(t).GetSource()
	if renamed.GetName() != "builds" || renamed.GetId() != created.GetId() {
		t.Errorf("UpdateSource = %v", renamed)
	}
	_, err = c.UpdateSource(ctx, connect.NewRequest(&zenithv1.UpdateSourceRequest{Name: "builds", NewName: "shop"}))
	wantCode(t, "rename onto another source", err, connect.CodeAlreadyExists, `"shop"`)
	_, err = c.UpdateSource(ctx, connect.NewRequest(&zenithv1.UpdateSourceRequest{Name: "builds", NewName: ""}))
	wantCode(t, "rename to nothing", err, connect.CodeInvalidArgument, "new_name")

	names := func() []string {
		var out []string
		for _, s := range must(c.ListSources(ctx, connect.NewRequest(&zenithv1.ListSourcesRequest{})))(t).GetSources() {
			out = append(out, s.GetName())
		}
		return out
	}
	if got := strings.Join(names(), ","); got != "billing,builds,shop" {
		t.Errorf("ListSources = %s", got)
	}
	must(c.DeleteSource(ctx, connect.NewRequest(&zenithv1.DeleteSourceRequest{Name: "builds"})))(t)
	if got := strings.Join(names(), ","); got != "billing,shop" {
		t.Errorf("ListSources after the delete = %s", got)
	}
	_, err = c.DeleteSource(ctx, connect.NewRequest(&zenithv1.DeleteSourceRequest{Name: "builds"}))
	wantCode(t, "DeleteSource twice", err, connect.CodeNotFound)
}

func TestAdminAPIKeys(t *testing.T) {
	h := startAdmin(t)
	// A second replica shares the database and NATS but serves no admin API.
	replica := startReplica(t, h)
	ctx := context.Background()
	c := h.client

	created := must(c.CreateAPIKey(ctx, connect.NewRequest(&zenithv1.CreateAPIKeyRequest{Source: "shop", Name: "checkout"})))(t)
	key, info := created.GetKey(), created.GetApiKey()
	if !regexp.MustCompile(`^zk_[a-z0-9]{12}_[a-z0-9]{32}$`).MatchString(key) {
		t.Fatalf("key %q is not zk_<id>_<secret>", key)
	}
	if info.GetPrefix() != "zk_"+info.GetId()+"_" || !strings.HasPrefix(key, info.GetPrefix()) || info.GetSource() != "shop" {
		t.Errorf("key info = %v", info)
	}
	stored, err := h.st.KeyByID(ctx, info.GetId())
	if err != nil || !strings.HasPrefix(stored.Hash, "$2") {
		t.Errorf("stored key = %+v, %v; want a bcrypt hash", stored, err)
	}
	_, err = c.CreateAPIKey(ctx, connect.NewRequest(&zenithv1.CreateAPIKeyRequest{Source: "nope", Name: "x"}))
	wantCode(t, "key for a missing source", err, connect.CodeNotFound, `source "nope"`)
	_, err = c.CreateAPIKey(ctx, connect.NewRequest(&zenithv1.CreateAPIKeyRequest{Source: "shop", Name: "bad name"}))
	wantCode(t, "key with a bad name", err, connect.CodeInvalidArgument, "name: ")

	// The new key works on both replicas at once.
	for _, r := range []*harness{h.harness, replica} {
		if status, body := r.post(t, key, `{"type":"a.b","data":{}}`); status != http.StatusAccepted {
			t.Fatalf("new key: %d %v", status, body)
		}
	}

	list := must(c.ListAPIKeys(ctx, connect.NewRequest(&zenithv1.ListAPIKeysRequest{Source: "shop"})))(t)
	raw, _ := protojson.Marshal(list)
	secret := key[len(info.GetPrefix()):]
	if strings.Contains(string(raw), secret) {
		t.Errorf("ListAPIKeys shows the key's secret: %s", raw)
	}
	var listed *zenithv1.APIKey
	for _, k := range list.GetApiKeys() {
		if k.GetId() == info.GetId() {
			listed = k
		}
	}
	if listed == nil || listed.GetLastUsedAt() == nil || listed.GetCreatedAt() == nil || listed.GetName() != "checkout" {
		t.Errorf("listed key = %v, want it with its creation and last use", listed)
	}
	if n := len(list.GetApiKeys()); n != 2 {
		t.Errorf("shop has %d keys listed, want the configured one and the new one", n)
	}

	revoked := must(c.RevokeAPIKey(ctx, connect.NewRequest(&zenithv1.RevokeAPIKeyRequest{Id: info.GetId()})))(t).GetApiKey()
	if revoked.GetRevokedAt() == nil {
		t.Errorf("RevokeAPIKey = %v, want a revocation time", revoked)
	}
	revokedAt := time.Now()
	for _, r := range []*harness{h.harness, replica} {
		testenv.WaitFor(t, 5*time.Second, func() bool {
			status, _ := r.post(t, key, `{"type":"a.b","data":{}}`)
			return status == http.StatusUnauthorized
		})
	}
	t.Logf("both replicas refused the revoked key %v after the revocation", time.Since(revokedAt).Round(time.Millisecond))

	must(c.RevokeAPIKey(ctx, connect.NewRequest(&zenithv1.RevokeAPIKeyRequest{Id: info.GetId()})))(t)
	_, err = c.RevokeAPIKey(ctx, connect.NewRequest(&zenithv1.RevokeAPIKeyRequest{Id: "nope"}))
	wantCode(t, "revoke a missing key", err, connect.CodeNotFound)
	if n := len(must(c.ListAPIKeys(ctx, connect.NewRequest(&zenithv1.ListAPIKeysRequest{Source: "shop"})))(t).GetApiKeys()); n != 1 {
		t.Errorf("%d live keys listed after the revocation, want 1", n)
	}
	withRevoked := must(c.ListAPIKeys(ctx, connect.NewRequest(&zenithv1.ListAPIKeysRequest{IncludeRevoked: true})))(t)
	if n := len(withRevoked.GetApiKeys()); n != 3 {
		t.Errorf("%d keys listed with the revoked ones, want 3", n)
	}
}

// startReplica starts another ingestor over h's database and NATS server,
// with the default key revalidation interval.
func startReplica(t *testing.T, h *adminHarness) *harness {
	t.Helper()
	return startOn(t, h.dsn, h.natsURL)
}

func sinkSettings(t *testing.T, settings map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(settings)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAdminSinksNeverShowSecrets(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	const token, headerSecret = "T0123/B0456/hooktoken789", "s3cr3t-header"

	settings := sinkSettings(t, map[string]any{
		"url":     "https://hooks.example.com/services/" + token,
		"headers": map[string]any{"Authorization": "Bearer " + headerSecret, "X-Team": "growth"},
		"timeout": "5s",
	})
	var answers []proto.Message
	created := must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "alerts", Type: "webhook", Settings: settings})))(t)
	answers = append(answers, created)
	answers = append(answers, must(c.GetSink(ctx, connect.NewRequest(&zenithv1.GetSinkRequest{Name: "alerts"})))(t))
	answers = append(answers, must(c.ListSinks(ctx, connect.NewRequest(&zenithv1.ListSinksRequest{})))(t))

	shown := created.GetSink().GetSettings().AsMap()
	if shown["url"] != "<redacted>" || shown["timeout"] != "5s" {
		t.Errorf("shown settings = %v", shown)
	}

	// Saved back as shown, with one setting edited, the secrets stay.
	shown["timeout"] = "7s"
	updated := must(c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: "alerts", Type: "webhook", Settings: sinkSettings(t, shown)})))(t)
	answers = append(answers, updated)
	stored, err := h.st.SinkByName(ctx, "alerts")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{token, headerSecret, `"7s"`} {
		if !strings.Contains(string(stored.Config), want) {
			t.Errorf("stored settings %s lost %q", stored.Config, want)
		}
	}

	// A header with CR/LF is refused, naming it, without echoing its value.
	bad := sinkSettings(t, map[string]any{"url": "https://example.com/x", "headers": map[string]any{"X-Bad": "a\r\nInjected: " + headerSecret}})
	_, err = c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "bad", Type: "webhook", Settings: bad}))
	wantCode(t, "CR/LF header", err, connect.CodeInvalidArgument, "headers.X-Bad: must not contain control characters")
	if err != nil && strings.Contains(err.Error(), headerSecret) {
		t.Errorf("the refusal echoes the header: %v", err)
	}
	_, err = c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: "alerts", Type: "webhook", Settings: bad}))
	wantCode(t, "CR/LF header on update", err, connect.CodeInvalidArgument, "headers.X-Bad")
	_, err = c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "alerts", Type: "webhook", Settings: settings}))
	wantCode(t, "CreateSink twice", err, connect.CodeAlreadyExists)
	_, err = c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "s3", Type: "carrier-pigeon", Settings: settings}))
	wantCode(t, "unknown type", err, connect.CodeInvalidArgument, "type: ")
	_, err = c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: "nope", Type: "webhook", Settings: settings}))
	wantCode(t, "UpdateSink of a missing sink", err, connect.CodeNotFound, `sink "nope"`)

	for i, answer := range answers {
		raw, err := protojson.Marshal(answer)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{token, headerSecret, "hooktoken"} {
			if strings.Contains(string(raw), secret) {
				t.Errorf("answer %d shows the secret %q: %s", i, secret, raw)
			}
		}
	}

	must(c.DeleteSink(ctx, connect.NewRequest(&zenithv1.DeleteSinkRequest{Name: "alerts"})))(t)
	_, err = c.GetSink(ctx, connect.NewRequest(&zenithv1.GetSinkRequest{Name: "alerts"}))
	wantCode(t, "GetSink after the delete", err, connect.CodeNotFound)
}

// TestAdminUpdateSinkKeepsTypeAndRotatesSecrets: an update without a type
// keeps the stored one; a signing secret is added in front of the stored
// one without knowing it; a "<redacted>" that stands for no stored secret
// is refused, naming the setting, and nothing is saved.
func TestAdminUpdateSinkKeepsTypeAndRotatesSecrets(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	const oldSecret, newSecret = "whsec_b2xkLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3OA==", "whsec_bmV3LXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3ODk="

	chat := sinkSettings(t, map[string]any{"webhook_url": "https://discord.example.com/api/webhooks/1/tok"})
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "team-chat", Type: "discord", Settings: chat})))(t)
	chat.Fields["username"] = structpb.NewStringValue("zenith")
	chat.Fields["webhook_url"] = structpb.NewStringValue("<redacted>")
	kept := must(c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: "team-chat", Settings: chat})))(t).GetSink()
	if kept.GetType() != "discord" {
		t.Errorf("an update without a type made the sink a %s", kept.GetType())
	}

	hook := map[string]any{"url": "https://hooks.example.com/x", "secrets": []any{oldSecret}}
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "signed", Type: "webhook", Settings: sinkSettings(t, hook)})))(t)
	rotated := map[string]any{"url": "<redacted>", "secrets": []any{newSecret, "<redacted>"}}
	must(c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: "signed", Settings: sinkSettings(t, rotated)})))(t)
	stored, err := h.st.SinkByName(ctx, "signed")
	if err != nil {
		t.Fatal(err)
	}
	if want := `"secrets": ["` + newSecret + `", "` + oldSecret + `"]`; !strings.Contains(string(stored.Config), want) {
		t.Errorf("stored settings %s, want %s", stored.Config, want)
	}

	forged := map[string]any{"url": "<redacted>", "headers": map[string]any{"X-Auth": "<redacted>"}}
	_, err = c.UpdateSink(ctx, connect.NewRequest(&zenithv1.UpdateSinkRequest{Name: "signed", Settings: sinkSettings(t, forged)}))
	wantCode(t, "a redacted header that was never stored", err, connect.CodeInvalidArgument,
		`headers.X-Auth: "<redacted>" stands for a stored secret, but this sink has none there`)
	_, err = c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "forged", Type: "webhook", Settings: sinkSettings(t, map[string]any{"url": "<redacted>"})}))
	wantCode(t, "a redacted URL on create", err, connect.CodeInvalidArgument, `url: "<redacted>" stands for a secret that was not shown`)
	if after, err := h.st.SinkByName(ctx, "signed"); err != nil || string(after.Config) != string(stored.Config) {
		t.Errorf("a refused update changed the sink: %s, %v", after.Config, err)
	}
}

// vipRule is the example's VIP rule, as a request.
func vipRule(t *testing.T, threshold float64, actions ...string) *zenithv1.Rule {
	t.Helper()
	cond, err := structpb.NewStruct(map[string]any{"all": []any{
		map[string]any{"field": "amount", "operator": ">", "value": threshold},
		map[string]any{"field": "user.segment", "operator": "==", "value": "VIP"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &zenithv1.Rule{Source: "shop", Name: "vip-purchase", EventType: "purchase.completed", Condition: cond, Actions: actions}
}

func TestAdminRules(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	settings := sinkSettings(t, map[string]any{"url": "http://127.0.0.1:9/vip"})
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "vip-alerts", Type: "webhook", Settings: settings})))(t)
	changes := subscribeChanges(t, h.nc)

	created := must(c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: vipRule(t, 500, "vip-alerts")})))(t).GetRule()
	if created.GetVersion() != 1 || !created.GetEnabled() || created.GetActions()[0] != "vip-alerts" {
		t.Errorf("CreateRule = %v", created)
	}
	expectAnnouncement(t, changes, "CreateRule")
	_, err := c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: vipRule(t, 500, "vip-alerts")}))
	wantCode(t, "CreateRule twice", err, connect.CodeAlreadyExists, "shop/vip-purchase")

	invalidRule := vipRule(t, 500, "vip-alerts")
	invalidRule.Name = "typo"
	invalidRule.Condition.Fields["all"].GetListValue().Values[1].GetStructValue().Fields["operator"] = structpb.NewStringValue("=>")
	_, err = c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: invalidRule}))
	wantCode(t, "invalid operator", err, connect.CodeInvalidArgument, `condition.all[1].operator: unknown operator "=>"`)
	unknownSink := vipRule(t, 500, "vip-alerts", "pager")
	unknownSink.Name = "pager-too"
	_, err = c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: unknownSink}))
	wantCode(t, "unknown sink", err, connect.CodeInvalidArgument, `actions[1]: unknown sink "pager"`)
	twice := vipRule(t, 500, "vip-alerts", "vip-alerts")
	twice.Name = "twice"
	_, err = c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: twice}))
	wantCode(t, "a sink named twice", err, connect.CodeInvalidArgument, `actions[1]: sink "vip-alerts" is named twice`)
	noActions := vipRule(t, 500)
	_, err = c.UpdateRule(ctx, connect.NewRequest(&zenithv1.UpdateRuleRequest{Rule: noActions}))
	wantCode(t, "no actions", err, connect.CodeInvalidArgument, "actions: must name at least one sink")
	missing := vipRule(t, 500, "vip-alerts")
	missing.Name = "nope"
	_, err = c.UpdateRule(ctx, connect.NewRequest(&zenithv1.UpdateRuleRequest{Rule: missing}))
	wantCode(t, "UpdateRule of a missing rule", err, connect.CodeNotFound, "shop/nope")

	updated := must(c.UpdateRule(ctx, connect.NewRequest(&zenithv1.UpdateRuleRequest{Rule: vipRule(t, 1000, "vip-alerts")})))(t).GetRule()
	if updated.GetVersion() != 2 {
		t.Errorf("UpdateRule version = %d, want 2", updated.GetVersion())
	}
	expectAnnouncement(t, changes, "UpdateRule")
	same := must(c.UpdateRule(ctx, connect.NewRequest(&zenithv1.UpdateRuleRequest{Rule: vipRule(t, 1000, "vip-alerts")})))(t).GetRule()
	if same.GetVersion() != 2 {
		t.Errorf("an update changing nothing moved the version to %d", same.GetVersion())
	}
	disabled := must(c.SetRuleEnabled(ctx, connect.NewRequest(&zenithv1.SetRuleEnabledRequest{Source: "shop", Name: "vip-purchase", Enabled: false})))(t).GetRule()
	if disabled.GetEnabled() || disabled.GetVersion() != 3 {
		t.Errorf("SetRuleEnabled(false) = %v", disabled)
	}
	expectAnnouncement(t, changes, "SetRuleEnabled")
	enabled := must(c.SetRuleEnabled(ctx, connect.NewRequest(&zenithv1.SetRuleEnabledRequest{Source: "shop", Name: "vip-purchase", Enabled: true})))(t).GetRule()
	if !enabled.GetEnabled() || enabled.GetVersion() != 4 {
		t.Errorf("SetRuleEnabled(true) = %v", enabled)
	}

	got := must(c.GetRule(ctx, connect.NewRequest(&zenithv1.GetRuleRequest{Source: "shop", Name: "vip-purchase"})))(t).GetRule()
	threshold := got.GetCondition().GetFields()["all"].GetListValue().GetValues()[0].GetStructValue().GetFields()["value"].GetNumberValue()
	if threshold != 1000 || got.GetVersion() != 4 {
		t.Errorf("GetRule = %v", got)
	}
	list := must(c.ListRules(ctx, connect.NewRequest(&zenithv1.ListRulesRequest{Source: "shop"})))(t).GetRules()
	if len(list) != 1 || list[0].GetName() != "vip-purchase" {
		t.Errorf("ListRules = %v", list)
	}
	if n := len(must(c.ListRules(ctx, connect.NewRequest(&zenithv1.ListRulesRequest{Source: "billing"})))(t).GetRules()); n != 0 {
		t.Errorf("billing lists %d rules", n)
	}
	_, err = c.DeleteSink(ctx, connect.NewRequest(&zenithv1.DeleteSinkRequest{Name: "vip-alerts"}))
	wantCode(t, "delete a sink in use", err, connect.CodeFailedPrecondition, "rules act on it (shop/vip-purchase)")

	must(c.DeleteRule(ctx, connect.NewRequest(&zenithv1.DeleteRuleRequest{Source: "shop", Name: "vip-purchase"})))(t)
	_, err = c.GetRule(ctx, connect.NewRequest(&zenithv1.GetRuleRequest{Source: "shop", Name: "vip-purchase"}))
	wantCode(t, "GetRule after the delete", err, connect.CodeNotFound, "shop/vip-purchase")
	_, err = c.DeleteRule(ctx, connect.NewRequest(&zenithv1.DeleteRuleRequest{Source: "nope", Name: "vip-purchase"}))
	wantCode(t, "DeleteRule of a missing source", err, connect.CodeNotFound, `source "nope"`)
}

func subscribeChanges(t *testing.T, nc *nats.Conn) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(bus.ChangesSubject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return sub
}

func expectAnnouncement(t *testing.T, sub *nats.Subscription, after string) {
	t.Helper()
	if _, err := sub.NextMsg(time.Second); err != nil {
		t.Errorf("no change announced after %s: %v", after, err)
	}
}

func TestAdminTestRules(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	settings := sinkSettings(t, map[string]any{"url": "http://127.0.0.1:9/vip"})
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "vip-alerts", Type: "webhook", Settings: settings})))(t)
	must(c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: vipRule(t, 500, "vip-alerts")})))(t)
	fallback := &zenithv1.Rule{Source: "shop", Name: "archive-rest", Fallback: true, Actions: []string{"vip-alerts"}}
	must(c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: fallback})))(t)

	sample := func(data string) *zenithv1.Event {
		return &zenithv1.Event{Type: "purchase.completed", Payload: &zenithv1.Event_DataJson{DataJson: []byte(data)}}
	}
	vip := must(c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{
		Source: "shop", Event: sample(`{"amount":742.5,"user":{"segment":"VIP"}}`),
	})))(t)
	if strings.Join(vip.GetMatched(), ",") != "vip-purchase" {
		t.Errorf("VIP purchase matched %v, want vip-purchase", vip.GetMatched())
	}
	byName := map[string]*zenithv1.RuleResult{}
	for _, r := range vip.GetResults() {
		byName[r.GetRule()] = r
	}
	if r := byName["archive-rest"]; r == nil || r.GetMatched() || r.GetReason() != "fallback: another rule matched" {
		t.Errorf("fallback result = %v", r)
	}

	regular := must(c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{
		Source: "shop", Rule: "vip-purchase", Event: sample(`{"amount":742.5,"user":{"segment":"regular"}}`),
	})))(t)
	if len(regular.GetMatched()) != 0 || len(regular.GetResults()) != 1 {
		t.Fatalf("regular purchase = %v", regular)
	}
	res := regular.GetResults()[0]
	if res.GetReason() != "condition failed at condition.all[1]" {
		t.Errorf("reason = %q", res.GetReason())
	}
	children := res.GetCondition().GetChildren()
	if len(children) != 2 {
		t.Fatalf("condition = %v, want two comparisons", res.GetCondition())
	}
	amount, segment := children[0], children[1]
	if !amount.GetPassed() || amount.GetGot().GetNumberValue() != 742.5 || amount.GetValue().GetNumberValue() != 500 {
		t.Errorf("amount comparison = %v", amount)
	}
	if segment.GetPassed() || segment.GetGot().GetStringValue() != "regular" || segment.GetPath() != "condition.all[1]" ||
		segment.GetReason() != `user.segment is "regular", not == "VIP"` {
		t.Errorf("segment comparison = %v", segment)
	}

	draft := vipRule(t, 100, "nowhere")
	draft.Name = "small-vip"
	drafted := must(c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{
		Draft: draft, Event: sample(`{"amount":120,"user":{"segment":"VIP"}}`),
	})))(t)
	if strings.Join(drafted.GetMatched(), ",") != "small-vip" {
		t.Errorf("draft matched %v, want small-vip", drafted.GetMatched())
	}

	_, err := c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{Source: "shop", Event: sample(`[1,2]`)}))
	wantCode(t, "data not an object", err, connect.CodeInvalidArgument, "event.data")
	_, err = c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{Source: "shop"}))
	wantCode(t, "no event", err, connect.CodeInvalidArgument, "event: is required")
	_, err = c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{Source: "shop", Rule: "nope", Event: sample(`{}`)}))
	wantCode(t, "missing rule", err, connect.CodeNotFound, "shop/nope")
	if n := len(h.storedEvents(t)); n != 0 {
		t.Errorf("testing rules published %d events", n)
	}
}

// TestAdminRulesKeepNumbersExact checks that integers beyond 2^53 and
// numbers no double holds travel through the admin API exactly: in
// condition_json and the *_json fields of a test's explanation, while a
// Struct that may have rounded one is refused.
func TestAdminRulesKeepNumbersExact(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	settings := sinkSettings(t, map[string]any{"url": "http://127.0.0.1:9/big"})
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "big", Type: "webhook", Settings: settings})))(t)

	const exact = `{"field":"order","operator":"==","value":9007199254740993}`
	rule := &zenithv1.Rule{Source: "shop", Name: "big-order", ConditionJson: exact, Actions: []string{"big"}}
	created := must(c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: rule})))(t).GetRule()
	if !strings.Contains(created.GetConditionJson(), "9007199254740993") {
		t.Errorf("condition_json = %s, want the value's every digit", created.GetConditionJson())
	}

	// A number no double holds has no Struct form: answers carry it in
	// condition_json only, and listing the rules still works.
	const hugeCondition = `{"field":"order","operator":"<","value":1e400}`
	hugeRule := &zenithv1.Rule{Source: "shop", Name: "huge-order", ConditionJson: hugeCondition, Actions: []string{"big"}, Enabled: proto.Bool(false)}
	if got := must(c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: hugeRule})))(t).GetRule(); got.GetCondition() != nil ||
		!strings.Contains(got.GetConditionJson(), "1"+strings.Repeat("0", 400)) && !strings.Contains(got.GetConditionJson(), "1e400") {
		t.Errorf("rule with 1e400 = %v, want condition_json only", got)
	}
	listed := must(c.ListRules(ctx, connect.NewRequest(&zenithv1.ListRulesRequest{Source: "shop"})))(t)
	if len(listed.GetRules()) != 2 {
		t.Errorf("rules listed = %d, want 2", len(listed.GetRules()))
	}
	must(c.DeleteRule(ctx, connect.NewRequest(&zenithv1.DeleteRuleRequest{Source: "shop", Name: "huge-order"})))(t)

	rounded, err := structpb.NewStruct(map[string]any{"field": "order", "operator": "==", "value": 9007199254740993.0})
	if err != nil {
		t.Fatal(err)
	}
	viaStruct := &zenithv1.Rule{Source: "shop", Name: "rounded", Condition: rounded, Actions: []string{"big"}}
	_, err = c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: viaStruct}))
	wantCode(t, "Struct integer beyond 2^53", err, connect.CodeInvalidArgument, "condition.value: is 2^53 or beyond", "condition_json")
	both := &zenithv1.Rule{Source: "shop", Name: "both", Condition: rounded, ConditionJson: exact, Actions: []string{"big"}}
	_, err = c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: both}))
	wantCode(t, "condition and condition_json", err, connect.CodeInvalidArgument, "not both")

	sample := func(data string) *zenithv1.Event {
		return &zenithv1.Event{Type: "purchase.completed", Payload: &zenithv1.Event_DataJson{DataJson: []byte(data)}}
	}
	test := func(data string) *zenithv1.RuleResult {
		t.Helper()
		resp := must(c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{Source: "shop", Event: sample(data)})))(t)
		if len(resp.GetResults()) != 1 {
			t.Fatalf("results = %v, want one", resp.GetResults())
		}
		return resp.GetResults()[0]
	}
	if r := test(`{"order":9007199254740993}`); !r.GetMatched() || r.GetCondition().GetGotJson() != "9007199254740993" ||
		r.GetCondition().GetValueJson() != "9007199254740993" {
		t.Errorf("same integer = %v, want a match explained with every digit", r)
	}
	if r := test(`{"order":9007199254740992}`); r.GetMatched() {
		t.Errorf("neighbouring integer matched: %v", r)
	}
	huge := test(`{"order":1e400}`).GetCondition()
	if huge.GetGotJson() != "1e400" || huge.GetGot() != nil || huge.GetPassed() {
		t.Errorf("1e400 = %v, want got_json 1e400, no double, not passed", huge)
	}

	for _, refused := range []struct{ data, says string }{
		{`{"a":1,"a":2}`, `event.data: has the key "a" twice`},
		{`{"s":"\ud800"}`, "event.data.s"},
		{`{"s":"` + strings.Repeat("x", event.MaxDataSize) + `"}`, "event.data: must be at most"},
	} {
		_, err := c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{Source: "shop", Event: sample(refused.data)}))
		wantCode(t, "sample the ingestor refuses", err, connect.CodeInvalidArgument, refused.says)
	}
}

// TestAdminRefusesConditionKeysTwice checks that a condition with a key
// given twice, whose meaning depends on which value a reader keeps, is
// refused wherever a rule comes in, naming the place, and changes nothing.
func TestAdminRefusesConditionKeysTwice(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	settings := sinkSettings(t, map[string]any{"url": "http://127.0.0.1:9/vip"})
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "vip-alerts", Type: "webhook", Settings: settings})))(t)
	rule := func(condition string) *zenithv1.Rule {
		return &zenithv1.Rule{Source: "shop", Name: "vip", ConditionJson: condition, Actions: []string{"vip-alerts"}}
	}
	const twice = `{"field":"amount","operator":">","value":1,"value":2}`
	const nestedTwice = `{"all":[{"field":"amount","operator":">","value":1},{"field":"user.segment","operator":"==","value":"VIP","value":"regular"}]}`

	_, err := c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: rule(twice)}))
	wantCode(t, "CreateRule", err, connect.CodeInvalidArgument, `condition: has the key "value" twice`)
	_, err = c.GetRule(ctx, connect.NewRequest(&zenithv1.GetRuleRequest{Source: "shop", Name: "vip"}))
	wantCode(t, "GetRule of the refused rule", err, connect.CodeNotFound)

	saved := must(c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: rule(`{"field":"amount","operator":">","value":1}`)})))(t).GetRule()
	_, err = c.UpdateRule(ctx, connect.NewRequest(&zenithv1.UpdateRuleRequest{Rule: rule(nestedTwice)}))
	wantCode(t, "UpdateRule", err, connect.CodeInvalidArgument, `condition.all[1]: has the key "value" twice`)
	got := must(c.GetRule(ctx, connect.NewRequest(&zenithv1.GetRuleRequest{Source: "shop", Name: "vip"})))(t).GetRule()
	if got.GetVersion() != 1 || got.GetConditionJson() != saved.GetConditionJson() {
		t.Errorf("after the refused update the rule is v%d %s, want v1 %s", got.GetVersion(), got.GetConditionJson(), saved.GetConditionJson())
	}

	sample := &zenithv1.Event{Type: "purchase.completed", Payload: &zenithv1.Event_DataJson{DataJson: []byte(`{"amount":5}`)}}
	_, err = c.TestRules(ctx, connect.NewRequest(&zenithv1.TestRulesRequest{Draft: rule(twice), Event: sample}))
	wantCode(t, "TestRules of a draft", err, connect.CodeInvalidArgument, `draft.condition: has the key "value" twice`)

	file := `{"rules":[{"name":"vip","source":"shop","actions":["vip-alerts"],"condition":` + twice + `}]}`
	_, err = c.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: []byte(file)}))
	wantCode(t, "Apply", err, connect.CodeInvalidArgument, `rules[0].condition.value: is given twice`)
	got = must(c.GetRule(ctx, connect.NewRequest(&zenithv1.GetRuleRequest{Source: "shop", Name: "vip"})))(t).GetRule()
	if got.GetVersion() != 1 {
		t.Errorf("after the refused Apply the rule is v%d, want v1", got.GetVersion())
	}
}

// U+0000, which PostgreSQL cannot store in JSON, is refused by its place
// rather than failing the save as an internal error.
func TestAdminRefusesNUL(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	settings := sinkSettings(t, map[string]any{"url": "http://127.0.0.1:9/vip"})
	must(c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "vip-alerts", Type: "webhook", Settings: settings})))(t)

	rule := &zenithv1.Rule{Source: "shop", Name: "vip", Actions: []string{"vip-alerts"},
		ConditionJson: `{"field":"user.segment","operator":"==","value":"VIP\u0000"}`}
	_, err := c.CreateRule(ctx, connect.NewRequest(&zenithv1.CreateRuleRequest{Rule: rule}))
	wantCode(t, "CreateRule", err, connect.CodeInvalidArgument, "condition.value: must not contain the character U+0000")

	bad := sinkSettings(t, map[string]any{"url": "http://127.0.0.1:9/vip", "body": "a\x00b"})
	_, err = c.CreateSink(ctx, connect.NewRequest(&zenithv1.CreateSinkRequest{Name: "other", Type: "webhook", Settings: bad}))
	wantCode(t, "CreateSink", err, connect.CodeInvalidArgument, "body: must not contain the character U+0000")
}

func TestAdminAuditPages(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var records []store.AuditRecord
	for i := range 5 {
		status, sink := store.StatusDelivered, "vip-alerts"
		if i%2 == 1 {
			status, sink = store.StatusDeadLettered, "archive"
		}
		records = append(records, store.AuditRecord{
			DispatchID: "d-" + string(rune('a'+i)), EventID: "evt-" + string(rune('a'+i)), Source: "shop",
			EventType: "purchase.completed", RuleID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50", RuleName: "vip-purchase",
			RuleVersion: 1, SinkID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f51", SinkName: sink, SinkType: "webhook",
			Status: status, Attempts: 1, EventTime: base, MatchedAt: base,
		})
	}
	records[2].TraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	// One row per write, so each has its own creation time.
	for _, r := range records {
		if err := h.st.InsertAudit(ctx, []store.AuditRecord{r}); err != nil {
			t.Fatal(err)
		}
	}

	var seen []string
	token := ""
	for page := 0; ; page++ {
		resp := must(h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{PageSize: 2, PageToken: token})))(t)
		for _, e := range resp.GetEntries() {
			seen = append(seen, e.GetDispatchId())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
		if page > 5 {
			t.Fatal("the pages do not end")
		}
	}
	if got := strings.Join(seen, ","); got != "d-e,d-d,d-c,d-b,d-a" {
		t.Errorf("pages hold %s, want every row once, newest first", got)
	}

	dead := must(h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{Status: store.StatusDeadLettered, Sink: "archive"})))(t)
	if len(dead.GetEntries()) != 2 || dead.GetNextPageToken() != "" {
		t.Errorf("dead-lettered archive rows = %v", dead.GetEntries())
	}
	one := must(h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{EventId: "evt-c", Rule: "vip-purchase"})))(t)
	if len(one.GetEntries()) != 1 || one.GetEntries()[0].GetDispatchId() != "d-c" {
		t.Errorf("rows of evt-c = %v", one.GetEntries())
	}
	// A trace id copied in upper case is the same id.
	traced := must(h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{TraceId: strings.ToUpper(records[2].TraceID)})))(t)
	if len(traced.GetEntries()) != 1 || traced.GetEntries()[0].GetTraceId() != records[2].TraceID || traced.GetEntries()[0].GetEventId() != "evt-c" {
		t.Errorf("rows of trace %s = %v", records[2].TraceID, traced.GetEntries())
	}
	if e := one.GetEntries(); len(e) == 1 && e[0].GetTraceId() != records[2].TraceID {
		t.Errorf("row of evt-c has trace %q, want %s", e[0].GetTraceId(), records[2].TraceID)
	}
	none := must(h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{Until: timestamppb.New(base)})))(t)
	if len(none.GetEntries()) != 0 {
		t.Errorf("rows before they were written = %v", none.GetEntries())
	}

	_, err := h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{Status: "lost"}))
	wantCode(t, "bad status", err, connect.CodeInvalidArgument, "status: ")
	_, err = h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{TraceId: "4bf92f3577b34da6a3ce929d0e0e473g"}))
	wantCode(t, "bad trace id", err, connect.CodeInvalidArgument, "trace_id: must be 32 hex digits")
	_, err = h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{PageToken: "garbage"}))
	wantCode(t, "bad token", err, connect.CodeInvalidArgument, "page_token")
	_, err = h.client.ListAudit(ctx, connect.NewRequest(&zenithv1.ListAuditRequest{PageSize: 5000}))
	wantCode(t, "page too large", err, connect.CodeInvalidArgument, "page_size")
}

// deadLetter publishes an action for the sink vip-alerts on the
// dead-letter stream as the dispatcher does, and returns it.
func deadLetter(t *testing.T, h *adminHarness, eventID, reason string) action.Action {
	t.Helper()
	return deadLetterTo(t, h, "vip-alerts", eventID, reason)
}

// deadLetterTo is deadLetter for the sink called sinkName, which it
// creates when missing.
func deadLetterTo(t *testing.T, h *adminHarness, sinkName, eventID, reason string) action.Action {
	t.Helper()
	sink, _, err := h.st.PutSink(context.Background(), sinkName, "webhook", json.RawMessage(`{"url":"https://hooks.example.com/`+sinkName+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	a := action.Action{
		DispatchID: action.DispatchID("shop", eventID, "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50", sink.ID),
		Event:      event.Event{ID: eventID, Source: "shop", Type: "purchase.completed", Time: time.Now(), Data: []byte(`{}`)},
		Rule:       action.RuleRef{ID: "0190f5b2-7c1e-7cc3-8a4e-5d2b1c3e4f50", Name: "vip-purchase", Version: 1},
		Sink:       action.SinkRef{ID: sink.ID, Name: sinkName, Type: "webhook"},
	}
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	msg := &nats.Msg{Subject: bus.DeadLetterSubject("webhook"), Data: data, Header: nats.Header{}}
	msg.Header.Set(action.DeadLetterReasonHeader, reason)
	msg.Header.Set(action.DeadLetterAttemptsHeader, "24")
	msg.Header.Set(action.DeadLetterStatusHeader, "503")
	if _, err := h.js.PublishMsg(context.Background(), msg, jetstream.WithMsgID(a.DispatchID)); err != nil {
		t.Fatal(err)
	}
	rec := store.AuditRecord{
		DispatchID: a.DispatchID, EventID: eventID, Source: "shop", EventType: a.Event.Type,
		RuleID: a.Rule.ID, RuleName: a.Rule.Name, RuleVersion: 1, SinkID: a.Sink.ID, SinkName: a.Sink.Name,
		SinkType: "webhook", Status: store.StatusDeadLettered, Attempts: 24, Error: reason,
		EventTime: a.Event.Time, MatchedAt: a.Event.Time,
	}
	if err := h.st.InsertAudit(context.Background(), []store.AuditRecord{rec}); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAdminDeadLetters(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	first := deadLetter(t, h, "evt-1", "sink answered 503")
	second := deadLetter(t, h, "evt-2", "sink answered 503")

	list := must(c.ListDeadLetters(ctx, connect.NewRequest(&zenithv1.ListDeadLettersRequest{PageSize: 1})))(t)
	if len(list.GetDeadLetters()) != 1 || list.GetNextPageToken() == "" {
		t.Fatalf("first page = %v", list)
	}
	dl := list.GetDeadLetters()[0]
	if dl.GetDispatchId() != first.DispatchID || dl.GetReason() != "sink answered 503" || dl.GetAttempts() != 24 ||
		dl.GetHttpStatus() != 503 || dl.GetAuditStatus() != store.StatusDeadLettered || dl.GetRule() != "vip-purchase" {
		t.Errorf("dead letter = %v", dl)
	}
	next := must(c.ListDeadLetters(ctx, connect.NewRequest(&zenithv1.ListDeadLettersRequest{PageToken: list.GetNextPageToken()})))(t)
	if len(next.GetDeadLetters()) != 1 || next.GetDeadLetters()[0].GetDispatchId() != second.DispatchID || next.GetNextPageToken() != "" {
		t.Errorf("second page = %v", next)
	}
	filtered := must(c.ListDeadLetters(ctx, connect.NewRequest(&zenithv1.ListDeadLettersRequest{Filter: &zenithv1.DeadLetterFilter{EventId: "evt-2"}})))(t)
	if len(filtered.GetDeadLetters()) != 1 || filtered.GetDeadLetters()[0].GetEventId() != "evt-2" {
		t.Errorf("dead letters of evt-2 = %v", filtered)
	}

	_, err := c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{}))
	wantCode(t, "replay with an empty filter", err, connect.CodeInvalidArgument, "filter: is empty")
	_, err = c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{Sequences: []uint64{999}}))
	wantCode(t, "replay a missing dead letter", err, connect.CodeNotFound, "dead letter 999")
	_, err = c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{Sequences: []uint64{0}}))
	wantCode(t, "replay of sequence 0", err, connect.CodeInvalidArgument, "sequences: a dead letter's sequence is 1 or more")

	replayed := must(c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{Sequences: []uint64{dl.GetSequence(), dl.GetSequence()}})))(t)
	if len(replayed.GetOutcomes()) != 1 || !replayed.GetOutcomes()[0].GetReplayed() {
		t.Fatalf("replay = %v", replayed)
	}
	// The action is back on the actions stream, marked as a replay; replaying
	// again publishes it again rather than being dropped as a duplicate.
	must(c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{Filter: &zenithv1.DeadLetterFilter{EventId: "evt-1"}})))(t)
	actions := streamMessages(t, h.js, bus.ActionsStream)
	if len(actions) != 2 {
		t.Fatalf("actions stream holds %d messages, want the 2 replays", len(actions))
	}
	for _, msg := range actions {
		got, err := action.Decode(msg.Data)
		if err != nil || got.DispatchID != first.DispatchID || msg.Subject != bus.ActionSubject("webhook") ||
			msg.Header.Get(action.ReplayHeader) != "1" {
			t.Errorf("replayed message %s %v = %+v, %v", msg.Subject, msg.Header, got, err)
		}
	}

	// Once a dispatch is delivered, its dead letter is resolved: hidden, and
	// skipped by a replay.
	rec, err := h.st.AuditByDispatch(ctx, second.DispatchID)
	if err != nil {
		t.Fatal(err)
	}
	rec.Status = store.StatusDelivered
	if err := h.st.InsertAudit(ctx, []store.AuditRecord{rec}); err != nil {
		t.Fatal(err)
	}
	open := must(c.ListDeadLetters(ctx, connect.NewRequest(&zenithv1.ListDeadLettersRequest{})))(t)
	if len(open.GetDeadLetters()) != 1 || open.GetDeadLetters()[0].GetEventId() != "evt-1" {
		t.Errorf("unresolved dead letters = %v", open)
	}
	all := must(c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{All: true, Filter: &zenithv1.DeadLetterFilter{IncludeResolved: true}})))(t)
	if n := len(all.GetOutcomes()); n != 2 || all.GetOutcomes()[1].GetSkipped() != "already delivered" {
		t.Errorf("replay of all = %v", all)
	}

	// A dead letter whose sink was deleted is skipped: the dispatcher could
	// only dead-letter it again.
	before := len(streamMessages(t, h.js, bus.ActionsStream))
	orphan := deadLetterTo(t, h, "old-hook", "evt-3", "sink answered 503")
	if err := h.st.DeleteSink(ctx, "old-hook"); err != nil {
		t.Fatal(err)
	}
	skipped := must(c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{Filter: &zenithv1.DeadLetterFilter{EventId: "evt-3"}})))(t)
	if out := skipped.GetOutcomes(); len(out) != 1 || out[0].GetDispatchId() != orphan.DispatchID ||
		out[0].GetReplayed() || out[0].GetSkipped() != "its sink old-hook was deleted" {
		t.Errorf("replay of a deleted sink's dead letter = %v", skipped)
	}
	if n := len(streamMessages(t, h.js, bus.ActionsStream)); n != before {
		t.Errorf("actions stream holds %d messages after the skipped replay, want still %d", n, before)
	}

	// Such a dead letter can be deleted for good; its audit row stays.
	_, err = c.DeleteDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteDeadLettersRequest{}))
	wantCode(t, "delete with an empty filter", err, connect.CodeInvalidArgument, "set all to delete every dead letter")
	deleted := must(c.DeleteDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteDeadLettersRequest{Filter: &zenithv1.DeadLetterFilter{EventId: "evt-3"}})))(t)
	if len(deleted.GetDeleted()) != 1 || deleted.GetDeleted()[0] != skipped.GetOutcomes()[0].GetSequence() {
		t.Fatalf("DeleteDeadLetters = %v, want the dead letter of evt-3", deleted)
	}
	left := must(c.ListDeadLetters(ctx, connect.NewRequest(&zenithv1.ListDeadLettersRequest{Filter: &zenithv1.DeadLetterFilter{IncludeResolved: true}})))(t)
	for _, dl := range left.GetDeadLetters() {
		if dl.GetEventId() == "evt-3" {
			t.Errorf("the deleted dead letter is still listed: %v", dl)
		}
	}
	if len(left.GetDeadLetters()) != 2 {
		t.Errorf("%d dead letters left, want the 2 of evt-1 and evt-2", len(left.GetDeadLetters()))
	}
	if rec, err := h.st.AuditByDispatch(ctx, orphan.DispatchID); err != nil || rec.Status != store.StatusDeadLettered {
		t.Errorf("audit row after the deletion = %+v, %v; want it kept as dead_lettered", rec, err)
	}
	_, err = c.DeleteDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteDeadLettersRequest{Sequences: deleted.GetDeleted()}))
	wantCode(t, "delete it again", err, connect.CodeNotFound)
}

// streamMessages returns the messages a stream holds, in order.
func streamMessages(t *testing.T, js jetstream.JetStream, name string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	stream, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(">"))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return msgs
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
		seq = msg.Sequence + 1
	}
}

func TestAdminApply(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	file := []byte(`
sources:
  - {name: ci, api_keys_from_env: [CI_API_KEY]}
sinks:
  - {name: pager, type: webhook, url: "https://pager.example.com/hook/secret-path"}
rules:
  - {name: failed-build, source: ci, event_type: build.failed, actions: [pager]}
`)
	keys := map[string]string{"CI_API_KEY": "ci-key-0123456789abcdefghij"}
	apply := func(file []byte, dryRun, prune bool) []string {
		t.Helper()
		resp := must(h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: file, ApiKeys: keys, DryRun: dryRun, Prune: prune})))(t)
		var out []string
		for _, c := range resp.GetChanges() {
			out = append(out, c.GetKind()+" "+c.GetName()+" "+c.GetOp())
			for _, f := range c.GetFields() {
				out = append(out, "  "+f.GetPath()+": "+f.GetOld()+" -> "+f.GetNew())
			}
		}
		return out
	}

	if got := apply(file, true, false); len(got) != 4 {
		t.Errorf("dry run = %q, want 4 creations", got)
	}
	dry := must(h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: file, ApiKeys: keys, DryRun: true})))(t)
	if !dry.GetDryRun() {
		t.Error("a dry run's answer does not say so")
	}
	if _, err := h.st.SourceByName(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a dry run created the source: %v", err)
	}
	if got := strings.Join(apply(file, false, false), "; "); got != "source ci created; api key ci/CI_API_KEY created; sink pager created; rule ci/failed-build created" {
		t.Errorf("first apply = %s", got)
	}
	if got := apply(file, false, false); len(got) != 0 {
		t.Errorf("second apply = %q, want no change", got)
	}
	if status, body := h.post(t, keys["CI_API_KEY"], `{"type":"build.failed","data":{}}`); status != http.StatusAccepted {
		t.Errorf("the applied key: %d %v", status, body)
	}

	edited := []byte(strings.Replace(string(file), "secret-path", "other-secret", 1))
	got := strings.Join(apply(edited, false, true), "; ")
	want := `sink pager updated;   url: "<redacted>" -> "<redacted>"; ` +
		"source billing deleted; source shop deleted"
	if got != want {
		t.Errorf("prune apply = %s\nwant          %s", got, want)
	}

	_, err := h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: []byte("rules: [{name: x, source: ci, actions: [pager], condition: {field: a, operator: '=>', value: 1}}]")}))
	wantCode(t, "invalid rule", err, connect.CodeInvalidArgument, `rules[0].condition.operator: unknown operator "=>"`)
	// YAML the parser refuses is named by line, column and problem; the
	// answer holds nothing of the file's lines, which hold secrets.
	for _, bad := range []struct{ name, config, want string }{
		{"unclosed mapping", "sources: {", "line 1, column 10: could not find flow mapping end token '}'"},
		{"a secret's key given twice", "sinks:\n  - name: pager\n    type: webhook\n" +
			"    url: \"https://pager.example.com/hook/SUPERSECRET\"\n    url: \"https://pager.example.com/hook/SUPERSECRET\"\n",
			"line 5, column 5: sinks[0].url: is given twice (first at line 4, column 5)"},
		{"an unclosed quote", "sinks:\n  - {name: pager, type: webhook, url: \"https://pager.example.com/hook/SUPERSECRET}\n",
			"line 2, column 39: could not find end character of double-quoted text"},
	} {
		_, err = h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: []byte(bad.config)}))
		wantCode(t, bad.name, err, connect.CodeInvalidArgument, bad.want)
		if err != nil && strings.Contains(err.Error(), "SUPERSECRET") {
			t.Errorf("%s: the answer quotes the file: %q", bad.name, err)
		}
	}
	_, err = h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: []byte("rules: [{name: x, source: ci, actions: [pager, pager]}]")}))
	wantCode(t, "a sink named twice", err, connect.CodeInvalidArgument, `rules[0].actions[1]: sink "pager" is named twice`)
	deep := "rules: [{name: x, source: ci, actions: [pager], condition: " + strings.Repeat("{not: ", 20_000) + "{field: a, operator: exists}" + strings.Repeat("}", 20_000) + "}]"
	_, err = h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: []byte(deep)}))
	wantCode(t, "a condition nested 20,000 levels", err, connect.CodeInvalidArgument, "file: nests deeper than 100 levels")
	huge := append([]byte("sources: []\n#"), make([]byte, 2<<20)...)
	_, err = h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: huge}))
	wantCode(t, "a file of 2 MiB", err, connect.CodeResourceExhausted)
	_, err = h.client.Apply(ctx, connect.NewRequest(&zenithv1.ApplyRequest{Config: []byte("sources: [{name: new, api_keys_from_env: [NEW_KEY]}]")}))
	wantCode(t, "key variable not sent", err, connect.CodeInvalidArgument, "environment variable NEW_KEY is not set")
}
