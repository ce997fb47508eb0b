package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/cmd/internal/stack"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	adminToken = "ctl-admin-token-0123456789"
	shopKey    = "ctl-shop-key-0123456789abc"
)

// receiver records the webhook deliveries it gets: when each event reached
// which path. A path in failing answers 400, which the dispatcher treats as
// final.
type receiver struct {
	mu      sync.Mutex
	arrived map[string]map[string]time.Time // path -> event id -> time
	failing map[string]bool
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	raw, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(raw, &body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing[req.URL.Path] {
		http.Error(w, "not today", http.StatusBadRequest)
		return
	}
	if r.arrived[req.URL.Path] == nil {
		r.arrived[req.URL.Path] = map[string]time.Time{}
	}
	r.arrived[req.URL.Path][body.Event.ID] = time.Now()
	w.WriteHeader(http.StatusNoContent)
}

// reached reports whether event id reached path.
func (r *receiver) reached(path, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.arrived[path][id]
	return ok
}

func (r *receiver) setFailing(path string, failing bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing[path] = failing
}

// pipeline is the three services, with the admin API on, over a real
// PostgreSQL, a real NATS server and a receiver on loopback.
type pipeline struct {
	recv      *receiver
	recvURL   string
	ingestURL string
	env       map[string]string
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	ctx := context.Background()
	_, dsn := testenv.Store(t)
	natsURL := testenv.NATS(t)
	recv := &receiver{arrived: map[string]map[string]time.Time{}, failing: map[string]bool{}}
	server := httptest.NewServer(recv)
	t.Cleanup(server.Close)

	for name, value := range map[string]string{
		"NATS_URL": natsURL, "DATABASE_URL": dsn, "ZENITH_ADMIN_TOKENS": adminToken,
		"INGESTOR_ADDR": "127.0.0.1:0", "INGESTOR_ADMIN_ADDR": "127.0.0.1:0", "INGESTOR_ADMIN_API_ADDR": "127.0.0.1:0",
		"ENGINE_ADMIN_ADDR": "127.0.0.1:0", "DISPATCHER_ADMIN_ADDR": "127.0.0.1:0",
		"DISPATCHER_EGRESS_ALLOW": "127.0.0.0/8,::1/128",
	} {
		t.Setenv(name, value)
	}
	cfg, err := stack.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	s, err := stack.Start(ctx, cfg, func(string) *slog.Logger { return slog.New(slog.DiscardHandler) })
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("pipeline stopped with: %v", err)
		}
	})

	ingestURL := "http://" + s.Ingestor.Addr()
	return &pipeline{
		recv: recv, recvURL: server.URL, ingestURL: ingestURL,
		env: map[string]string{
			"ZENITH_SERVER": "http://" + s.Ingestor.AdminAPIAddr(), "ZENITH_TOKEN": adminToken,
			"ZENITH_INGEST_URL": ingestURL, "SHOP_API_KEY": shopKey,
		},
	}
}

// ctl runs zenithctl and returns its exit code, output and error output.
func (p *pipeline) ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut, func(name string) string { return p.env[name] })
	return code, out.String(), errOut.String()
}

