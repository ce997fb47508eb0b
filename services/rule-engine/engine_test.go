package ruleengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) {
	// Install the trace-context propagator, as main does.
	if _, err := telemetry.SetupTracing(context.Background(), "rule-engine-test"); err != nil {
		fmt.Fprintln(os.Stderr, "set up tracing:", err)
		os.Exit(1)
	}
	testenv.Main(m)
}

// shopConfig routes big VIP purchases to two sinks and archives the rest.
const shopConfig = `
sources:
  - name: shop
sinks:
  - {name: vip-alerts, type: webhook, url: "http://127.0.0.1:9000/vip"}
  - {name: crm, type: webhook, url: "http://127.0.0.1:9000/crm"}
  - {name: archive, type: webhook, url: "http://127.0.0.1:9000/archive"}
rules:
  - name: vip-purchase
    source: shop
    event_type: purchase.completed
    priority: 10
    condition:
      all:
        - {field: amount, operator: ">", value: 500}
        - {field: user.segment, operator: "==", value: VIP}
    actions: [vip-alerts, crm]
  - {name: archive-rest, source: shop, fallback: true, actions: [archive]}
`

// harness is one test's NATS server, database and client connection.
type harness struct {
	t   *testing.T
	cfg Config
	st  *store.Store
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	st, dsn := testenv.Store(t)
	natsURL := testenv.NATS(t)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureStreams(context.Background(), js, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		NATSURL:        natsURL,
		DatabaseURL:    dsn,
		WorkerCount:    4,
		AdminAddr:      "127.0.0.1:0",
		Resync:         time.Hour,
		AckWait:        30 * time.Second,
		MaxDeliver:     5,
		RetryDelay:     time.Second,
		PublishTimeout: 5 * time.Second,
		DrainTimeout:   10 * time.Second,
	}
	return &harness{t: t, cfg: cfg, st: st, nc: nc, js: js}
}

// apply puts the configuration file yaml in the database.
func (h *harness) apply(yaml string) {
	h.t.Helper()
	f, err := config.Parse([]byte(yaml))
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := config.Apply(context.Background(), h.st, f, config.Options{Getenv: func(string) string { return "" }}); err != nil {
		h.t.Fatal(err)
	}
}

// running is a service started by start.
type running struct {
	svc    *Service
	cancel context.CancelFunc
	done   chan error
}

// start runs a service until the test ends or stop is called.
func (h *harness) start() *running {
	h.t.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	svc, err := New(context.Background(), h.cfg, log)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{svc: svc, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- svc.Run(ctx) }()
	h.t.Cleanup(func() { r.stop(h.t) })
	return r
}

// stop cancels the service and returns what Run returned. It may be called
// more than once.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of its context ending")
		return nil
	}
}

// purchase returns a purchase.completed event of the shop.
func purchase(id string, amount int, segment string) event.Event {
	data := fmt.Sprintf(`{"amount": %d, "user": {"segment": %q}}`, amount, segment)
	return event.Event{
		ID:     id,
		Source: "shop",
		Type:   "purchase.completed",
		Time:   time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Data:   []byte(data),
	}
}

// publish stores ev in the events stream, as the ingestor does.
func (h *harness) publish(ev event.Event) {
	h.t.Helper()
	h.publishMsg(&nats.Msg{Subject: bus.EventSubject(ev.Source, ev.Type), Header: ev.Header(), Data: ev.Data})
}

func (h *harness) publishMsg(msg *nats.Msg) {
	h.t.Helper()
	if _, err := h.js.PublishMsg(context.Background(), msg); err != nil {
		h.t.Fatalf("publish %s: %v", msg.Subject, err)
	}
}

