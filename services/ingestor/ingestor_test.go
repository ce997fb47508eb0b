package ingestor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/natsembed"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
	"github.com/zenith-hq/zenith/services/ingestor"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	shopKey  = "shop-key-0123456789abcdef"
	otherKey = "other-key-0123456789abcdef"
)

const testConfig = `
sources:
  - name: shop
    api_keys_from_env: [SHOP_API_KEY]
  - name: billing
    api_keys_from_env: [BILLING_API_KEY]
`

// harness is a running ingestor over a real database and NATS server.
type harness struct {
	url      string
	adminURL string
	dsn      string
	natsURL  string
	st       *store.Store
	nc       *nats.Conn
	js       jetstream.JetStream
	stop     func()
}

func start(t *testing.T) *harness {
	t.Helper()
	return startWith(t, func(*ingestor.Config) {})
}

// startWith starts an ingestor with the test configuration as edit leaves
// it, over a fresh database and NATS server.
func startWith(t testing.TB, edit func(*ingestor.Config)) *harness {
	t.Helper()
	return startWithNATS(t, testenv.NATS(t), edit)
}

// startWithNATS is startWith against the NATS server at natsURL.
func startWithNATS(t testing.TB, natsURL string, edit func(*ingestor.Config)) *harness {
	t.Helper()
	st, dsn := testenv.Store(t)

	file, err := config.Parse([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SHOP_API_KEY": shopKey, "BILLING_API_KEY": otherKey}
	if _, err := config.Apply(context.Background(), st, file, config.Options{Getenv: func(k string) string { return env[k] }}); err != nil {
		t.Fatal(err)
	}
	h := launch(t, dsn, natsURL, edit)
	h.st = st
	return h
}

// startOn starts another ingestor over the database and NATS server of a
// running one, with the default key revalidation interval.
func startOn(t *testing.T, dsn, natsURL string) *harness {
	t.Helper()
	return launch(t, dsn, natsURL, func(cfg *ingestor.Config) { cfg.KeyRevalidate = 5 * time.Second })
}

// launch runs an ingestor until the test ends.
func launch(t testing.TB, dsn, natsURL string, edit func(*ingestor.Config)) *harness {
	t.Helper()
	ctx := context.Background()
	cfg := ingestor.Config{
		NATSURL: natsURL, DatabaseURL: dsn, ListenAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		KeyRevalidate: time.Second, MaxBodyBytes: 64 << 10, MaxDecompressedBytes: 256 << 10, PublishTimeout: 2 * time.Second, ShutdownGrace: 5 * time.Second,
		AdminAPIAddr: "127.0.0.1:0",
	}
	edit(&cfg)
	svc, err := ingestor.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		if runCtx.Err() == nil {
			stop()
		}
	})

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{url: "http://" + svc.Addr(), dsn: dsn, natsURL: natsURL, nc: nc, js: js, stop: stop}
	if addr := svc.AdminAPIAddr(); addr != "" {
		h.adminURL = "http://" + addr
	}
	return h
}

func (h *harness) post(t *testing.T, key, body string) (int, map[string]any) {
	t.Helper()
	status, _, out := h.postFull(t, key, body)
	return status, out
}