// mustCtl runs zenithctl and fails the test unless it succeeds.
func (p *pipeline) mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := p.ctl(t, args...)
	if code != exitOK {
		t.Fatalf("zenithctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// exampleFile writes examples/zenith.yaml with its sinks pointing at the
// test's receiver, and returns its path and contents.
func (p *pipeline) exampleFile(t *testing.T) (string, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "zenith.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	content := strings.ReplaceAll(string(b), "http://${ZENITH_RECEIVER_ADDR:-127.0.0.1:9000}", p.recvURL)
	path := filepath.Join(t.TempDir(), "zenith.yaml")
	writeFile(t, path, content)
	return path, content
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (p *pipeline) post(t *testing.T, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.ingestURL+"/v1/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", shopKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func wantLines(t *testing.T, what, out string, lines ...string) {
	t.Helper()
	for _, line := range lines {
		if !strings.Contains(out, line) {
			t.Errorf("%s output lacks %q:\n%s", what, line, out)
		}
	}
}

// TestApplyThenEditThreshold applies the example file twice (the second run
// changes nothing), then raises the VIP rule's threshold while a stream of
// VIP purchases of 742.5 flows: within a second of the apply, they stop
// matching the VIP rule and go to the archive instead, with no restart.
func TestApplyThenEditThreshold(t *testing.T) {
	p := startPipeline(t)
	path, content := p.exampleFile(t)

	first := p.mustCtl(t, "apply", "-f", path)
	wantLines(t, "first apply", first,
		"+ source shop created", "+ api key shop/SHOP_API_KEY created", "+ sink vip-alerts created",
		"+ rule shop/vip-purchase created", "+ rule shop/archive-rest created", "6 change(s)")
	if second := p.mustCtl(t, "apply", "-f", path); second != "no changes\n" {
		t.Errorf("second apply printed %q, want no changes", second)
	}

	stream := startStream(t, p)
	testenv.WaitFor(t, 10*time.Second, func() bool { return p.recv.reached("/vip", stream.id(0)) })

	writeFile(t, path, strings.Replace(content, "value: 500", "value: 1000", 1))
	dry := p.mustCtl(t, "apply", "-f", path, "--dry-run")
	wantLines(t, "dry run", dry, "dry run: nothing was changed", "~ rule shop/vip-purchase updated")
	edited := p.mustCtl(t, "apply", "-f", path)
	appliedAt := time.Now()
	wantLines(t, "edited apply", edited, "~ rule shop/vip-purchase updated", "    condition.all[0].value: 500 -> 1000", "1 change(s)")

	time.Sleep(2 * time.Second)
	sent := stream.stop()
	testenv.WaitFor(t, 10*time.Second, func() bool {
		last := stream.id(len(sent) - 1)
		return p.recv.reached("/archive", last) || p.recv.reached("/vip", last)
	})

	var switchedAfter time.Duration = -1
	for i, at := range sent {
		id := stream.id(i)
		toVIP, toArchive := p.recv.reached("/vip", id), p.recv.reached("/archive", id)
		switch {
		case at.Before(appliedAt.Add(-time.Second)) && !toVIP:
			t.Errorf("%s, sent %v before the apply, did not reach /vip", id, appliedAt.Sub(at))
		case at.After(appliedAt.Add(time.Second)) && (toVIP || !toArchive):
			t.Errorf("%s, sent %v after the apply, reached /vip %v, /archive %v; want only /archive", id, at.Sub(appliedAt), toVIP, toArchive)
		case toArchive && switchedAfter < 0:
			switchedAfter = at.Sub(appliedAt)
		}
	}
	t.Logf("the first event to match the new threshold was sent %v after the apply returned", switchedAfter.Round(time.Millisecond))

	edited = strings.Replace(mustRead(t, path), p.recvURL+"/vip", p.recvURL+"/vip-new", 1)
	writeFile(t, path, edited)
	wantLines(t, "a secret changed", p.mustCtl(t, "apply", "-f", path), "~ sink vip-alerts updated", "    url: (secret changed)")
	var dryJSON struct {
		DryRun  bool  `json:"dryRun"`
		Changes []any `json:"changes"`
	}
	if err := json.Unmarshal([]byte(p.mustCtl(t, "apply", "-f", path, "--dry-run", "-o", "json")), &dryJSON); err != nil || !dryJSON.DryRun || dryJSON.Changes == nil {
		t.Errorf("apply --dry-run -o json = %+v, %v; want dryRun true and a list of changes", dryJSON, err)
	}

	// A prune that would delete every source is refused with what it would
	// do, unless forced.
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	writeFile(t, empty, "# nothing yet\n")
	code, out, errOut := p.ctl(t, "apply", "-f", empty, "--prune")
	if code != exitUsage || !strings.Contains(errOut, "--prune would delete every source") {
		t.Errorf("apply --prune of an empty file: exit %d, %s", code, errOut)
	}
	wantLines(t, "the refused prune", out, "dry run: nothing was changed", "- source shop deleted")
	wantLines(t, "sources after the refused prune", p.mustCtl(t, "sources", "list"), "shop")
	wantLines(t, "a forced prune", p.mustCtl(t, "apply", "-f", empty, "--prune", "--force"), "- source shop deleted")
}

// stream posts VIP purchases of 742.5 every 20ms until stopped.
type stream struct {
	stopped atomic.Bool
	done    chan []time.Time
}

func startStream(t *testing.T, p *pipeline) *stream {
	s := &stream{done: make(chan []time.Time, 1)}
	go func() {
		var sent []time.Time
		for i := 0; !s.stopped.Load(); i++ {
			at := time.Now()
			body := fmt.Sprintf(`{"id":%q,"type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"}}}`, s.id(i))
			if status := p.post(t, body); status != http.StatusAccepted {
				t.Errorf("event %d: status %d", i, status)
			}
			sent = append(sent, at)
			time.Sleep(20 * time.Millisecond)
		}
		s.done <- sent
	}()
	return s
}

func (s *stream) id(i int) string { return fmt.Sprintf("stream-%d", i) }

// stop ends the stream and returns when each event was sent.
func (s *stream) stop() []time.Time {
	s.stopped.Store(true)
	return <-s.done
}

func TestTestShowsWhyRulesMatch(t *testing.T) {
	p := startPipeline(t)
	path, _ := p.exampleFile(t)
	p.mustCtl(t, "apply", "-f", path)
	dir := t.TempDir()
	vip, regular := filepath.Join(dir, "vip.json"), filepath.Join(dir, "regular.json")
	writeFile(t, vip, `{"type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"}}}`)
	writeFile(t, regular, `{"type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"regular"}}}`)

	out := p.mustCtl(t, "test", "-f", vip, "--source", "shop")
	wantLines(t, "VIP test", out,
		"vip-purchase (v1): MATCHED: condition held",
		"  [pass] condition.all[0]: amount > 500, got 742.5: amount is 742.5, > 500",
		`  [pass] condition.all[1]: user.segment == "VIP", got "VIP"`,
		"archive-rest (v1): no match: fallback: another rule matched",
		"matched: vip-purchase")

	out = p.mustCtl(t, "test", "-f", regular, "--source", "shop")
	wantLines(t, "regular test", out,
		"vip-purchase (v1): no match: condition failed at condition.all[1]",
		`  [fail] condition.all[1]: user.segment == "VIP", got "regular": user.segment is "regular", not == "VIP"`,
		"archive-rest (v1): MATCHED",
		"matched: archive-rest")

	code, jsonOut, _ := p.ctl(t, "test", "-f", regular, "--source", "shop", "--rule", "vip-purchase", "-o", "json")
	var parsed struct {
		Results []struct {
			Rule      string `json:"rule"`
			Condition struct {
				Children []struct {
					Got    any  `json:"got"`
					Passed bool `json:"passed"`
				} `json:"children"`
			} `json:"condition"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &parsed); err != nil || code != exitOK {
		t.Fatalf("-o json: exit %d, %v:\n%s", code, err, jsonOut)
	}
	if len(parsed.Results) != 1 || parsed.Results[0].Condition.Children[1].Got != "regular" {
		t.Errorf("-o json results = %+v", parsed.Results)
	}

	draft := filepath.Join(dir, "draft.yaml")
	writeFile(t, draft, "{name: any-vip, source: shop, condition: {field: user.segment, operator: '==', value: VIP}, actions: [vip-alerts]}")
	wantLines(t, "draft test", p.mustCtl(t, "test", "-f", vip, "--source", "shop", "--draft", draft), "matched: any-vip")

	// Integers beyond 2^53 and numbers no double holds are read and shown
	// exactly, on the rule's side and the event's.
	bigDraft, bigEvent := filepath.Join(dir, "big.yaml"), filepath.Join(dir, "big.json")
	writeFile(t, bigDraft, "{name: big, source: shop, condition: {field: n, operator: '==', value: 9007199254740993}, actions: [vip-alerts]}")
	writeFile(t, bigEvent, `{"type":"a.b","data":{"n":9007199254740992}}`)
	wantLines(t, "big integer test", p.mustCtl(t, "test", "-f", bigEvent, "--source", "shop", "--draft", bigDraft),
		"  [fail] condition: n == 9007199254740993, got 9007199254740992: n is 9007199254740992, not == 9007199254740993",
		"matched: none")
	writeFile(t, bigEvent, `{"type":"a.b","data":{"n":1e400}}`)
	wantLines(t, "1e400 test", p.mustCtl(t, "test", "-f", bigEvent, "--source", "shop", "--draft", bigDraft),
		"  [fail] condition: n == 9007199254740993, got 1e400")
}

func TestKeysSendRevoke(t *testing.T) {
	p := startPipeline(t)
	path, _ := p.exampleFile(t)
	p.mustCtl(t, "apply", "-f", path)

	out := p.mustCtl(t, "keys", "create", "--source", "shop", "--name", "checkout")
	key := regexp.MustCompile(`zk_[a-z0-9]{12}_[a-z0-9]{32}`).FindString(out)
	if key == "" {
		t.Fatalf("keys create printed no key:\n%s", out)
	}
	id := strings.Split(key, "_")[1]
	sent := p.mustCtl(t, "send", "--key", key, "--type", "purchase.completed", "--data", `{"amount":1}`)
	wantLines(t, "send", sent, `"duplicate":false`)
	code, _, errOut := p.ctl(t, "send", "--key", key, "--type", "purchase.completed", "--data", `{"a":1,"a":2}`)
	if code != exitUsage || !strings.Contains(errOut, `the ingestor refused the event (invalid_argument): data: has the key "a" twice`) {
		t.Errorf("send of an event the ingestor refuses: exit %d, %s", code, errOut)
	}
	list := p.mustCtl(t, "keys", "list", "--source", "shop")
	wantLines(t, "keys list", list, id, "checkout", "zk_"+id+"_")
	if strings.Contains(list, key) {
		t.Errorf("keys list shows the whole key:\n%s", list)
	}

	p.mustCtl(t, "keys", "revoke", id)
	revokedAt := time.Now()
	testenv.WaitFor(t, 5*time.Second, func() bool {
		code, _, errOut := p.ctl(t, "send", "--key", key, "--type", "purchase.completed")
		return code == exitError && strings.Contains(errOut, "401 Unauthorized")
	})
	t.Logf("the revoked key was refused %v after the revocation", time.Since(revokedAt).Round(time.Millisecond))
}

func TestDeadLetterReplay(t *testing.T) {
	p := startPipeline(t)
	path, content := p.exampleFile(t)
	writeFile(t, path, content+`  - {name: refunds, source: shop, event_type: refund.created, actions: [flaky]}
`)
	writeFile(t, path, strings.Replace(mustRead(t, path), "sinks:\n", "sinks:\n  - {name: flaky, type: webhook, url: \""+p.recvURL+"/flaky\"}\n", 1))
	p.mustCtl(t, "apply", "-f", path)
	p.recv.setFailing("/flaky", true)

	if status := p.post(t, `{"id":"refund-1","type":"refund.created","data":{"amount":20}}`); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	testenv.WaitFor(t, 10*time.Second, func() bool {
		_, out, _ := p.ctl(t, "dlq", "list")
		return strings.Contains(out, "refund-1")
	})
	// The dead letter is stored before its audit row is committed.
	testenv.WaitFor(t, 5*time.Second, func() bool {
		return strings.Contains(p.mustCtl(t, "audit", "--event-id", "refund-1"), "dead_lettered")
	})

	p.recv.setFailing("/flaky", false)
	code, out, errOut := p.ctl(t, "dlq", "replay")
	if code != exitUsage || !strings.Contains(errOut, "--all") {
		t.Errorf("replay without a filter: exit %d, %s%s", code, out, errOut)
	}
	wantLines(t, "replay", p.mustCtl(t, "dlq", "replay", "--event-id", "refund-1"), "1 replayed, 0 skipped")
	testenv.WaitFor(t, 10*time.Second, func() bool { return p.recv.reached("/flaky", "refund-1") })
	testenv.WaitFor(t, 5*time.Second, func() bool {
		_, out, _ := p.ctl(t, "audit", "--event-id", "refund-1", "--status", "delivered")
		return strings.Contains(out, "refund-1")
	})
	wantReplacedOutcome(t, p.mustCtl(t, "audit", "--event-id", "refund-1", "-o", "json"))
	if out := p.mustCtl(t, "dlq", "list"); strings.Contains(out, "refund-1") {
		t.Errorf("the delivered dead letter is still listed:\n%s", out)
	}
	wantLines(t, "resolved list", p.mustCtl(t, "dlq", "list", "--include-resolved"), "refund-1", "delivered")
	wantLines(t, "second replay", p.mustCtl(t, "dlq", "replay", "--all", "--include-resolved"), "already delivered", "0 replayed, 1 skipped")

	code, _, errOut = p.ctl(t, "dlq", "delete")
	if code != exitUsage || !strings.Contains(errOut, "--all") {
		t.Errorf("delete without a filter: exit %d, %s", code, errOut)
	}
	wantLines(t, "delete", p.mustCtl(t, "dlq", "delete", "--all", "--include-resolved"), "1 deleted")
	if out := p.mustCtl(t, "dlq", "list", "--include-resolved"); strings.Contains(out, "refund-1") {
		t.Errorf("the deleted dead letter is still listed:\n%s", out)
	}
}

// wantReplacedOutcome checks that the one audit entry in raw, the JSON
// of `zenithctl audit -o json`, says when a replay replaced its outcome.
func wantReplacedOutcome(t *testing.T, raw string) {
	t.Helper()
	var audit struct {
		Entries []struct {
			CreatedAt time.Time `json:"createdAt"`
			UpdatedAt time.Time `json:"updatedAt"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(raw), &audit); err != nil || len(audit.Entries) != 1 {
		t.Fatalf("audit -o json = %s (%v), want one entry", raw, err)
	}
	if e := audit.Entries[0]; e.UpdatedAt.Before(e.CreatedAt) {
		t.Errorf("replayed entry: created %v, updated %v; want the update after the creation", e.CreatedAt, e.UpdatedAt)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEveryCommand runs the remaining commands once each, and the refusals a
// script must be able to tell apart by exit code.
func TestEveryCommand(t *testing.T) {
	p := startPipeline(t)
	dir := t.TempDir()

	wantLines(t, "sources create", p.mustCtl(t, "sources", "create", "ci"), "ci")
	wantLines(t, "sources rename", p.mustCtl(t, "sources", "rename", "ci", "builds"), "builds")
	wantLines(t, "sources get", p.mustCtl(t, "sources", "get", "builds"), "builds")
	wantLines(t, "sources list", p.mustCtl(t, "sources", "list"), "NAME", "builds")

	p.mustCtl(t, "sinks", "create", "pager", "--settings", `{"url":"https://pager.example.com/hook/tok-123","headers":{"X-Team":"ops"}}`)
	got := p.mustCtl(t, "sinks", "get", "pager")
	wantLines(t, "sinks get", got, "<redacted>", `"X-Team":"<redacted>"`)
	settings := filepath.Join(dir, "pager.yaml")
	writeFile(t, settings, "url: \"<redacted>\"\nheaders: {X-Team: \"<redacted>\"}\ntimeout: 3s\n")
	wantLines(t, "sinks update", p.mustCtl(t, "sinks", "update", "pager", "-f", settings), `"timeout":"3s"`)
	for _, args := range [][]string{{"sinks", "list"}, {"sinks", "get", "pager", "-o", "json"}} {
		if out := p.mustCtl(t, args...); strings.Contains(out, "tok-123") || strings.Contains(out, "ops") {
			t.Errorf("zenithctl %s shows a secret:\n%s", strings.Join(args, " "), out)
		}
	}
	code, _, errOut := p.ctl(t, "sinks", "create", "bad", "--settings", `{"url":"https://x.example.com","headers":{"X-Bad":"a\r\nb"}}`)
	if code != exitUsage || !strings.Contains(errOut, "invalid_argument: headers.X-Bad: must not contain control characters") {
		t.Errorf("CR/LF header: exit %d, %s", code, errOut)
	}

	// An update without --type keeps the sink's type; -o json prints the
	// call's answer as it is.
	p.mustCtl(t, "sinks", "create", "team-chat", "--type", "discord", "--settings", `{"webhook_url":"https://discord.example.com/api/webhooks/1/tok"}`)
	var updated struct {
		Sink struct {
			Type string `json:"type"`
		} `json:"sink"`
	}
	raw := p.mustCtl(t, "sinks", "update", "team-chat", "-o", "json", "--settings", `{"webhook_url":"<redacted>","username":"zenith"}`)
	if err := json.Unmarshal([]byte(raw), &updated); err != nil || updated.Sink.Type != "discord" {
		t.Errorf("sinks update -o json = %s (%v), want {\"sink\": …} of type discord", raw, err)
	}
	var list struct {
		DeadLetters   []any   `json:"deadLetters"`
		NextPageToken *string `json:"nextPageToken"`
	}
	raw = p.mustCtl(t, "dlq", "list", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &list); err != nil || list.DeadLetters == nil || len(list.DeadLetters) != 0 || list.NextPageToken == nil {
		t.Errorf("dlq list -o json with no dead letters = %s, want an empty deadLetters list", raw)
	}

	rule := filepath.Join(dir, "rule.yaml")
	writeFile(t, rule, "name: failed-build\nsource: builds\nevent_type: build.failed\ncondition: {field: branch, operator: '==', value: main}\nactions: [pager]\n")
	wantLines(t, "rules create", p.mustCtl(t, "rules", "create", "-f", rule), "builds/failed-build", "build.failed")
	writeFile(t, rule, "name: failed-build\nsource: builds\nevent_type: build.failed\ncondition: {field: branch, operator: '!=', value: dev}\nactions: [pager]\n")
	wantLines(t, "rules update", p.mustCtl(t, "rules", "update", "-f", rule), "builds/failed-build  2")
	wantLines(t, "rules disable", p.mustCtl(t, "rules", "disable", "builds/failed-build"), "builds/failed-build  3        no")
	wantLines(t, "rules enable", p.mustCtl(t, "rules", "enable", "builds/failed-build"), "builds/failed-build  4        yes")
	wantLines(t, "rules get", p.mustCtl(t, "rules", "get", "builds/failed-build"), `"operator":"!="`)
	wantLines(t, "rules list", p.mustCtl(t, "rules", "list", "--source", "builds"), "builds/failed-build")
	wantLines(t, "audit", p.mustCtl(t, "audit", "--since", "1h"), "TIME", "EVENT", "TRACE")

	writeFile(t, rule, "name: bad\nsource: builds\ncondition: {all: [{field: a, operator: '==', value: 1}, {field: b, operator: '=>', value: 2}]}\nactions: [pager]\n")
	code, _, errOut = p.ctl(t, "rules", "create", "-f", rule)
	if code != exitUsage || !strings.Contains(errOut, `rule.yaml: condition.all[1].operator: unknown operator "=>"`) {
		t.Errorf("invalid rule: exit %d, %s", code, errOut)
	}
	// A refusal only the server can make (the sink does not exist) names
	// the file too.
	writeFile(t, rule, "name: lost\nsource: builds\nactions: [nowhere]\n")
	code, _, errOut = p.ctl(t, "rules", "create", "-f", rule)
	if code != exitUsage || !strings.Contains(errOut, `rule.yaml: `) || !strings.Contains(errOut, `"nowhere"`) {
		t.Errorf("rule naming an unknown sink: exit %d, %s", code, errOut)
	}
	code, _, errOut = p.ctl(t, "sinks", "delete", "pager")
	if code != exitError || !strings.Contains(errOut, "failed_precondition: sink \"pager\": rules act on it (builds/failed-build)") {
		t.Errorf("deleting a sink in use: exit %d, %s", code, errOut)
	}
	code, _, errOut = p.ctl(t, "sources", "delete", "builds")
	if code != exitError || !strings.Contains(errOut, `failed_precondition: source "builds" has rules (failed-build)`) {
		t.Errorf("deleting a source with rules: exit %d, %s", code, errOut)
	}
	wantLines(t, "rules delete", p.mustCtl(t, "rules", "delete", "builds/failed-build"), "rule builds/failed-build deleted")
	wantLines(t, "sinks delete", p.mustCtl(t, "sinks", "delete", "pager"), "sink pager deleted")
	wantLines(t, "sources delete", p.mustCtl(t, "sources", "delete", "builds"), "source builds deleted with 0 rule(s) and 0 API key(s)")

	refusals := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want string
	}{
		{"no token", map[string]string{"ZENITH_TOKEN": ""}, []string{"sources", "list"}, exitUsage, "no admin token"},
		{"wrong token", map[string]string{"ZENITH_TOKEN": "wrong-token-0123456789"}, []string{"sources", "list"}, exitError, "unauthenticated: the admin token is not valid"},
		{"missing rule", nil, []string{"rules", "get", "shop/nope"}, exitError, `not_found: source "shop"`},
		{"bad rule name", nil, []string{"rules", "get", "nope"}, exitUsage, "SOURCE/NAME"},
		{"unknown command", nil, []string{"frobnicate"}, exitUsage, "unknown command"},
		{"missing flag", nil, []string{"apply"}, exitUsage, `required flag(s) "file" not set`},
		{"bad output", nil, []string{"sources", "list", "-o", "xml"}, exitUsage, "-o must be table or json"},
		{"negative limit", nil, []string{"audit", "--limit", "-1"}, exitUsage, "--limit: must be between 1 and 1000, not -1"},
		{"limit too large", nil, []string{"dlq", "list", "--limit", "5000"}, exitUsage, "--limit: must be between 1 and 1000, not 5000"},
		{"zero limit", nil, []string{"dlq", "events", "list", "--limit", "0"}, exitUsage, "--limit: must be between 1 and 1000, not 0"},
		{"sequences and a filter", nil, []string{"dlq", "delete", "3", "--sink", "pager"}, exitUsage, "by sequence or by filters (or --all), not both"},
		{"sequences and --all", nil, []string{"dlq", "events", "replay", "3", "--all"}, exitUsage, "by sequence or by filters (or --all), not both"},
		{"server without a scheme", map[string]string{"ZENITH_SERVER": strings.TrimPrefix(p.env["ZENITH_SERVER"], "http://")}, []string{"sources", "list"}, exitOK, ""},
		{"server on the producers' port", map[string]string{"ZENITH_SERVER": p.ingestURL}, []string{"sources", "list"}, exitError,
			"is ZENITH_SERVER the admin API address (default port 8081)?"},
	}
	for _, tt := range refusals {
		saved := p.env
		p.env = map[string]string{}
		for k, v := range saved {
			p.env[k] = v
		}
		for k, v := range tt.env {
			p.env[k] = v
		}
		code, _, errOut := p.ctl(t, tt.args...)
		p.env = saved
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, %q; want exit %d saying %q", tt.name, code, errOut, tt.code, tt.want)
		}
	}
}