// waitIdle waits until the rule-engine's consumer has answered every event
// stored so far. It compares sequences because the consumer's pending count
// catches up with the stream asynchronously.
func (h *harness) waitIdle() *jetstream.ConsumerInfo {
	h.t.Helper()
	stream, err := h.js.Stream(context.Background(), bus.EventsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	last := stream.CachedInfo().State.LastSeq
	var info *jetstream.ConsumerInfo
	h.eventually(10*time.Second, "consumer idle", func() bool {
		info = h.consumerInfo()
		return info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
	return info
}

// consumerInfo returns the state of the rule-engine's consumer.
func (h *harness) consumerInfo() *jetstream.ConsumerInfo {
	h.t.Helper()
	ctx := context.Background()
	c, err := h.js.Consumer(ctx, bus.EventsStream, ConsumerName)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	return info
}

// eventually polls cond until it holds, failing the test after timeout.
func (h *harness) eventually(timeout time.Duration, what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("%s: not reached within %s", what, timeout)
		}
		<-tick.C
	}
}

// stored is an action as found in the actions stream.
type stored struct {
	Subject     string
	MsgID       string
	TraceParent string
	Action      action.Action
}

// actions returns every message in the actions stream, in order.
func (h *harness) actions() []stored {
	h.t.Helper()
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, bus.ActionsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	state := stream.CachedInfo().State
	var list []stored
	for seq := state.FirstSeq; state.Msgs > 0 && seq <= state.LastSeq; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		a, err := action.Decode(raw.Data)
		if err != nil {
			h.t.Fatal(err)
		}
		list = append(list, stored{
			Subject:     raw.Subject,
			MsgID:       raw.Header.Get(jetstream.MsgIDHeader),
			TraceParent: raw.Header.Get("traceparent"),
			Action:      a,
		})
	}
	return list
}

// ids maps rule and sink names to their ids in the database.
type ids struct {
	rules map[string]store.Rule
	sinks map[string]action.SinkRef
}

func (h *harness) ids() ids {
	h.t.Helper()
	list, err := h.st.ListRules(context.Background(), false)
	if err != nil {
		h.t.Fatal(err)
	}
	x := ids{rules: map[string]store.Rule{}, sinks: map[string]action.SinkRef{}}
	for _, r := range list {
		x.rules[r.Name] = r
		for _, k := range r.Sinks {
			x.sinks[k.Name] = action.SinkRef{ID: k.ID, Name: k.Name, Type: k.Type}
		}
	}
	return x
}

// want is the action expected for ev, rule and sink, as summarised by
// summary.
func (x ids) want(ev event.Event, rule, sink string) summary {
	r := x.rules[rule]
	return summary{
		Subject:    "zenith.actions.webhook",
		DispatchID: action.DispatchID(ev.Source, ev.ID, r.ID, x.sinks[sink].ID),
		EventID:    ev.ID,
		Rule:       action.RuleRef{ID: r.ID, Name: r.Name, Version: r.Version},
		Sink:       x.sinks[sink],
	}
}

// summary is what the tests compare of a stored action.
type summary struct {
	Subject    string
	DispatchID string
	EventID    string
	Rule       action.RuleRef
	Sink       action.SinkRef
}

func summarise(t *testing.T, list []stored) []summary {
	t.Helper()
	out := make([]summary, len(list))
	for i, s := range list {
		if s.MsgID != s.Action.DispatchID {
			t.Errorf("action %s has Nats-Msg-Id %q", s.Action.DispatchID, s.MsgID)
		}
		out[i] = summary{
			Subject:    s.Subject,
			DispatchID: s.Action.DispatchID,
			EventID:    s.Action.Event.ID,
			Rule:       s.Action.Rule,
			Sink:       s.Action.Sink,
		}
	}
	return sortSummaries(out)
}

func sortSummaries(list []summary) []summary {
	slices.SortFunc(list, func(a, b summary) int { return strings.Compare(a.DispatchID, b.DispatchID) })
	return list
}