// postFull posts an event and returns the answer's status, headers and
// JSON body.
func (h *harness) postFull(t *testing.T, key, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/v1/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(ingestor.APIKeyHeader, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// storedEvents returns the events in the events stream, in order.
func (h *harness) storedEvents(t *testing.T) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	return msgs
}

func TestRESTAcceptsAndPersists(t *testing.T) {
	h := start(t)

	status, body := h.post(t, shopKey, `{"id":"order-1","type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"}}}`)
	if status != http.StatusAccepted || body["id"] != "order-1" || body["duplicate"] != false {
		t.Fatalf("got %d %v, want 202 with id order-1", status, body)
	}

	msgs := h.storedEvents(t)
	if len(msgs) != 1 {
		t.Fatalf("stream holds %d events, want 1", len(msgs))
	}
	msg := msgs[0]
	if msg.Subject != "zenith.events.shop.purchase.completed" {
		t.Errorf("subject = %q", msg.Subject)
	}
	got, err := event.FromNATS(msg.Header, msg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "order-1" || got.Source != "shop" || got.Type != "purchase.completed" || got.Time.IsZero() {
		t.Errorf("stored event = %+v", got)
	}
	if string(got.Data) != `{"amount":742.5,"user":{"segment":"VIP"}}` {
		t.Errorf("stored data = %s, want the bytes sent", got.Data)
	}
}

func TestRESTAssignsIDAndDeduplicates(t *testing.T) {
	h := start(t)

	status, body := h.post(t, shopKey, `{"type":"user.created","data":{}}`)
	id, _ := body["id"].(string)
	if status != http.StatusAccepted || len(id) != 36 {
		t.Fatalf("got %d %v, want 202 with a generated UUID", status, body)
	}

	resend := `{"id":"dup-1","type":"user.created","data":{"n":1}}`
	if status, body := h.post(t, shopKey, resend); status != http.StatusAccepted || body["duplicate"] != false {
		t.Fatalf("first send: %d %v", status, body)
	}
	if status, body := h.post(t, shopKey, resend); status != http.StatusAccepted || body["duplicate"] != true {
		t.Fatalf("resend: %d %v, want 202 duplicate", status, body)
	}
	// The same id from another source is another event.
	if status, body := h.post(t, otherKey, resend); status != http.StatusAccepted || body["duplicate"] != false {
		t.Fatalf("other source: %d %v", status, body)
	}
	if n := len(h.storedEvents(t)); n != 3 {
		t.Fatalf("stream holds %d events, want 3", n)
	}
}

func TestRESTRefusals(t *testing.T) {
	h := start(t)
	valid := `{"type":"purchase.completed","data":{"amount":1}}`

	tests := []struct {
		name, key, body string
		status          int
		field           string
	}{
		{"no key", "", valid, 401, ""},
		{"unknown key", "unknown-key-0123456789abc", valid, 401, ""},
		{"malformed key", "short", valid, 401, ""},
		{"body not an object", shopKey, `[1,2]`, 400, "body"},
		{"invalid JSON", shopKey, `{"type":`, 400, "body"},
		{"data not an object", shopKey, `{"type":"a.b","data":"x"}`, 400, "data"},
		{"data missing", shopKey, `{"type":"a.b"}`, 400, "data"},
		{"type missing", shopKey, `{"data":{}}`, 400, "type"},
		{"type with a wildcard", shopKey, `{"type":"a.>","data":{}}`, 400, "type"},
		{"attribute no extension may be called", shopKey, `{"type":"a.b","data":{},"Colour":"red"}`, 400, "Colour"},
		{"bad time", shopKey, `{"type":"a.b","time":"yesterday","data":{}}`, 400, "time"},
		{"another source", shopKey, `{"type":"a.b","source":"billing","data":{}}`, 400, "source"},
	}
	var unauthenticated map[string]any
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := h.post(t, tt.key, tt.body)
			if status != tt.status {
				t.Fatalf("status = %d (%v), want %d", status, body, tt.status)
			}
			if tt.status == 401 {
				if unauthenticated != nil && !equalJSON(body, unauthenticated) {
					t.Errorf("401 body %v differs from %v", body, unauthenticated)
				}
				unauthenticated = body
				return
			}
			if body["field"] != tt.field || !strings.HasPrefix(body["message"].(string), tt.field+": ") {
				t.Errorf("body = %v, want an error naming %q", body, tt.field)
			}
		})
	}

	big := `{"type":"a.b","data":{"pad":"` + strings.Repeat("x", 70<<10) + `"}}`
	if status, _ := h.post(t, shopKey, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", status)
	}
	if n := len(h.storedEvents(t)); n != 0 {
		t.Errorf("stream holds %d events after refusals, want 0", n)
	}
}

