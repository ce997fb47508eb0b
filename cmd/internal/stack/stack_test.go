package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/cmd/internal/stack"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const shopKey = "e2e-shop-key-0123456789"

// pipelineConfig sends VIP purchases over 500 to vip-alerts and the other
// purchases to archive. Orders give the other outcomes a sink of their
// own: order.failed goes to gone, which answers 410 and so dead-letters
// them; order.retried to flaky, which fails every attempt of the first
// delivery (see receiver).
const pipelineConfig = `
sources:
  - name: shop
    api_keys_from_env: [SHOP_API_KEY]
sinks:
  - {name: vip-alerts, type: webhook, url: "%[1]s/vip"}
  - {name: archive, type: webhook, url: "%[1]s/archive"}
  - {name: gone, type: webhook, url: "%[1]s/gone"}
  - {name: flaky, type: webhook, url: "%[1]s/flaky"}
rules:
  - name: vip-purchase
    source: shop
    event_type: purchase.completed
    condition:
      all:
        - {field: amount, operator: ">", value: 500}
        - {field: user.segment, operator: "==", value: VIP}
    actions: [vip-alerts]
  - {name: failed-orders, source: shop, event_type: order.failed, actions: [gone]}
  - {name: retried-orders, source: shop, event_type: order.retried, actions: [flaky]}
  - {name: archive-rest, source: shop, fallback: true, actions: [archive]}
`

// receiver counts deliveries per path and event id, as a webhook endpoint
// on loopback, and keeps the traceparent header and the body of the last
// delivery of each event. It answers 410 Gone on /gone, and 503 to the first
// flakyFailures deliveries of each event on /flaky.
type receiver struct {
	mu     sync.Mutex
	counts map[string]map[string]int
	total  int
	traces map[string]string
	bodies map[string]string
	calls  map[string]int
}

// flakyFailures is how many times /flaky fails an event before taking it:
// as many as the dispatcher's attempts in one delivery, so that the event
// comes back in a second delivery.
const flakyFailures = 3