func TestMatchedRulesBecomeActions(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	h.start()
	x := h.ids()

	vip := purchase("order-1", 900, "VIP")
	regular := purchase("order-2", 900, "regular")
	small := purchase("order-3", 100, "VIP")
	// An event of a source no rule is written for matches nothing, and
	// does not add the made-up source to the metrics' labels.
	madeUp := purchase("order-4", 900, "VIP")
	madeUp.Source = "made-up"
	shopBefore := testutil.ToFloat64(metrics.RulesEvaluated.WithLabelValues("shop"))
	withoutRules := testutil.ToFloat64(metrics.RulesEvaluated.WithLabelValues("no_rules"))
	// The VIP purchase arrives with the trace of the request that sent it.
	vipMsg := &nats.Msg{Subject: bus.EventSubject(vip.Source, vip.Type), Header: vip.Header(), Data: vip.Data}
	vipMsg.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	h.publishMsg(vipMsg)
	h.publish(regular)
	h.publish(small)
	h.publish(madeUp)
	h.waitIdle()
	if got := testutil.ToFloat64(metrics.RulesEvaluated.WithLabelValues("shop")) - shopBefore; got != 3 {
		t.Errorf("shop events evaluated = %v, want 3", got)
	}
	if got := testutil.ToFloat64(metrics.RulesEvaluated.WithLabelValues("no_rules")) - withoutRules; got != 1 {
		t.Errorf("events of a source without rules counted = %v, want 1 under no_rules", got)
	}

	got := h.actions()
	want := sortSummaries([]summary{
		x.want(vip, "vip-purchase", "vip-alerts"),
		x.want(vip, "vip-purchase", "crm"),
		x.want(regular, "archive-rest", "archive"),
		x.want(small, "archive-rest", "archive"),
	})
	if diff := cmp.Diff(want, summarise(t, got)); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	for _, s := range got {
		checkCarriesEvent(t, s.Action)
		gotTrace := strings.Split(s.TraceParent, "-")
		if s.Action.Event.ID == vip.ID && (len(gotTrace) != 4 || gotTrace[1] != traceID) {
			t.Errorf("action %s: traceparent %q, want trace %s continued", s.Action.DispatchID, s.TraceParent, traceID)
		}
	}
}

// traceID is the trace a test event carries.
const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"

// checkCarriesEvent checks that a carries its whole event and sensible
// timestamps.
func checkCarriesEvent(t *testing.T, a action.Action) {
	t.Helper()
	var amount struct{ Amount int }
	if err := json.Unmarshal(a.Event.Data, &amount); err != nil || amount.Amount == 0 {
		t.Errorf("action %s: event data %s lost its amount (err %v)", a.DispatchID, a.Event.Data, err)
	}
	if a.Event.Source != "shop" || a.Event.Type != "purchase.completed" {
		t.Errorf("action %s: event source/type = %s/%s, want shop/purchase.completed", a.DispatchID, a.Event.Source, a.Event.Type)
	}
	if a.AcceptedAt.IsZero() || a.MatchedAt.Before(a.AcceptedAt) {
		t.Errorf("action %s: accepted at %v, matched at %v; want matched after accepted", a.DispatchID, a.AcceptedAt, a.MatchedAt)
	}
	if time.Since(a.AcceptedAt) > time.Minute {
		t.Errorf("action %s: accepted at %v, want the event's storage time, not its own time", a.DispatchID, a.AcceptedAt)
	}
}

