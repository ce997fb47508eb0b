package dispatcher

// Benchmarks of delivery and audit throughput, each with a baseline measured
// in the same run, so that the ratio holds on a shared, noisy machine. Run:
//
//	go test -run '^$' -bench . -benchtime 4500x ./services/dispatcher
//
// docs/sinks.md records the figures.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

// benchWorkers is the dispatcher's worker count in the benchmarks, and the
// concurrency of the baseline's POST loop.
const benchWorkers = 20

// startBench runs a dispatcher with the default retry and redelivery
// timings, logging only warnings.
func startBench(b *testing.B) *harness {
	b.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	return startLogging(b, func(c *Config) {
		c.WorkerCount = benchWorkers
		c.RetryBase, c.RetryCap = defaultRetryBase, defaultRetryCap
		c.RedeliveryBase, c.RedeliveryCap = defaultRedeliveryBase, defaultRedeliveryCap
	}, quiet)
}

// sink204 is a loopback endpoint answering every request with 204.
func sink204(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// publishAll publishes n actions for sinkID, of events named prefix-i, and
// returns their dispatch ids.
func (h *harness) publishAll(sinkID, prefix string, n int) []string {
	h.t.Helper()
	ids := make([]string, n)
	futures := make([]jetstream.PubAckFuture, n)
	for i := range n {
		a := testAction(h.ruleID, sinkID, fmt.Sprintf("%s-%d", prefix, i))
		ids[i] = a.DispatchID
		body, err := json.Marshal(a)
		if err != nil {
			h.t.Fatal(err)
		}
		futures[i], err = h.js.PublishAsync(bus.ActionSubject("webhook"), body, jetstream.WithMsgID(a.DispatchID))
		if err != nil {
			h.t.Fatal(err)
		}
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			h.t.Fatal(err)
		}
	}
	return ids
}

