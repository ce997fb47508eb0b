package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/localpg"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// waitTimeout bounds every wait for the service to reach a state.
const waitTimeout = 15 * time.Second

// request is one request a receiver got.
type request struct {
	webhookID string
	header    http.Header
	body      webhookBody
}

// receiver is a webhook endpoint on loopback answering with the status
// respond gives for its n-th request (from 1).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []request
	arrived chan request
}

func newReceiver(t *testing.T, respond func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan request, 100)}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := request{webhookID: r.Header.Get(WebhookIDHeader), header: r.Header.Clone()}
		if err := json.Unmarshal(b, &req.body); err != nil {
			t.Errorf("receiver: body %s: %v", b, err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, req)
		n := len(rc.got)
		rc.mu.Unlock()
		rc.arrived <- req
		w.WriteHeader(respond(n, r))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func answer(status int) func(int, *http.Request) int {
	return func(int, *http.Request) int { return status }
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// harness runs a Service against embedded NATS and a fresh database.
type harness struct {
	t      testing.TB
	st     *store.Store
	nc     *nats.Conn
	js     jetstream.JetStream
	svc    *Service
	cancel context.CancelFunc
	runErr chan error
	ruleID string
}

// start runs a dispatcher with quick retries, logging at debug level;
// tweak adjusts its config.
func start(t testing.TB, tweak func(*Config)) *harness {
	t.Helper()
	return startLogging(t, tweak, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// startLogging runs a dispatcher with quick retries, logging to log.
func startLogging(t testing.TB, tweak func(*Config), log *slog.Logger) *harness {
	t.Helper()
	st, dsn := testenv.Store(t)
	return startOn(t, st, dsn, tweak, log)
}

// startOn runs a dispatcher with quick retries over the database st at dsn.
func startOn(t testing.TB, st *store.Store, dsn string, tweak func(*Config), log *slog.Logger) *harness {
	t.Helper()
	natsURL := testenv.NATS(t)
	cfg := Config{
		NATSURL:        natsURL,
		DatabaseURL:    dsn,
		WorkerCount:    4,
		AdminAddr:      "127.0.0.1:0",
		RetryBase:      10 * time.Millisecond,
		RetryCap:       50 * time.Millisecond,
		RedeliveryBase: 50 * time.Millisecond,
		RedeliveryCap:  200 * time.Millisecond,
		DrainTimeout:   10 * time.Second,
		EgressAllow:    []string{"127.0.0.0/8", "::1/128"},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	svc, err := New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, st: st, nc: nc, js: js, svc: svc, cancel: cancel, runErr: make(chan error, 1), ruleID: uuid.NewString()}
	go func() { h.runErr <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := h.waitRun(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// waitRun waits for Run to return, once.
func (h *harness) waitRun() error {
	select {
	case err := <-h.runErr:
		h.runErr <- err // for the cleanup
		return err
	case <-time.After(waitTimeout):
		return errors.New("Run did not return")
	}
}

// addSink stores a webhook sink and returns its id.
func (h *harness) addSink(name, config string) string {
	h.t.Helper()
	return h.addSinkOfType(name, "webhook", config)
}

// addSinkOfType stores a sink of sinkType and returns its id.
func (h *harness) addSinkOfType(name, sinkType, config string) string {
	h.t.Helper()
	sink, _, err := h.st.PutSink(context.Background(), name, sinkType, json.RawMessage(config))
	if err != nil {
		h.t.Fatal(err)
	}
	return sink.ID
}

// publish publishes a on the actions stream with msgID, on the subject of
// its sink type.
func (h *harness) publish(a action.Action, msgID string) {
	h.t.Helper()
	b, err := json.Marshal(a)
	if err != nil {
		h.t.Fatal(err)
	}
	h.publishOn(bus.ActionSubject(a.Sink.Type), b, msgID)
}

func (h *harness) publishRaw(b []byte, msgID string) {
	h.t.Helper()
	h.publishOn(bus.ActionSubject("webhook"), b, msgID)
}

func (h *harness) publishOn(subject string, b []byte, msgID string) {
	h.t.Helper()
	_, err := h.js.Publish(context.Background(), subject, b, jetstream.WithMsgID(msgID))
	if err != nil {
		h.t.Fatal(err)
	}
}

// waitFor polls cond until it holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// auditRow waits for the audit row of a dispatch.
func (h *harness) auditRow(dispatchID string) store.AuditRecord {
	h.t.Helper()
	var rec store.AuditRecord
	h.waitFor("audit row "+dispatchID, func() bool {
		var err error
		rec, err = h.st.AuditByDispatch(context.Background(), dispatchID)
		return err == nil
	})
	return rec
}

// waitSettled waits until every published action is acknowledged, which
// removes it from the work-queue stream.
func (h *harness) waitSettled() {
	h.t.Helper()
	h.waitFor("actions stream to empty", func() bool {
		return h.actionsLeft() == 0
	})
}

func (h *harness) actionsLeft() uint64 {
	h.t.Helper()
	stream, err := h.js.Stream(context.Background(), bus.ActionsStream)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return info.State.Msgs
}

func (h *harness) countAudit(status string) int64 {
	h.t.Helper()
	n, err := h.st.CountAudit(context.Background(), status)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func TestDeliversEachActionOnce(t *testing.T) {
	h := start(t, nil)
	rc := newReceiver(t, answer(http.StatusAccepted))
	sinkID := h.addSink("vip-alerts", `{"url":"`+rc.URL+`/vip","headers":{"X-Team":"ops"}}`)

	sent := map[string]action.Action{}
	for _, eventID := range []string{"ev-1", "ev-2", "ev-3", "ev-4", "ev-5"} {
		a := testAction(h.ruleID, sinkID, eventID)
		sent[a.DispatchID] = a
		h.publish(a, a.DispatchID)
	}
	for id, a := range sent {
		rec := h.auditRow(id)
		if rec.Status != store.StatusDelivered || rec.Attempts != 1 || rec.HTTPStatus != http.StatusAccepted {
			t.Errorf("audit %s: status %q, attempts %d, http %d; want delivered, 1, 202", id, rec.Status, rec.Attempts, rec.HTTPStatus)
		}
		if rec.EventID != a.Event.ID || rec.Source != "shop" || rec.RuleID != h.ruleID || rec.RuleVersion != 3 || rec.SinkID != sinkID || rec.SinkName != "vip-alerts" {
			t.Errorf("audit %s names %+v, want the action's event, rule and sink", id, rec)
		}
	}
	h.waitSettled()

	got := rc.requests()
	if len(got) != len(sent) {
		t.Fatalf("receiver got %d requests, want %d", len(got), len(sent))
	}
	for _, req := range got {
		a, ok := sent[req.webhookID]
		if !ok {
			t.Errorf("request with unknown webhook-id %q", req.webhookID)
			continue
		}
		delete(sent, req.webhookID) // a second request for it fails above
		if req.body.DispatchID != a.DispatchID || req.body.Event.ID != a.Event.ID || req.body.Rule != a.Rule {
			t.Errorf("body %+v, want dispatch %s of event %s and rule %+v", req.body, a.DispatchID, a.Event.ID, a.Rule)
		}
		if string(req.body.Event.Data) != string(a.Event.Data) {
			t.Errorf("event data %s, want %s", req.body.Event.Data, a.Event.Data)
		}
		if req.header.Get("X-Team") != "ops" || req.header.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v, want X-Team: ops and JSON", req.header)
		}
	}
	if n := h.countAudit(store.StatusDelivered); n != 5 {
		t.Errorf("%d delivered rows, want 5", n)
	}
	if code := h.readyz(); code != http.StatusOK {
		t.Errorf("readyz answered %d, want 200", code)
	}
}

// readyz returns the status /readyz answers, or 0 when it cannot be reached.
func (h *harness) readyz() int {
	resp, err := http.Get("http://" + h.svc.AdminAddr() + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDeadLettersFinalFailure(t *testing.T) {
	h := start(t, nil)
	rc := newReceiver(t, answer(http.StatusBadRequest))
	a := testAction(h.ruleID, h.addSink("strict", `{"url":"`+rc.URL+`"}`), "ev-1")
	h.publish(a, a.DispatchID)

	rec := h.auditRow(a.DispatchID)
	if rec.Status != store.StatusDeadLettered || rec.Attempts != 1 || rec.HTTPStatus != http.StatusBadRequest || rec.Error != "webhook answered 400" {
		t.Errorf("audit: status %q, attempts %d, http %d, error %q; want dead_lettered, 1, 400, webhook answered 400",
			rec.Status, rec.Attempts, rec.HTTPStatus, rec.Error)
	}
	h.waitSettled()
	if n := len(rc.requests()); n != 1 {
		t.Errorf("receiver got %d requests, want 1 (a 400 is not retried)", n)
	}

	dead := h.deadLetter()
	want := map[string]string{
		action.DeadLetterReasonHeader:   "webhook answered 400",
		action.DeadLetterAttemptsHeader: "1",
		action.DeadLetterStatusHeader:   "400",
		jetstream.MsgIDHeader:           a.DispatchID,
	}
	for name, value := range want {
		if got := dead.Header.Get(name); got != value {
			t.Errorf("dead letter header %s = %q, want %q", name, got, value)
		}
	}
	got, err := action.Decode(dead.Data)
	if err != nil || got.DispatchID != a.DispatchID {
		t.Errorf("dead letter holds %+v (%v), want the action %s", got, err, a.DispatchID)
	}
}

// deadLetter returns the last message on the webhook dead-letter subject.
func (h *harness) deadLetter() *jetstream.RawStreamMsg {
	h.t.Helper()
	stream, err := h.js.Stream(context.Background(), bus.DeadLetterStream)
	if err != nil {
		h.t.Fatal(err)
	}
	msg, err := stream.GetLastMsgForSubject(context.Background(), bus.DeadLetterSubject("webhook"))
	if err != nil {
		h.t.Fatalf("read dead letter: %v", err)
	}
	return msg
}

func TestDeadLettersAfterMaxDeliver(t *testing.T) {
	h := start(t, func(c *Config) {
		c.MaxDeliver = 2
		c.RetryAttempts = 2
	})
	rc := newReceiver(t, answer(http.StatusServiceUnavailable))
	a := testAction(h.ruleID, h.addSink("down", `{"url":"`+rc.URL+`"}`), "ev-1")
	h.publish(a, a.DispatchID)

	rec := h.auditRow(a.DispatchID)
	if rec.Status != store.StatusDeadLettered || rec.Attempts != 4 || rec.HTTPStatus != http.StatusServiceUnavailable {
		t.Errorf("audit: status %q, attempts %d, http %d; want dead_lettered, 4, 503", rec.Status, rec.Attempts, rec.HTTPStatus)
	}
	h.waitSettled()
	if n := len(rc.requests()); n != 4 {
		t.Errorf("receiver got %d requests, want 2 deliveries × 2 attempts", n)
	}
	want := "webhook answered 503; gave up after 4 attempts in 2 deliveries (DISPATCHER_MAX_DELIVER)"
	if got := h.deadLetter().Header.Get(action.DeadLetterReasonHeader); got != want {
		t.Errorf("dead letter reason %q, want %q", got, want)
	}
}

func TestDoesNotDeliverRecordedDispatchAgain(t *testing.T) {
	h := start(t, nil)
	rc := newReceiver(t, answer(http.StatusOK))
	sinkID := h.addSink("once", `{"url":"`+rc.URL+`"}`)

	t.Run("second copy published", func(t *testing.T) {
		a := testAction(h.ruleID, sinkID, "ev-copy")
		h.publish(a, "first")
		h.auditRow(a.DispatchID)
		h.publish(a, "second")
		h.waitSettled()
		if n := countFor(rc.requests(), a.DispatchID); n != 1 {
			t.Errorf("receiver got the dispatch %d times, want 1", n)
		}
	})

	t.Run("redelivered after its row was written", func(t *testing.T) {
		a := testAction(h.ruleID, sinkID, "ev-recorded")
		err := h.st.InsertAudit(context.Background(), []store.AuditRecord{{
			DispatchID: a.DispatchID, EventID: a.Event.ID, Source: a.Event.Source, EventType: a.Event.Type,
			RuleID: a.Rule.ID, RuleName: a.Rule.Name, RuleVersion: a.Rule.Version,
			SinkID: a.Sink.ID, SinkName: a.Sink.Name, SinkType: a.Sink.Type,
			Status: store.StatusDelivered, Attempts: 1, HTTPStatus: 200, EventTime: a.Event.Time, MatchedAt: a.MatchedAt,
		}})
		if err != nil {
			t.Fatal(err)
		}
		h.publish(a, a.DispatchID)
		h.waitSettled()
		if n := countFor(rc.requests(), a.DispatchID); n != 0 {
			t.Errorf("receiver got the dispatch %d times, want 0", n)
		}
	})
}

func countFor(reqs []request, dispatchID string) int {
	n := 0
	for _, r := range reqs {
		if r.webhookID == dispatchID {
			n++
		}
	}
	return n
}

func TestRefusesMalformedAndUnknownSinkActions(t *testing.T) {
	h := start(t, nil)
	terminated := testutil.ToFloat64(metrics.ActionsTerminated.WithLabelValues("malformed_action"))

	malformed := []byte(`{"dispatch_id":"x"`)
	h.publishRaw(malformed, "malformed")
	h.waitSettled()
	dlq, err := h.js.Stream(context.Background(), bus.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := dlq.GetLastMsgForSubject(context.Background(), bus.MalformedActionSubject)
	if err != nil || !bytes.Equal(kept.Data, malformed) || kept.Header.Get(bus.OriginalSubjectHeader) != bus.ActionSubject("webhook") {
		t.Errorf("malformed action's dead letter = %v, %v; want it as sent, from %s", kept, err, bus.ActionSubject("webhook"))
	}
	if got := testutil.ToFloat64(metrics.ActionsTerminated.WithLabelValues("malformed_action")) - terminated; got != 1 {
		t.Errorf("malformed actions counted = %v, want 1", got)
	}

	a := testAction(h.ruleID, uuid.NewString(), "ev-1")
	h.publish(a, a.DispatchID)
	rec := h.auditRow(a.DispatchID)
	if rec.Status != store.StatusDeadLettered || rec.Attempts != 0 {
		t.Errorf("audit: status %q, attempts %d; want dead_lettered, 0", rec.Status, rec.Attempts)
	}
	h.waitSettled()
	if n := h.countAudit(store.StatusDeadLettered); n != 1 {
		t.Errorf("%d dead-lettered rows, want 1 (none for the malformed action)", n)
	}
}

func TestReloadsSinksOnChange(t *testing.T) {
	h := start(t, nil)
	before := newReceiver(t, answer(http.StatusOK))
	after := newReceiver(t, answer(http.StatusOK))
	sinkID := h.addSink("moving", `{"url":"`+before.URL+`"}`)

	first := testAction(h.ruleID, sinkID, "ev-1")
	h.publish(first, first.DispatchID)
	h.auditRow(first.DispatchID)

	h.addSink("moving", `{"url":"`+after.URL+`"}`)
	if err := bus.AnnounceChange(h.nc); err != nil {
		t.Fatal(err)
	}
	h.waitFor("sink reload", func() bool {
		d, ok := h.svc.sinks.lookup(sinkID)
		if !ok {
			return false
		}
		w, isWebhook := d.sink.(*webhook)
		return isWebhook && w.url == after.URL
	})

	second := testAction(h.ruleID, sinkID, "ev-2")
	h.publish(second, second.DispatchID)
	h.auditRow(second.DispatchID)
	if n, m := len(before.requests()), len(after.requests()); n != 1 || m != 1 {
		t.Errorf("old endpoint got %d requests and new one %d, want 1 each", n, m)
	}
}

func TestRunDrainsOnCancel(t *testing.T) {
	h := start(t, nil)
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, r *http.Request) int {
		<-release
		return http.StatusOK
	})
	sinkID := h.addSink("slow", `{"url":"`+rc.URL+`"}`)
	var ids []string
	for _, eventID := range []string{"ev-1", "ev-2", "ev-3"} {
		a := testAction(h.ruleID, sinkID, eventID)
		ids = append(ids, a.DispatchID)
		h.publish(a, a.DispatchID)
	}
	for range ids {
		<-rc.arrived
	}

	h.cancel()
	h.waitFor("readyz to report draining", func() bool {
		return h.readyz() == http.StatusServiceUnavailable
	})
	select {
	case err := <-h.runErr:
		t.Fatalf("Run returned %v before its deliveries finished", err)
	default:
	}
	close(release)
	if err := h.waitRun(); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	for _, id := range ids {
		if rec, err := h.st.AuditByDispatch(context.Background(), id); err != nil || rec.Status != store.StatusDelivered {
			t.Errorf("audit %s: %+v, %v; want delivered", id, rec, err)
		}
	}
	if n := h.actionsLeft(); n != 0 {
		t.Errorf("%d actions left in the stream after Run returned, want 0 (all acknowledged)", n)
	}
}

func TestAuditRowRefusedDoesNotBlockOthers(t *testing.T) {
	h := start(t, func(c *Config) { c.AuditLinger = 200 * time.Millisecond })
	rc := newReceiver(t, answer(http.StatusOK))
	sinkID := h.addSink("mixed", `{"url":"`+rc.URL+`"}`)

	// PostgreSQL refuses a NUL character in text, so this row cannot be
	// written; the long linger puts both rows in one batch.
	bad := testAction(h.ruleID, sinkID, "ev-bad")
	bad.Rule.Name = "nul\x00name"
	good := testAction(h.ruleID, sinkID, "ev-good")
	h.publish(bad, bad.DispatchID)
	h.publish(good, good.DispatchID)

	if rec := h.auditRow(good.DispatchID); rec.Status != store.StatusDelivered {
		t.Errorf("good row status %q, want delivered", rec.Status)
	}
	h.waitSettled()
	if _, err := h.st.AuditByDispatch(context.Background(), bad.DispatchID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bad row lookup: %v, want not found", err)
	}
	if n := len(rc.requests()); n != 2 {
		t.Errorf("receiver got %d requests, want 2 (the refused row is not delivered again)", n)
	}
}

func TestWaitsOutDatabaseOutage(t *testing.T) {
	cluster, pgOpts, dsn := testenv.OwnPostgres(t)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	const ackWait = 2 * time.Second
	h := startOn(t, st, dsn, func(c *Config) { c.AckWait = ackWait }, slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	rc := newReceiver(t, func(_ int, r *http.Request) int {
		<-release
		return http.StatusOK
	})
	sinkID := h.addSink("held", `{"url":"`+rc.URL+`"}`)
	var ids []string
	publish := func(eventID string) {
		a := testAction(h.ruleID, sinkID, eventID)
		ids = append(ids, a.DispatchID)
		h.publish(a, a.DispatchID)
	}
	for _, eventID := range []string{"ev-1", "ev-2", "ev-3"} {
		publish(eventID)
		<-rc.arrived
	}

	// The database goes away while the sink is answering: the deliveries
	// succeed, their audit rows cannot be written.
	ctx := context.Background()
	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	publish("ev-4")
	publish("ev-5")
	h.waitFor("readyz to report the database down", func() bool { return h.readyz() == http.StatusServiceUnavailable })

	// Across several ack waits nothing is acknowledged, nothing is
	// delivered twice and the actions that came meanwhile are not
	// delivered: none of them has a committed audit row.
	time.Sleep(3 * ackWait)
	if n := h.actionsLeft(); n != 5 {
		t.Errorf("actions left in the stream while the database is down = %d, want 5", n)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("sink requests while the database is down = %d, want the 3 made before", n)
	}

	if _, err := localpg.Start(ctx, pgOpts); err != nil {
		t.Fatal(err)
	}
	h.waitSettled()
	for _, id := range ids {
		if rec := h.auditRow(id); rec.Status != store.StatusDelivered {
			t.Errorf("audit %s: %s, want delivered", id, rec.Status)
		}
	}
	reqs := rc.requests()
	for _, id := range ids {
		if n := countFor(reqs, id); n != 1 {
			t.Errorf("webhook-id %s reached the sink %d times, want once", id, n)
		}
	}
}