func newReceiver() *receiver {
	return &receiver{counts: map[string]map[string]int{}, traces: map[string]string{}, bodies: map[string]string{}, calls: map[string]int{}}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body struct {
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	raw, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(raw, &body); err != nil || body.Event.ID == "" {
		http.Error(w, "bad delivery", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[body.Event.ID]++
	switch {
	case req.URL.Path == "/gone":
		http.Error(w, "gone", http.StatusGone)
		return
	case req.URL.Path == "/flaky" && r.calls[body.Event.ID] <= flakyFailures:
		http.Error(w, "try later", http.StatusServiceUnavailable)
		return
	}
	if r.counts[req.URL.Path] == nil {
		r.counts[req.URL.Path] = map[string]int{}
	}
	r.counts[req.URL.Path][body.Event.ID]++
	r.total++
	r.traces[body.Event.ID] = req.Header.Get("traceparent")
	r.bodies[body.Event.ID] = string(raw)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// traceparent returns the traceparent header of the delivery of event id,
// and whether it was delivered.
func (r *receiver) traceparent(id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	tp, ok := r.traces[id]
	return tp, ok
}

// body returns the body of the delivery of event id.
func (r *receiver) body(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[id]
}

// called returns how many requests for event id the receiver had.
func (r *receiver) called(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[id]
}

// pipeline is the three services running against a real PostgreSQL, a real
// NATS server and a receiver on loopback.
type pipeline struct {
	ingestURL string
	natsURL   string
	store     *store.Store
	recv      *receiver
	stack     *stack.Stack
}

// setup varies what startPipeline starts. Its zero value is the pipeline
// of pipelineConfig, logging nowhere.
type setup struct {
	// logs receives the services' JSON logs, at debug level.
	logs io.Writer
	// route returns the NATS and database addresses the services use in
	// place of the real ones, to put something between them.
	route func(natsURL, dsn string) (string, string)
	// env sets service variables beside the test defaults.
	env map[string]string
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	return startPipelineWith(t, setup{})
}

func startPipelineWith(t *testing.T, opts setup) *pipeline {
	t.Helper()
	ctx := context.Background()
	st, dsn := testenv.Store(t)
	natsURL := testenv.NATS(t)

	recv := newReceiver()
	server := httptest.NewServer(recv)
	t.Cleanup(server.Close)
	applyConfig(t, st, server.URL)

	serviceNATS, serviceDSN := natsURL, dsn
	if opts.route != nil {
		serviceNATS, serviceDSN = opts.route(natsURL, dsn)
	}
	s, err := stack.Start(ctx, testConfig(t, serviceNATS, serviceDSN, opts.env), func(service string) *slog.Logger {
		if opts.logs == nil {
			return slog.New(slog.DiscardHandler).With("service", service)
		}
		return telemetry.NewLogger(opts.logs, service, slog.LevelDebug)
	})
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
	return &pipeline{ingestURL: "http://" + s.Ingestor.Addr() + "/v1/events", natsURL: natsURL, store: st, recv: recv, stack: s}
}

// applyConfig applies pipelineConfig, whose sinks post to receiverURL.
func applyConfig(t *testing.T, st *store.Store, receiverURL string) {
	t.Helper()
	file, err := config.Parse(fmt.Appendf(nil, pipelineConfig, receiverURL))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string { return map[string]string{"SHOP_API_KEY": shopKey}[name] }
	if _, err := config.Apply(context.Background(), st, file, config.Options{Getenv: getenv}); err != nil {
		t.Fatal(err)
	}
}

// testConfig is each service's default configuration on free ports, with
// env's variables set too.
func testConfig(t *testing.T, natsURL, dsn string, env map[string]string) stack.Config {
	t.Helper()
	vars := map[string]string{"NATS_URL": natsURL, "DATABASE_URL": dsn,
		"INGESTOR_ADDR": "127.0.0.1:0", "INGESTOR_ADMIN_ADDR": "127.0.0.1:0", "INGESTOR_ADMIN_API_ADDR": "127.0.0.1:0",
		"ENGINE_ADMIN_ADDR": "127.0.0.1:0", "DISPATCHER_ADMIN_ADDR": "127.0.0.1:0",
		"DISPATCHER_EGRESS_ALLOW": "127.0.0.0/8,::1/128"}
	maps.Copy(vars, env)
	for name, value := range vars {
		t.Setenv(name, value)
	}
	cfg, err := stack.ConfigFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (p *pipeline) post(t *testing.T, key, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.ingestURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// purchase is the body of event i of the mix: even ones are VIP purchases
// over 500, odd ones are not (alternately a small VIP purchase and a large
// regular one).
func purchase(i int) string {
	amount, segment := 500.5+float64(i), "VIP"
	if i%2 == 1 {
		amount, segment = 742.5, "regular"
		if i%4 == 1 {
			amount, segment = 499.99, "VIP"
		}
	}
	return fmt.Sprintf(`{"id":"evt-%d","type":"purchase.completed","data":{"amount":%g,"user":{"segment":%q}}}`, i, amount, segment)
}

// mixFigures are what the tiers' metrics must show once the 1,000-event
// mix is delivered: every event received, accepted, evaluated and matched
// by one rule, and delivered once, half to each sink.
var mixFigures = []struct {
	counter
	want float64
}{
	{counter{"ingestor", "zenith_events_received_total", map[string]string{"transport": "http"}}, 1000},
	{counter{"ingestor", "zenith_events_accepted_total", map[string]string{"source": "shop"}}, 1000},
	{counter{"ingestor", "zenith_events_rejected_total", nil}, 0},
	{counter{"ingestor", "zenith_processing_duration_seconds", map[string]string{"tier": "ingestor"}}, 1000},
	{counter{"rule-engine", "zenith_rules_evaluated_total", map[string]string{"source": "shop"}}, 1000},
	{counter{"rule-engine", "zenith_rules_matched_total", map[string]string{"source": "shop"}}, 1000},
	{counter{"rule-engine", "zenith_rule_evaluation_duration_seconds", nil}, 1000},
	{counter{"rule-engine", "zenith_processing_duration_seconds", map[string]string{"tier": "rule-engine"}}, 1000},
	{counter{"dispatcher", "zenith_dispatch_total", map[string]string{"status": "delivered"}}, 1000},
	{counter{"dispatcher", "zenith_dispatch_total", map[string]string{"sink": "vip-alerts", "sink_type": "webhook", "status": "delivered"}}, 500},
	{counter{"dispatcher", "zenith_dispatch_total", map[string]string{"sink": "archive", "sink_type": "webhook", "status": "delivered"}}, 500},
	{counter{"dispatcher", "zenith_dead_lettered_total", nil}, 0},
	{counter{"dispatcher", "zenith_end_to_end_latency_seconds", map[string]string{"sink_type": "webhook"}}, 1000},
}

func TestThousandEventsReachTheirSinkExactlyOnce(t *testing.T) {
	p := startPipeline(t)
	const events = 1000
	counters := make([]counter, len(mixFigures))
	for i, f := range mixFigures {
		counters[i] = f.counter
	}
	// The tiers of every test of this package share one registry, so the
	// figures are differences.
	before := p.readCounters(t, counters)

	sendAll(t, p, events)
	sentAt := time.Now()

	// On a loaded machine the dispatcher may put an action back for later
	// (a lane stalled, DISPATCHER_REDELIVERY_BASE 10s): the bound leaves
	// room for that wait.
	testenv.WaitFor(t, 30*time.Second, func() bool { return p.recv.delivered() >= events })
	t.Logf("all %d deliveries arrived %v after the last send", events, time.Since(sentAt).Round(time.Millisecond))
	// Give a duplicate, if there were one, the time to show up.
	time.Sleep(500 * time.Millisecond)

	p.recv.mu.Lock()
	defer p.recv.mu.Unlock()
	if p.recv.total != events {
		t.Errorf("receiver got %d deliveries, want %d", p.recv.total, events)
	}
	for i := range events {
		id, want, other := fmt.Sprintf("evt-%d", i), "/vip", "/archive"
		if i%2 == 1 {
			want, other = "/archive", "/vip"
		}
		if n := p.recv.counts[want][id]; n != 1 {
			t.Errorf("%s reached %s %d times, want once", id, want, n)
		}
		if n := p.recv.counts[other][id]; n != 0 {
			t.Errorf("%s reached %s %d times, want never", id, other, n)
		}
	}

	delivered, err := p.store.CountAudit(context.Background(), store.StatusDelivered)
	if err != nil {
		t.Fatal(err)
	}
	if delivered != events {
		t.Errorf("audit log holds %d delivered rows, want %d", delivered, events)
	}

	after := p.readCounters(t, counters)
	for i, f := range mixFigures {
		if got := after[i] - before[i]; got != f.want {
			t.Errorf("%s /metrics: %s%v went up by %g, want %g", f.tier, f.metric, f.labels, got, f.want)
		}
	}
}

// sendAll posts the event mix from several producers at once.
func sendAll(t *testing.T, p *pipeline, events int) {
	t.Helper()
	const producers = 16
	var wg sync.WaitGroup
	for w := range producers {
		wg.Go(func() {
			for i := w; i < events; i += producers {
				if status := p.post(t, shopKey, purchase(i)); status != http.StatusAccepted {
					t.Errorf("event %d: status %d, want 202", i, status)
				}
			}
		})
	}
	wg.Wait()
}

func TestRefusedEventsReachNoSink(t *testing.T) {
	p := startPipeline(t)

	if status := p.post(t, "wrong-key-0123456789abcdef", purchase(0)); status != http.StatusUnauthorized {
		t.Errorf("wrong key: status %d, want 401", status)
	}
	if status := p.post(t, shopKey, `["not","an","object"]`); status != http.StatusBadRequest {
		t.Errorf("array body: status %d, want 400", status)
	}
	if status := p.post(t, shopKey, `{"type":"purchase.completed","data":42}`); status != http.StatusBadRequest {
		t.Errorf("data not an object: status %d, want 400", status)
	}
	// A good event sent after them is the marker that processing caught up.
	if status := p.post(t, shopKey, purchase(2)); status != http.StatusAccepted {
		t.Fatalf("good event: status %d, want 202", status)
	}
	testenv.WaitFor(t, 10*time.Second, func() bool { return p.recv.delivered() >= 1 })
	time.Sleep(300 * time.Millisecond)

	if n := p.recv.delivered(); n != 1 {
		t.Errorf("receiver got %d deliveries, want only the good event's", n)
	}
}

func TestVIPPurchaseIsAudited(t *testing.T) {
	p := startPipeline(t)
	body := `{"id":"vip-1","type":"purchase.completed","tenant":"acme","data":{"amount":742.5,"user":{"segment":"VIP"}}}`
	if status := p.post(t, shopKey, body); status != http.StatusAccepted {
		t.Fatalf("status %d, want 202", status)
	}

	var rows []store.AuditRecord
	testenv.WaitFor(t, 10*time.Second, func() bool {
		var err error
		rows, err = p.store.AuditByEvent(context.Background(), "shop", "vip-1")
		return err == nil && len(rows) == 1
	})
	row := rows[0]
	if row.Status != store.StatusDelivered || row.RuleName != "vip-purchase" || row.SinkName != "vip-alerts" ||
		row.Attempts != 1 || row.HTTPStatus != http.StatusNoContent || row.EventType != "purchase.completed" {
		t.Errorf("audit row = %+v", row)
	}
	// The producer's extension attribute travelled through both JetStream
	// hops to the sink.
	if delivered := p.recv.body("vip-1"); !strings.Contains(delivered, `"tenant":"acme"`) {
		t.Errorf("the sink got %s, want the event's tenant extension", delivered)
	}
}
