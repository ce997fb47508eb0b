package stack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
	"github.com/zenith-hq/zenith/pkg/testenv"
	"github.com/zenith-hq/zenith/services/ingestor"
)

// spans records every span the services of this test binary end. The
// services' tracers are bound to the first tracer provider set, so it is
// set once, and each test reads the spans of its own trace.
var spans = sync.OnceValue(func() *tracetest.SpanRecorder {
	recorder := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return recorder
})

// producerSpan is the span of the producer that sends an event: the parent
// of the ingestor's.
const producerSpan = "b7ad6b7169203331"

// TestOneTraceFromRequestToSink sends an event with a traceparent, by REST,
// Connect and gRPC, and follows its trace through the three tiers to the
// webhook receiver: each span is the child of the one before, each process
// span links to the send span of its message, the receiver gets the trace
// context of the dispatcher's request, and every log line about the event
// carries its trace id.
func TestOneTraceFromRequestToSink(t *testing.T) {
	recorder := spans()
	var logs lockedBuffer
	// An action put back for later on a loaded machine comes back soon.
	p := startPipelineWith(t, setup{logs: &logs, env: map[string]string{
		"DISPATCHER_REDELIVERY_BASE": "50ms", "ZENITH_ADMIN_TOKENS": traceAdminToken,
	}})

	for i, transport := range []string{"rest", "connect", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			traceID := fmt.Sprintf("4bf92f3577b34da6a3ce929d0e0e47%02d", i)
			eventID := "traced-" + transport
			answerTrace := p.sendTraced(t, transport, eventID, "00-"+traceID+"-"+producerSpan+"-01")
			if answerTrace != traceID {
				t.Errorf("%s answered %s = %q, want the producer's trace %s", transport, ingestor.TraceIDHeader, answerTrace, traceID)
			}

			var received string
			testenv.WaitFor(t, 10*time.Second, func() bool {
				var ok bool
				received, ok = p.recv.traceparent(eventID)
				return ok
			})
			chain := waitForChain(t, recorder, traceID)
			checkChain(t, chain, received)
			dispatchID := attrValue(chain["send zenith.actions.{sink_type}"], "messaging.message.id")
			checkLogs(t, logs.String(), traceID, eventID, dispatchID)
			p.checkAuditTrace(t, traceID, eventID, dispatchID)
		})
	}
}

// traceAdminToken opens the admin API of TestOneTraceFromRequestToSink.
const traceAdminToken = "trace-admin-token-0123456789"

// checkAuditTrace checks that the audit row of the event's dispatch holds
// its trace id, and that the admin API finds the row by it.
func (p *pipeline) checkAuditTrace(t *testing.T, traceID, eventID, dispatchID string) {
	t.Helper()
	ctx := context.Background()
	client := zenithv1connect.NewAdminServiceClient(http.DefaultClient, "http://"+p.stack.Ingestor.AdminAPIAddr())
	list := func(req *zenithv1.ListAuditRequest) []*zenithv1.AuditEntry {
		r := connect.NewRequest(req)
		r.Header().Set("Authorization", "Bearer "+traceAdminToken)
		resp, err := client.ListAudit(ctx, r)
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		return resp.Msg.GetEntries()
	}
	// The row is committed after the delivery the receiver saw.
	var byEvent []*zenithv1.AuditEntry
	testenv.WaitFor(t, 5*time.Second, func() bool {
		byEvent = list(&zenithv1.ListAuditRequest{EventId: eventID})
		return len(byEvent) == 1
	})
	if e := byEvent[0]; e.GetTraceId() != traceID || e.GetDispatchId() != dispatchID {
		t.Errorf("audit row of %s: trace %q, dispatch %s; want trace %s, dispatch %s",
			eventID, e.GetTraceId(), e.GetDispatchId(), traceID, dispatchID)
	}
	byTrace := list(&zenithv1.ListAuditRequest{TraceId: traceID})
	if len(byTrace) != 1 || byTrace[0].GetEventId() != eventID {
		t.Errorf("audit rows of trace %s = %v, want the one of %s", traceID, byTrace, eventID)
	}
}