// waitDelivered waits until every dispatch of ids has a row.
func (h *harness) waitDelivered(ids []string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for _, id := range ids {
		for {
			if _, err := h.st.AuditByDispatch(context.Background(), id); err == nil {
				break
			}
			if time.Now().After(deadline) {
				h.t.Fatalf("timed out waiting for audit row %s", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// postLoop is the baseline: n JSON POSTs of the webhook body to url from
// benchWorkers goroutines with a plain net/http client. It returns the
// requests per second.
func postLoop(b *testing.B, url string, n int) float64 {
	body, err := envelope(testAction("r", "s", "baseline"))
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchWorkers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkDispatchWebhook delivers b.N actions to a loopback webhook
// through the whole dispatcher (JetStream, sink lookup, signed delivery,
// audit rows, acknowledgements) and compares with a bare POST loop to the
// same endpoint.
func BenchmarkDispatchWebhook(b *testing.B) {
	h := startBench(b)
	srv := sink204(b)
	sinkID := h.addSink("bench", `{"url":"`+srv.URL+`","secrets":["`+newSecret+`"]}`)
	h.waitDelivered(h.publishAll(sinkID, "warm", 200))

	b.ResetTimer()
	start := time.Now()
	h.waitDelivered(h.publishAll(sinkID, "ev", b.N))
	dispatched := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()

	baseline := postLoop(b, srv.URL, b.N)
	b.ReportMetric(dispatched, "dispatches/s")
	b.ReportMetric(baseline, "baseline_posts/s")
	b.ReportMetric(dispatched/baseline, "ratio")
}

// BenchmarkAuditWrite writes b.N audit rows in batches of the writer's size
// (a pgx batch of INSERT … ON CONFLICT DO NOTHING, one round trip), and
// compares with one INSERT per row.
func BenchmarkAuditWrite(b *testing.B) {
	st, _ := testenv.Store(b)
	ctx := context.Background()
	rows := func(prefix string, n int) []store.AuditRecord {
		out := make([]store.AuditRecord, n)
		for i := range out {
			a := testAction("11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222", fmt.Sprintf("%s-%d", prefix, i))
			out[i] = auditRecord(a, store.StatusDelivered, outcome{attempts: 1, code: http.StatusNoContent, latency: time.Millisecond})
		}
		return out
	}
	batched, single := rows("batch", b.N), rows("single", b.N)

	b.ResetTimer()
	start := time.Now()
	for i := 0; i < len(batched); i += defaultAuditBatchSize {
		if err := st.InsertAudit(ctx, batched[i:min(i+defaultAuditBatchSize, len(batched))]); err != nil {
			b.Fatal(err)
		}
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()

	start = time.Now()
	for _, r := range single {
		if err := st.InsertAudit(ctx, []store.AuditRecord{r}); err != nil {
			b.Fatal(err)
		}
	}
	baseline := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(baseline, "baseline_rows/s")
	b.ReportMetric(rate/baseline, "ratio")
}

// BenchmarkHealthyBesideDeadSinks measures a healthy sink's throughput
// alone, then while a hanging sink and a refusing sink take actions at the
// same time, alternating the two three times so that the machine's noise
// hits both alike, and reports the median ratio. The dead sinks each get
// a tenth as many actions as the healthy one, or as many.
func BenchmarkHealthyBesideDeadSinks(b *testing.B) {
	for _, share := range []int{10, 100} {
		b.Run(fmt.Sprintf("dead_share=%d%%", share), func(b *testing.B) {
			benchBesideDead(b, share)
		})
	}
}

func benchBesideDead(b *testing.B, sharePercent int) {
	h := startBench(b)
	srv := sink204(b)
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	b.Cleanup(hanging.Close)
	b.Cleanup(func() { close(release) })

	alone := h.addSink("alone", `{"url":"`+srv.URL+`"}`)
	h.waitDelivered(h.publishAll(alone, "warm", 200))
	healthy := h.addSink("healthy", `{"url":"`+srv.URL+`"}`)
	hangID := h.addSink("hanging", `{"url":"`+hanging.URL+`","timeout":"1m"}`)
	refusedID := h.addSink("refused", `{"url":"http://`+closedAddr(b)+`"}`)

	const rounds = 3
	n := max(1, b.N/rounds)
	dead := max(1, n*sharePercent/100)
	var aloneRates, besideRates, ratios []float64
	b.ResetTimer()
	for round := range rounds {
		start := time.Now()
		h.waitDelivered(h.publishAll(alone, fmt.Sprintf("alone-%d", round), n))
		aloneRates = append(aloneRates, float64(n)/time.Since(start).Seconds())

		start = time.Now()
		var wg sync.WaitGroup
		wg.Go(func() { h.publishAll(hangID, fmt.Sprintf("hang-%d", round), dead) })
		wg.Go(func() { h.publishAll(refusedID, fmt.Sprintf("refused-%d", round), dead) })
		h.waitDelivered(h.publishAll(healthy, fmt.Sprintf("healthy-%d", round), n))
		besideRates = append(besideRates, float64(n)/time.Since(start).Seconds())
		wg.Wait()
		ratios = append(ratios, besideRates[round]/aloneRates[round])
	}
	b.StopTimer()

	b.ReportMetric(median(aloneRates), "alone_dispatches/s")
	b.ReportMetric(median(besideRates), "beside_dead_dispatches/s")
	b.ReportMetric(median(ratios), "ratio")
}

func median(xs []float64) float64 {
	sorted := append([]float64(nil), xs...)
	sort.Float64s(sorted)
	return sorted[len(sorted)/2]
}

// BenchmarkArchive archives b.N events through one S3 sink to an
// S3-compatible server on loopback, and reports the events per second and
// the objects written (5000 events each by default).
func BenchmarkArchive(b *testing.B) {
	s3srv := newFakeS3(b)
	a := newTestArchive(b, s3srv.config(`"flush_after":"1h",`), 10000)
	var stored atomic.Int64
	done := func(r Result) {
		if r.Err != nil {
			b.Error(r.Err)
		}
		stored.Add(1)
	}
	acts := make([]action.Action, b.N)
	for i := range acts {
		acts[i] = testAction("r", "s", fmt.Sprintf("ev-%d", i))
	}

	b.ResetTimer()
	start := time.Now()
	for _, act := range acts {
		if err := a.Add(context.Background(), act, done); err != nil {
			b.Fatal(err)
		}
	}
	a.Close(context.Background())
	rate := float64(b.N) / time.Since(start).Seconds()
	b.StopTimer()

	if stored.Load() != int64(b.N) {
		b.Fatalf("%d events stored, want %d", stored.Load(), b.N)
	}
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(float64(len(s3srv.objects(b))), "objects")
}
