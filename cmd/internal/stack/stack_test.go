package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/cmd/internal/stack"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const shopKey = "e2e-shop-key-0123456789"

const pipelineConfig = `
sources:
  - name: shop
    api_keys_from_env: [SHOP_API_KEY]
sinks:
  - {name: vip-alerts, type: webhook, url: "%[1]s/vip"}
  - {name: archive, type: webhook, url: "%[1]s/archive"}
rules:
  - name: vip-purchase
    source: shop
    event_type: purchase.completed
    condition:
      all:
        - {field: amount, operator: ">", value: 500}
        - {field: user.segment, operator: "==", value: VIP}
    actions: [vip-alerts]
  - {name: archive-rest, source: shop, fallback: true, actions: [archive]}
`

// receiver counts deliveries per path and event id, as a webhook endpoint
// on loopback.
type receiver struct {
	mu     sync.Mutex
	counts map[string]map[string]int
	total  int
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
	if r.counts[req.URL.Path] == nil {
		r.counts[req.URL.Path] = map[string]int{}
	}
	r.counts[req.URL.Path][body.Event.ID]++
	r.total++
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// pipeline is the three services running against a real PostgreSQL, a real
// NATS server and a receiver on loopback.
type pipeline struct {
	ingestURL string
	store     *store.Store
	recv      *receiver
}

func startPipeline(t *testing.T) *pipeline {
	t.Helper()
	ctx := context.Background()
	st, dsn := testenv.Store(t)
	natsURL := testenv.NATS(t)

	recv := &receiver{counts: map[string]map[string]int{}}
	server := httptest.NewServer(recv)
	t.Cleanup(server.Close)

	file, err := config.Parse(fmt.Appendf(nil, pipelineConfig, server.URL))
	if err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string { return map[string]string{"SHOP_API_KEY": shopKey}[name] }
	if _, err := config.Apply(ctx, st, file, config.Options{Getenv: getenv}); err != nil {
		t.Fatal(err)
	}

	s, err := stack.Start(ctx, testConfig(t, natsURL, dsn), func(service string) *slog.Logger {
		return slog.New(slog.DiscardHandler).With("service", service)
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
	return &pipeline{ingestURL: "http://" + s.Ingestor.Addr() + "/v1/events", store: st, recv: recv}
}

// testConfig is each service's default configuration on free ports.
func testConfig(t *testing.T, natsURL, dsn string) stack.Config {
	t.Helper()
	vars := map[string]string{"NATS_URL": natsURL, "DATABASE_URL": dsn,
		"INGESTOR_ADDR": "127.0.0.1:0", "INGESTOR_ADMIN_ADDR": "127.0.0.1:0", "INGESTOR_ADMIN_API_ADDR": "127.0.0.1:0",
		"ENGINE_ADMIN_ADDR": "127.0.0.1:0", "DISPATCHER_ADMIN_ADDR": "127.0.0.1:0",
		"DISPATCHER_EGRESS_ALLOW": "127.0.0.0/8,::1/128"}
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

func TestThousandEventsReachTheirSinkExactlyOnce(t *testing.T) {
	p := startPipeline(t)
	const events = 1000

	sendAll(t, p, events)
	sentAt := time.Now()

	testenv.WaitFor(t, 10*time.Second, func() bool { return p.recv.delivered() >= events })
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
	body := `{"id":"vip-1","type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"}}}`
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
}