// sendTraced sends a VIP purchase with id and traceparent by transport,
// and returns the trace id the ingestor answered with.
func (p *pipeline) sendTraced(t *testing.T, transport, id, traceparent string) string {
	t.Helper()
	if transport == "grpc" {
		return p.sendGRPC(t, id, traceparent)
	}
	event := fmt.Sprintf(`{"id":%q,"type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"}}}`, id)
	url, body, want := p.ingestURL, event, http.StatusAccepted
	if transport == "connect" {
		url = strings.Replace(p.ingestURL, "/v1/events", "/zenith.v1.IngestorService/Ingest", 1)
		body, want = `{"event":`+event+`}`, http.StatusOK
	}
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", shopKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", traceparent)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", transport, resp.StatusCode, want)
	}
	return resp.Header.Get(ingestor.TraceIDHeader)
}

// sendGRPC sends a VIP purchase with id over gRPC (HTTP/2 without TLS),
// traceparent in the request's metadata, and returns the trace id of the
// answer's metadata.
func (p *pipeline) sendGRPC(t *testing.T, id, traceparent string) string {
	t.Helper()
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	httpClient := &http.Client{Transport: &http.Transport{Protocols: protocols}}
	client := zenithv1connect.NewIngestorServiceClient(httpClient, "http://"+p.stack.Ingestor.Addr(), connect.WithGRPC())

	req := connect.NewRequest(&zenithv1.IngestRequest{Event: &zenithv1.Event{
		Id:      id,
		Type:    "purchase.completed",
		Payload: &zenithv1.Event_DataJson{DataJson: []byte(`{"amount":742.5,"user":{"segment":"VIP"}}`)},
	}})
	req.Header().Set("X-Api-Key", shopKey)
	req.Header().Set("traceparent", traceparent)
	resp, err := client.Ingest(context.Background(), req)
	if err != nil {
		t.Fatalf("grpc: %v", err)
	}
	return resp.Header().Get(ingestor.TraceIDHeader)
}

// chainNames are the spans of one delivered event, each the child of the
// one before it.
var chainNames = []string{
	"ingestor.gateway.handle",
	"send zenith.events.{source}.{type}",
	"process zenith.events.{source}.{type}",
	"send zenith.actions.{sink_type}",
	"process zenith.actions.{sink_type}",
	"dispatcher.dispatch",
	"POST",
}