// Another method than POST on /v1/events gets the JSON of every other REST
// error, and the Allow header RFC 9110 asks for.
func TestRESTOnlyPost(t *testing.T) {
	h := start(t)
	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, err := http.NewRequest(method, h.url+"/v1/events", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		want := map[string]any{"error": "method_not_allowed", "message": "method " + method + " is not allowed: send events with POST"}
		if err != nil || resp.StatusCode != http.StatusMethodNotAllowed || !equalJSON(body, want) {
			t.Errorf("%s: %d %v (%v), want 405 %v", method, resp.StatusCode, body, err, want)
		}
		if got := resp.Header.Get("Allow"); got != http.MethodPost {
			t.Errorf("%s: Allow = %q, want POST", method, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("%s: Content-Type = %q, want application/json", method, got)
		}
	}
}

func equalJSON(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestUnavailableWhenTheStreamIsGone(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	// Without the events stream JetStream cannot store the event.
	if err := h.js.DeleteStream(ctx, bus.EventsStream); err != nil {
		t.Fatal(err)
	}
	status, header, body := h.postFull(t, shopKey, `{"type":"a.b","data":{}}`)
	if status != http.StatusServiceUnavailable || body["error"] != "unavailable" || header.Get("Retry-After") != "1" {
		t.Fatalf("got %d %v, Retry-After %q; want 503 unavailable, Retry-After 1", status, body, header.Get("Retry-After"))
	}
}

// ingestOne sends one event through ConnectRPC, with the given id.
func (h *harness) ingestOne(id string) error {
	client := zenithv1connect.NewIngestorServiceClient(h2cClient(), h.url, connect.WithGRPC())
	req := connect.NewRequest(&zenithv1.IngestRequest{Event: &zenithv1.Event{
		Id: id, Type: "a.b", Payload: &zenithv1.Event_DataJson{DataJson: []byte(`{}`)},
	}})
	req.Header().Set(ingestor.APIKeyHeader, shopKey)
	_, err := client.Ingest(context.Background(), req)
	return err
}

// checkRetryLater checks that err is a ConnectRPC error of code that asks
// to retry after retryAfter seconds.
func checkRetryLater(t *testing.T, err error, code connect.Code, retryAfter string) {
	t.Helper()
	var cerr *connect.Error
	if !errors.As(err, &cerr) || cerr.Code() != code || cerr.Meta().Get("Retry-After") != retryAfter {
		t.Errorf("ConnectRPC answer %v, want %v with Retry-After %s", err, code, retryAfter)
	}
}

func TestUnavailableWhenNATSIsDown(t *testing.T) {
	srv, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	h := startWithNATS(t, srv.URL(), func(*ingestor.Config) {})
	if status, body := h.post(t, shopKey, `{"id":"before","type":"a.b","data":{}}`); status != http.StatusAccepted {
		t.Fatalf("with NATS up: %d %v, want 202", status, body)
	}
	before := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "unavailable"))

	srv.Shutdown()
	status, header, body := h.postFull(t, shopKey, `{"id":"during","type":"a.b","data":{}}`)
	if status != http.StatusServiceUnavailable || body["error"] != "unavailable" || header.Get("Retry-After") != "1" {
		t.Errorf("with NATS down: %d %v, Retry-After %q; want 503 unavailable, Retry-After 1", status, body, header.Get("Retry-After"))
	}
	checkRetryLater(t, h.ingestOne("during-rpc"), connect.CodeUnavailable, "1")
	if got := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "unavailable")) - before; got != 2 {
		t.Errorf("events rejected as unavailable = %v, want 2", got)
	}
}

func TestFullStreamRefusesWithRetryAfter(t *testing.T) {
	h := startWith(t, func(cfg *ingestor.Config) { cfg.Streams.MaxBytes = 4 << 10 })
	before := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "stream_full"))

	// Fill the stream: every event answered 202 is stored, the first refused
	// one is not, and the refusal asks the producer to slow down.
	accepted := 0
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("a 4 KiB stream took 100 events")
		}
		status, header, body := h.postFull(t, shopKey, fmt.Sprintf(`{"id":"e-%d","type":"a.b","data":{"pad":%q}}`, i, strings.Repeat("x", 200)))
		if status == http.StatusAccepted {
			accepted++
			continue
		}
		if status != http.StatusTooManyRequests || body["error"] != "resource_exhausted" || header.Get("Retry-After") != "5" {
			t.Fatalf("full stream: %d %v, Retry-After %q; want 429 resource_exhausted, Retry-After 5", status, body, header.Get("Retry-After"))
		}
		break
	}
	if n := len(h.storedEvents(t)); n != accepted || accepted == 0 {
		t.Errorf("stream holds %d events, %d were accepted: want the same, and some", n, accepted)
	}
	checkRetryLater(t, h.ingestOne("rpc-when-full"), connect.CodeResourceExhausted, "5")
	if got := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "stream_full")) - before; got != 2 {
		t.Errorf("events rejected as stream_full = %v, want 2", got)
	}
}