func TestRedeliveredEventIsNotActedOnTwice(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	h.start()
	x := h.ids()

	vip := purchase("order-7", 700, "VIP")
	h.publish(vip)
	h.publish(vip)
	info := h.waitIdle()

	if got := info.Delivered.Consumer; got != 2 {
		t.Fatalf("events delivered to the rule-engine = %d, want 2", got)
	}
	want := sortSummaries([]summary{
		x.want(vip, "vip-purchase", "vip-alerts"),
		x.want(vip, "vip-purchase", "crm"),
	})
	if diff := cmp.Diff(want, summarise(t, h.actions())); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestMalformedEventIsTerminated(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	h.start()
	x := h.ids()

	noID := purchase("ignored", 900, "VIP")
	noIDMsg := &nats.Msg{Subject: "zenith.events.shop.purchase.completed", Header: noID.Header(), Data: noID.Data}
	noIDMsg.Header.Del(event.HeaderID)
	array := purchase("order-8", 900, "VIP")
	array.Data = []byte(`[1, 2]`)
	elsewhere := purchase("order-9", 900, "VIP")
	good := purchase("order-10", 900, "VIP")

	tests := []struct {
		name   string
		msg    *nats.Msg
		reason string
	}{
		{"no ce-id", noIDMsg, "invalid_id"},
		{"data not an object", &nats.Msg{Subject: "zenith.events.shop.purchase.completed", Header: array.Header(), Data: array.Data}, "invalid_data"},
		{"subject of another source", &nats.Msg{Subject: "zenith.events.other.purchase.completed", Header: elsewhere.Header(), Data: elsewhere.Data}, "wrong_subject"},
	}
	before := map[string]float64{}
	for _, tt := range tests {
		before[tt.reason] = testutil.ToFloat64(metrics.EventsTerminated.WithLabelValues(tt.reason))
		h.publishMsg(tt.msg)
	}
	h.publish(good)
	info := h.waitIdle()

	for _, tt := range tests {
		got := testutil.ToFloat64(metrics.EventsTerminated.WithLabelValues(tt.reason)) - before[tt.reason]
		if got != 1 {
			t.Errorf("%s: terminated with reason %s %v times, want 1", tt.name, tt.reason, got)
		}
	}
	if got := info.NumRedelivered; got != 0 {
		t.Errorf("redelivered events = %d, want 0: malformed events must not be retried", got)
	}
	want := sortSummaries([]summary{
		x.want(good, "vip-purchase", "vip-alerts"),
		x.want(good, "vip-purchase", "crm"),
	})
	if diff := cmp.Diff(want, summarise(t, h.actions())); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestRuleChangeAppliesWithoutRestart(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	h.start()

	first := purchase("order-20", 300, "VIP")
	h.publish(first)
	h.waitIdle()

	// Lower the VIP threshold, and announce it as the admin API does.
	h.apply(strings.Replace(shopConfig, `value: 500`, `value: 200`, 1))
	reloads := testutil.ToFloat64(metrics.RuleSetReloads.WithLabelValues("ok"))
	announced := time.Now()
	if err := bus.AnnounceChange(h.nc); err != nil {
		t.Fatal(err)
	}
	h.eventually(time.Second, "rules reloaded", func() bool {
		return testutil.ToFloat64(metrics.RuleSetReloads.WithLabelValues("ok")) > reloads
	})
	t.Logf("rules reloaded %s after the announcement", time.Since(announced))

	second := purchase("order-21", 300, "VIP")
	h.publish(second)
	h.waitIdle()

	x := h.ids()
	if v := x.rules["vip-purchase"].Version; v != 2 {
		t.Fatalf("vip-purchase version after the change = %d, want 2", v)
	}
	want := sortSummaries([]summary{
		x.want(first, "archive-rest", "archive"),
		x.want(second, "vip-purchase", "vip-alerts"),
		x.want(second, "vip-purchase", "crm"),
	})
	if diff := cmp.Diff(want, summarise(t, h.actions())); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

func TestRunDrainsOnCancel(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	x := h.ids()

	const n = 300
	var want []summary
	for i := range n {
		ev := purchase(fmt.Sprintf("order-%d", 100+i), 400+i, "VIP")
		h.publish(ev)
		if 400+i > 500 {
			want = append(want, x.want(ev, "vip-purchase", "vip-alerts"), x.want(ev, "vip-purchase", "crm"))
		} else {
			want = append(want, x.want(ev, "archive-rest", "archive"))
		}
	}

	ignoreRunning := goleak.IgnoreCurrent()
	first := h.start()
	checkReady(t, first.svc.AdminAddr(), http.StatusOK)
	h.eventually(10*time.Second, "first actions", func() bool { return len(h.actions()) > 0 })
	if err := first.stop(t); err != nil {
		t.Fatalf("Run returned %v after its context ended, want nil", err)
	}
	if err := goleak.Find(append(ignoreDurableConsumer(), ignoreRunning)...); err != nil {
		t.Errorf("goroutines left running by the stopped service: %v", err)
	}
	info := h.consumerInfo()
	if got := info.NumAckPending; got != 0 {
		t.Errorf("events left unacknowledged by the stopped service = %d, want 0", got)
	}
	t.Logf("first run handled %d of %d events", n-int(info.NumPending), n)

	h.start()
	h.waitIdle()
	if diff := cmp.Diff(sortSummaries(want), summarise(t, h.actions())); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
}

// ignoreDurableConsumer ignores the embedded server's goroutines for the
// durable consumer the service created: the consumer outlives the service
// by design.
func ignoreDurableConsumer() []goleak.Option {
	var opts []goleak.Option
	for _, fn := range []string{
		"loopAndGatherMsgs", "processInboundAcks", "processInboundNextMsgReqs",
	} {
		opts = append(opts, goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*consumer)."+fn))
	}
	return append(opts, goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*consumerFileStore).flushLoop"))
}

// checkReady checks the status /readyz answers.
func checkReady(t *testing.T, addr string, want int) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		t.Errorf("/readyz = %d %s, want %d", resp.StatusCode, body, want)
	}
}

func TestNewFailsEarly(t *testing.T) {
	h := newHarness(t)
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no NATS", func(c *Config) { c.NATSURL = "nats://127.0.0.1:1" }, "connect to NATS"},
		{"no database", func(c *Config) { c.DatabaseURL = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1" }, "database"},
		{"bad config", func(c *Config) { c.WorkerCount = 0 }, "ENGINE_WORKER_COUNT"},
		{"admin port taken", nil, "admin server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := h.cfg
			if tt.change != nil {
				tt.change(&cfg)
			} else {
				cfg.AdminAddr = h.start().svc.AdminAddr()
			}
			_, err := New(context.Background(), cfg, log)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
func TestRunFailsWhenConsumerIsDeleted(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	r := h.start()

	if err := h.js.DeleteConsumer(context.Background(), bus.EventsStream, ConsumerName); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.done:
		close(r.done)
		if err == nil || !strings.Contains(err.Error(), "consumer") {
			t.Errorf("Run() = %v, want an error naming the consumer", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after its consumer was deleted")
	}
}

// TestRuleChangeReachesLiveStream changes a rule while events stream in to
// two replicas: every event is acted on exactly once, by the rules in force
// when it was evaluated, each action records the version of the rule that
// fired it, and every event sent a second after the change announcement
// meets the new rule on whichever replica evaluates it.
func TestRuleChangeReachesLiveStream(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	replicas := []*running{h.start(), h.start()}

	const events = 150
	const changeAt = 40
	sentAt := make(map[string]time.Time, events)
	var announced time.Time
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := range events {
		if i == changeAt {
			// Lower the VIP threshold below the stream's amounts.
			h.apply(strings.Replace(shopConfig, `value: 500`, `value: 200`, 1))
			if err := bus.AnnounceChange(h.nc); err != nil {
				t.Fatal(err)
			}
			announced = time.Now()
		}
		ev := purchase(fmt.Sprintf("live-%03d", i), 300, "VIP")
		h.publish(ev)
		sentAt[ev.ID] = time.Now()
		<-tick.C
	}
	h.waitIdle()

	for i, r := range replicas {
		set := r.svc.rules.forSource("shop")
		for _, rule := range set.Rules() {
			if rule.Name == "vip-purchase" && rule.Version != 2 {
				t.Errorf("replica %d holds vip-purchase version %d, want 2", i, rule.Version)
			}
		}
	}

	fired := map[string][]action.RuleRef{}
	for _, s := range h.actions() {
		fired[s.Action.Event.ID] = append(fired[s.Action.Event.ID], s.Action.Rule)
	}
	late := 0
	for id, sent := range sentAt {
		refs := fired[id]
		switch {
		case len(refs) == 1 && refs[0].Name == "archive-rest" && refs[0].Version == 1:
			if sent.Sub(announced) > time.Second {
				t.Errorf("event %s sent %s after the announcement still went to the archive", id, sent.Sub(announced))
			}
		case len(refs) == 2 && refs[0].Name == "vip-purchase" && refs[0].Version == 2 && refs[1] == refs[0]:
			// Also right for an event sent before the change but
			// evaluated after it.
			late++
		default:
			t.Errorf("event %s fired %+v, want either archive-rest v1 or vip-purchase v2 (two sinks)", id, refs)
		}
	}
	if len(fired) != events {
		t.Errorf("%d events were acted on, want %d", len(fired), events)
	}
	t.Logf("%d of %d events met the new rule", late, events)
}