// waitForChain waits until the recorder holds the spans of chainNames and
// engine.evaluate_rules in trace traceID, and returns them by name.
func waitForChain(t *testing.T, recorder *tracetest.SpanRecorder, traceID string) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	want := append([]string{"engine.evaluate_rules"}, chainNames...)
	var byName map[string]sdktrace.ReadOnlySpan
	complete := func() bool {
		byName = map[string]sdktrace.ReadOnlySpan{}
		for _, s := range recorder.Ended() {
			if s.SpanContext().TraceID().String() == traceID {
				byName[s.Name()] = s
			}
		}
		for _, name := range want {
			if byName[name] == nil {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !complete() {
		if time.Now().After(deadline) {
			t.Fatalf("trace %s holds the spans %v, want %v", traceID, slices.Sorted(maps.Keys(byName)), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return byName
}

// checkChain checks the parents, kinds, links and attributes of a chain,
// and that the receiver's traceparent names its last span.
func checkChain(t *testing.T, chain map[string]sdktrace.ReadOnlySpan, received string) {
	t.Helper()
	parent := producerSpan
	for _, name := range chainNames {
		s := chain[name]
		if got := s.Parent().SpanID().String(); got != parent {
			t.Errorf("span %q: parent %s, want %s", name, got, parent)
		}
		parent = s.SpanContext().SpanID().String()
	}
	last := chain["POST"].SpanContext()
	if want := fmt.Sprintf("00-%s-%s-01", last.TraceID(), last.SpanID()); received != want {
		t.Errorf("the receiver got traceparent %q, want %q: the dispatcher's request span", received, want)
	}

	kinds := map[string]trace.SpanKind{
		"ingestor.gateway.handle":               trace.SpanKindServer,
		"send zenith.events.{source}.{type}":    trace.SpanKindProducer,
		"process zenith.events.{source}.{type}": trace.SpanKindConsumer,
		"send zenith.actions.{sink_type}":       trace.SpanKindProducer,
		"process zenith.actions.{sink_type}":    trace.SpanKindConsumer,
		"POST":                                  trace.SpanKindClient,
	}
	for name, kind := range kinds {
		if got := chain[name].SpanKind(); got != kind {
			t.Errorf("span %q: kind %s, want %s", name, got, kind)
		}
	}
	for _, hop := range []string{"zenith.events.{source}.{type}", "zenith.actions.{sink_type}"} {
		process, send := chain["process "+hop], chain["send "+hop]
		links := process.Links()
		if len(links) != 1 || links[0].SpanContext.SpanID() != send.SpanContext().SpanID() {
			t.Errorf("span %q: links %v, want one to its send span %s", process.Name(), links, send.SpanContext().SpanID())
		}
	}
	if got := chain["engine.evaluate_rules"].Parent().SpanID(); got != chain["process zenith.events.{source}.{type}"].SpanContext().SpanID() {
		t.Errorf("engine.evaluate_rules: parent %s, want the rule-engine's process span", got)
	}
	checkAttributes(t, chain)
}

// checkAttributes checks the attributes the spans must carry.
func checkAttributes(t *testing.T, chain map[string]sdktrace.ReadOnlySpan) {
	t.Helper()
	want := map[string]map[string]string{
		"ingestor.gateway.handle": {"source": "shop", "event_type": "purchase.completed"},
		"send zenith.events.{source}.{type}": {"messaging.system": "nats", "messaging.operation.type": "send",
			"messaging.destination.name": "zenith.events.shop.purchase.completed"},
		"process zenith.events.{source}.{type}": {"messaging.system": "nats", "messaging.operation.type": "process",
			"messaging.destination.name": "zenith.events.shop.purchase.completed", "messaging.consumer.group.name": "rule-engine"},
		"engine.evaluate_rules": {"source": "shop", "total_rules": "4", "matched_count": "1"},
		"send zenith.actions.{sink_type}": {"messaging.system": "nats", "messaging.operation.type": "send",
			"messaging.destination.name": "zenith.actions.webhook"},
		"process zenith.actions.{sink_type}": {"messaging.system": "nats", "messaging.operation.type": "process",
			"messaging.consumer.group.name": "dispatcher"},
		"dispatcher.dispatch": {"sink_type": "webhook", "status": "delivered"},
		"POST":                {"http.request.method": "POST", "http.response.status_code": "204", "server.address": "127.0.0.1"},
	}
	for name, attrs := range want {
		got := map[string]string{}
		for _, kv := range chain[name].Attributes() {
			got[string(kv.Key)] = kv.Value.Emit()
		}
		for key, value := range attrs {
			if got[key] != value {
				t.Errorf("span %q: %s = %q, want %q", name, key, got[key], value)
			}
		}
	}
	// The message ids: the event's JetStream id, then the dispatch id.
	eventID := attrValue(chain["ingestor.gateway.handle"], "event_id")
	if got := attrValue(chain["process zenith.events.{source}.{type}"], "messaging.message.id"); got != "shop:"+eventID {
		t.Errorf("rule-engine process span: messaging.message.id = %q, want %q", got, "shop:"+eventID)
	}
	if got := attrValue(chain["process zenith.actions.{sink_type}"], "messaging.message.id"); got == "" || got != attrValue(chain["send zenith.actions.{sink_type}"], "messaging.message.id") {
		t.Errorf("dispatcher process span: messaging.message.id = %q, want the send span's", got)
	}
}

func attrValue(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// checkLogs checks that every log line naming one of ids as event_id or
// dispatch_id carries the trace id, and that the rule-engine and the
// dispatcher both wrote one.
func checkLogs(t *testing.T, logs, traceID string, ids ...string) {
	t.Helper()
	services := map[string]bool{}
	scanner := bufio.NewScanner(strings.NewReader(logs))
	for scanner.Scan() {
		var line map[string]any
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", scanner.Text())
		}
		if !slices.Contains(ids, fmt.Sprint(line["event_id"])) && !slices.Contains(ids, fmt.Sprint(line["dispatch_id"])) {
			continue
		}
		if line["trace_id"] != traceID || line["span_id"] == nil {
			t.Errorf("log line has trace_id %v, span_id %v; want trace %s: %s", line["trace_id"], line["span_id"], traceID, scanner.Text())
		}
		services[fmt.Sprint(line["service"])] = true
	}
	for _, service := range []string{"rule-engine", "dispatcher"} {
		if !services[service] {
			t.Errorf("no %s log line names %v", service, ids)
		}
	}
}

// lockedBuffer is a bytes.Buffer the three services' loggers may write to
// at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