// rpcProtocols are the protocols the ingestor's port serves its RPCs in,
// each with the client options that speak it.
var rpcProtocols = []struct {
	name string
	opts []connect.ClientOption
}{
	{"connect", nil},
	{"grpc", []connect.ClientOption{connect.WithGRPC()}},
	{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
}

func TestConnectIngest(t *testing.T) {
	h := start(t)
	ctx := context.Background()

	for _, protocol := range rpcProtocols {
		t.Run(protocol.name, func(t *testing.T) {
			client := zenithv1connect.NewIngestorServiceClient(h2cClient(), h.url, protocol.opts...)
			data, _ := structpb.NewStruct(map[string]any{"amount": 742.5})
			req := connect.NewRequest(&zenithv1.IngestRequest{Event: &zenithv1.Event{
				Id: "rpc-" + protocol.name, Type: "purchase.completed", Payload: &zenithv1.Event_Data{Data: data},
			}})
			req.Header().Set(ingestor.APIKeyHeader, shopKey)
			resp, err := client.Ingest(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Msg.GetId() != "rpc-"+protocol.name || resp.Msg.GetDuplicate() {
				t.Errorf("answer = %v", resp.Msg)
			}

			req.Header().Set(ingestor.APIKeyHeader, "wrong-key-0123456789abcdef")
			_, err = client.Ingest(ctx, req)
			if connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("wrong key: %v, want Unauthenticated", err)
			}
		})
	}
	if n := len(h.storedEvents(t)); n != 3 {
		t.Errorf("stream holds %d events, want 3", n)
	}
}

func TestConnectIngestBatch(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	client := zenithv1connect.NewIngestorServiceClient(h2cClient(), h.url, connect.WithGRPC())

	batch := &zenithv1.IngestBatchRequest{}
	for i := range 3 {
		batch.Events = append(batch.Events, &zenithv1.Event{
			Type: "purchase.completed", Payload: &zenithv1.Event_DataJson{DataJson: fmt.Appendf(nil, `{"n":%d}`, i)},
		})
	}
	req := connect.NewRequest(batch)
	req.Header().Set(ingestor.APIKeyHeader, shopKey)
	resp, err := client.IngestBatch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.GetResults()) != 3 {
		t.Fatalf("results = %v", resp.Msg.GetResults())
	}
	for i, r := range resp.Msg.GetResults() {
		if r.GetId() == "" || r.GetError() != "" || r.GetDuplicate() {
			t.Errorf("result %d = %v", i, r)
		}
	}

	invalid := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "invalid_data"))
	batch.Events[1].Payload = &zenithv1.Event_DataJson{DataJson: []byte(`[1]`)}
	_, err = client.IngestBatch(ctx, req)
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "events[1].data:") {
		t.Errorf("invalid batch: %v, want InvalidArgument naming events[1].data", err)
	}
	if got := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", "invalid_data")) - invalid; got != 3 {
		t.Errorf("invalid_data refusals counted for the batch of 3 = %v, want 3", got)
	}
	if n := len(h.storedEvents(t)); n != 3 {
		t.Errorf("stream holds %d events, want 3 (the invalid batch stores none)", n)
	}
}

// secondContentType sends each request with a second Content-Type header
// after the client's own.
type secondContentType struct{ next http.RoundTripper }

func (s secondContentType) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Add("Content-Type", "text/plain")
	return s.next.RoundTrip(r)
}

// TestConnectRefusesTwoContentTypes checks that every protocol refuses a
// request with two Content-Type headers in a form its own client reads, on
// the ingestor's port and the admin API's, and that the ingestor counts the
// refused events.
func TestConnectRefusesTwoContentTypes(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	httpClient := h2cClient()
	httpClient.Transport = secondContentType{httpClient.Transport}
	const says = "Content-Type: is given more than once"

	for _, protocol := range rpcProtocols {
		t.Run(protocol.name, func(t *testing.T) {
			before := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("", "unsupported_media_type"))
			receivedBefore := testutil.ToFloat64(metrics.EventsReceived.WithLabelValues("rpc"))
			client := zenithv1connect.NewIngestorServiceClient(httpClient, h.url, protocol.opts...)
			req := connect.NewRequest(&zenithv1.IngestRequest{Event: &zenithv1.Event{
				Type: "purchase.completed", Payload: &zenithv1.Event_DataJson{DataJson: []byte(`{"amount":1}`)},
			}})
			req.Header().Set(ingestor.APIKeyHeader, shopKey)
			_, err := client.Ingest(ctx, req)
			wantCode(t, "Ingest", err, connect.CodeInvalidArgument, says)
			if got := testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("", "unsupported_media_type")) - before; got != 1 {
				t.Errorf("unsupported_media_type refusals counted = %v, want 1", got)
			}
			if got := testutil.ToFloat64(metrics.EventsReceived.WithLabelValues("rpc")) - receivedBefore; got != 1 {
				t.Errorf("received counted = %v, want 1, so that received stays accepted plus rejected", got)
			}

			admin := zenithv1connect.NewAdminServiceClient(httpClient, h.adminURL,
				append(protocol.opts, connect.WithInterceptors(bearer(adminToken)))...)
			_, err = admin.CreateSource(ctx, connect.NewRequest(&zenithv1.CreateSourceRequest{Name: "ci"}))
			wantCode(t, "admin CreateSource", err, connect.CodeInvalidArgument, says)
		})
	}
	if n := len(h.storedEvents(t)); n != 0 {
		t.Errorf("stream holds %d events, want 0", n)
	}
	if _, err := h.st.SourceByName(ctx, "ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused call created the source: %v", err)
	}
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do.
func h2cClient() *http.Client {
	protocols := &http.Protocols{}
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols}}
}
