package ingestor_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zenith-hq/zenith/pkg/bus"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/testenv"
	"github.com/zenith-hq/zenith/services/ingestor"
)

// postEvent posts one small event with key and returns the status and the
// Retry-After header of the answer.
func postEvent(client *http.Client, url, key string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/events", strings.NewReader(`{"type":"a.b","data":{"n":1}}`))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set(ingestor.APIKeyHeader, key)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), nil
}

// storedCount returns the number of events in the events stream.
func (h *harness) storedCount(t *testing.T) int {
	t.Helper()
	stream, err := h.js.Stream(context.Background(), bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Msgs)
}

// waitsLong reports whether retryAfter is whole seconds near the 1000 it
// takes the test's bucket to refill one event: less by the seconds the
// test has run.
func waitsLong(retryAfter string) bool {
	n, err := strconv.Atoi(retryAfter)
	return err == nil && n > 900 && n <= 1000
}

// One key past its limit is refused with 429 and Retry-After, on REST and
// Connect, while another key's events, sent at the same time, are all
// accepted.
func TestNoisyKeyDoesNotStopAnother(t *testing.T) {
	// A bucket that does not refill within the test: the noisy key spends
	// its burst with one batch and is refused from then on.
	h := startWith(t, func(cfg *ingestor.Config) { cfg.RateLimit, cfg.RateBurst = 0.001, ingestor.MaxBatch })
	ctx := context.Background()
	client := zenithv1connect.NewIngestorServiceClient(h2cClient(), h.url)

	batch := &zenithv1.IngestBatchRequest{}
	for range ingestor.MaxBatch {
		batch.Events = append(batch.Events, &zenithv1.Event{Type: "a.b", Payload: &zenithv1.Event_DataJson{DataJson: []byte(`{}`)}})
	}
	req := connect.NewRequest(batch)
	req.Header().Set(ingestor.APIKeyHeader, shopKey)
	if _, err := client.IngestBatch(ctx, req); err != nil {
		t.Fatalf("the burst's batch: %v", err)
	}
	// The quiet key's first use costs a bcrypt check; have it done before
	// the flood, so that the requests race each other and not bcrypt.
	if status, _, err := postEvent(http.DefaultClient, h.url, otherKey); err != nil || status != http.StatusAccepted {
		t.Fatalf("the quiet key's first event: %d %v", status, err)
	}
	limited := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "rate_limited"))

	const noisy, quiet = 60, 20
	var wg sync.WaitGroup
	noisyStatus := make([]string, noisy)
	quietStatus := make([]int, quiet)
	for i := range noisy {
		wg.Go(func() {
			status, retry, err := postEvent(http.DefaultClient, h.url, shopKey)
			noisyStatus[i] = fmt.Sprintf("%d %v", status, err)
			if !waitsLong(retry) {
				noisyStatus[i] += " Retry-After " + retry
			}
		})
	}
	for i := range quiet {
		wg.Go(func() {
			status, _, err := postEvent(http.DefaultClient, h.url, otherKey)
			if err != nil {
				t.Error(err)
			}
			quietStatus[i] = status
		})
	}
	wg.Wait()

	for i, s := range noisyStatus {
		if s != "429 <nil>" {
			t.Errorf("noisy request %d: %s, want 429 with a Retry-After of some 1000 s", i, s)
		}
	}
	for i, s := range quietStatus {
		if s != http.StatusAccepted {
			t.Errorf("quiet request %d: %d, want 202", i, s)
		}
	}
	if got := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "rate_limited")) - limited; got != noisy {
		t.Errorf("rate_limited refusals counted = %v, want %d", got, noisy)
	}

	one := connect.NewRequest(&zenithv1.IngestRequest{Event: batch.Events[0]})
	one.Header().Set(ingestor.APIKeyHeader, shopKey)
	_, err := client.Ingest(ctx, one)
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != connect.CodeResourceExhausted || !waitsLong(cerr.Meta().Get("Retry-After")) {
		t.Errorf("Connect Ingest past the limit = %v, want ResourceExhausted with a Retry-After of some 1000 s", err)
	}

	// A refused batch counts each of its events, as received ones are.
	limited = testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "rate_limited"))
	if _, err := client.IngestBatch(ctx, req); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("batch past the limit = %v, want ResourceExhausted", err)
	}
	if got := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "rate_limited")) - limited; got != ingestor.MaxBatch {
		t.Errorf("rate_limited refusals counted for a batch of %d = %v", ingestor.MaxBatch, got)
	}
	if n := h.storedCount(t); n != ingestor.MaxBatch+quiet+1 {
		t.Errorf("stored %d events, want %d", n, ingestor.MaxBatch+quiet+1)
	}
}

// BenchmarkQuietKeyLatency times one key's requests, one after another,
// alone and while a noisy key floods the ingestor from four connections:
// with rate limiting (the noisy key is refused) and without (its events
// are all stored). Compare the three in one run; the machine's load moves
// all of them. noisy_req/s is how many requests the flood got answered.
func BenchmarkQuietKeyLatency(b *testing.B) {
	cases := []struct {
		name  string
		noisy bool
		rate  float64
	}{
		{"alone", false, 0.001},
		{"noisy_limited", true, 0.001},
		{"noisy_unlimited", true, 0},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h := startWith(b, func(cfg *ingestor.Config) {
				cfg.RateLimit, cfg.RateBurst = c.rate, ingestor.MaxBatch
			})
			quiet := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			if c.rate > 0 {
				// Spend the noisy key's burst, so that all it sends is refused.
				for range ingestor.MaxBatch {
					if _, _, err := postEvent(quiet, h.url, shopKey); err != nil {
						b.Fatal(err)
					}
				}
			}
			stop := make(chan struct{})
			var flood sync.WaitGroup
			var sent atomic.Int64
			for range 4 {
				if !c.noisy {
					break
				}
				flood.Go(func() {
					client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
					for {
						select {
						case <-stop:
							return
						default:
						}
						_, _, _ = postEvent(client, h.url, shopKey)
						sent.Add(1)
					}
				})
			}
			if c.noisy {
				testenv.WaitFor(b, 10*time.Second, func() bool { return sent.Load() >= 8 })
			}
			b.ResetTimer()
			start, sentBefore := time.Now(), sent.Load()
			for b.Loop() {
				if status, _, err := postEvent(quiet, h.url, otherKey); err != nil || status != http.StatusAccepted {
					b.Fatalf("quiet key: %d %v", status, err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(sent.Load()-sentBefore)/time.Since(start).Seconds(), "noisy_req/s")
			close(stop)
			flood.Wait()
		})
	}
}
