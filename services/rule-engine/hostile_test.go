package ruleengine

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

var update = flag.Bool("update", false, "rewrite the tables of docs/hostile-input.md from the tests")

// hostileNATSRow is one malformed message published straight to the events
// stream, and the reason it must be refused with. The rows are exactly the
// rule-engine table of docs/hostile-input.md.
type hostileNATSRow struct {
	input  string
	msg    func() *nats.Msg
	reason string
}

const purchaseSubject = "zenith.events.shop.purchase.completed"

// binary is a valid purchase in binary mode, changed by edit.
func binary(edit func(m *nats.Msg)) func() *nats.Msg {
	return func() *nats.Msg {
		ev := purchase("hostile", 900, "VIP")
		m := &nats.Msg{Subject: purchaseSubject, Header: ev.Header(), Data: ev.Data}
		edit(m)
		return m
	}
}

// structured is a message in structured mode with body.
func structured(body string) func() *nats.Msg {
	return func() *nats.Msg {
		return &nats.Msg{Subject: purchaseSubject, Header: nats.Header{event.HeaderContentType: {event.StructuredContentType}}, Data: []byte(body)}
	}
}

func hostileNATSRows() []hostileNATSRow {
	return []hostileNATSRow{
		{"garbage payload, no headers", func() *nats.Msg { return &nats.Msg{Subject: purchaseSubject, Data: []byte("\x00\xffgarbage")} }, "invalid_specversion"},
		{"no ce-id", binary(func(m *nats.Msg) { m.Header.Del(event.HeaderID) }), "invalid_id"},
		{"ce-time not a timestamp", binary(func(m *nats.Msg) { m.Header.Set(event.HeaderTime, "yesterday") }), "invalid_time"},
		{"60 KB of headers (JetStream's limit is 64 KB), a 40 KB ce-subject among them", binary(func(m *nats.Msg) {
			for i := range 15 {
				m.Header.Set(fmt.Sprintf("X-Pad-%d", i), strings.Repeat("p", 1000))
			}
			m.Header.Set(event.HeaderSubject, strings.Repeat("s", 40_000))
		}), "invalid_subject"},
		{"ce-source of another source than the subject's", binary(func(m *nats.Msg) { m.Header.Set(event.HeaderSource, "billing") }), "wrong_subject"},
		{"ce-type other than the subject's", binary(func(m *nats.Msg) { m.Header.Set(event.HeaderType, "purchase.refunded") }), "wrong_subject"},
		{"subject without a type: zenith.events.shop", binary(func(m *nats.Msg) { m.Subject = "zenith.events.shop" }), "wrong_subject"},
		{"payload with a duplicate key", binary(func(m *nats.Msg) { m.Data = []byte(`{"amount":1,"user":{"segment":"a","segment":"VIP"}}`) }), "duplicate_key"},
		{"payload nested 40 levels deep", binary(func(m *nats.Msg) {
			m.Data = []byte(`{"a":` + strings.Repeat("[", 39) + strings.Repeat("]", 39) + `}`)
		}), "too_deep"},
		{"payload with invalid UTF-8", binary(func(m *nats.Msg) { m.Data = []byte("{\"name\":\"\xff\"}") }), "invalid_utf8"},
		{"payload an array", binary(func(m *nats.Msg) { m.Data = []byte(`[{"amount":900}]`) }), "invalid_data"},
		{"structured event of another source", structured(`{"id":"s-1","source":"billing","type":"purchase.completed","time":"2025-03-01T12:00:00Z","data":{}}`), "wrong_subject"},
		{"structured event with source given twice", structured(`{"id":"s-2","source":"shop","source":"billing","type":"purchase.completed","time":"2025-03-01T12:00:00Z","data":{}}`), "duplicate_key"},
	}
}

// TestHostileNATSMessages publishes malformed messages straight to the
// events stream, as a producer with NATS access could: each is refused
// once, never retried, counted under its reason and copied as it arrived
// to the dead-letter stream, and the worker goes on to a good event.
func TestHostileNATSMessages(t *testing.T) {
	h := newHarness(t)
	h.apply(shopConfig)
	h.start()
	x := h.ids()

	rows := hostileNATSRows()
	before := map[string]float64{}
	for _, row := range rows {
		before[row.reason] = testutil.ToFloat64(metrics.EventsTerminated.WithLabelValues(row.reason))
	}
	// The workers refuse the messages in any order; a dead letter's message
	// id names the sequence of the message it copies.
	sent := make([]*nats.Msg, len(rows))
	rowOf := map[string]int{}
	for i, row := range rows {
		sent[i] = row.msg()
		ack, err := h.js.PublishMsg(context.Background(), sent[i])
		if err != nil {
			t.Fatalf("publish %s: %v", row.input, err)
		}
		rowOf[fmt.Sprintf("event-dlq.%d", ack.Sequence)] = i
	}
	good := purchase("order-good", 900, "VIP")
	h.publish(good)
	info := h.waitIdle()

	counts := map[string]float64{}
	for _, row := range rows {
		counts[row.reason]++
	}
	for reason, want := range counts {
		if got := testutil.ToFloat64(metrics.EventsTerminated.WithLabelValues(reason)) - before[reason]; got != want {
			t.Errorf("terminated with reason %s %v times, want %v", reason, got, want)
		}
	}
	if info.NumRedelivered != 0 {
		t.Errorf("redelivered events = %d, want 0", info.NumRedelivered)
	}

	letters := make([]*jetstream.RawStreamMsg, len(rows))
	for _, msg := range h.eventDeadLetters() {
		i, ok := rowOf[msg.Header.Get(jetstream.MsgIDHeader)]
		if !ok || letters[i] != nil {
			t.Fatalf("dead letter %d with message id %q copies no message sent, or one copied already", msg.Sequence, msg.Header.Get(jetstream.MsgIDHeader))
		}
		letters[i] = msg
	}
	table := []string{
		testenv.TableRow("message published to NATS", "reason", "dead letter"),
		testenv.TableRow("---", "---", "---"),
	}
	for i, row := range rows {
		got := letters[i]
		if got == nil {
			t.Fatalf("%s: no dead letter", row.input)
		}
		if got.Subject != bus.EventDeadLetterSubject(row.reason) || got.Header.Get(bus.OriginalSubjectHeader) != sent[i].Subject ||
			string(got.Data) != string(sent[i].Data) || got.Header.Get(action.DeadLetterReasonHeader) == "" {
			t.Errorf("%s: dead letter on %s from %s with data %.40q, reason %q; want it on %s from %s with the data sent",
				row.input, got.Subject, got.Header.Get(bus.OriginalSubjectHeader), got.Data, got.Header.Get(action.DeadLetterReasonHeader),
				bus.EventDeadLetterSubject(row.reason), sent[i].Subject)
		}
		table = append(table, testenv.TableRow(row.input, "`"+row.reason+"`", "`"+got.Subject+"`: "+"`"+got.Header.Get(action.DeadLetterReasonHeader)+"`"))
	}

	want := sortSummaries([]summary{
		x.want(good, "vip-purchase", "vip-alerts"),
		x.want(good, "vip-purchase", "crm"),
	})
	if diff := cmp.Diff(want, summarise(t, h.actions())); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	testenv.DocTable(t, "../../docs/hostile-input.md", "rule-engine", table, *update)
}

// eventDeadLetters returns the dead-lettered events, in order.
func (h *harness) eventDeadLetters() []*jetstream.RawStreamMsg {
	h.t.Helper()
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, bus.DeadLetterStream)
	if err != nil {
		h.t.Fatal(err)
	}
	var list []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(bus.EventDeadLetters))
		if err != nil {
			return list
		}
		list = append(list, msg)
		seq = msg.Sequence + 1
	}
}

// When the dead-letter stream cannot take the copy, a malformed event is
// handed back and tried again, and refused for good at its last delivery:
// never retried forever.
func TestMalformedEventWithoutDeadLetterStream(t *testing.T) {
	h := newHarness(t)
	h.cfg.MaxDeliver, h.cfg.RetryDelay = 2, 50*time.Millisecond
	h.apply(shopConfig)
	before := testutil.ToFloat64(metrics.EventsTerminated.WithLabelValues("invalid_data"))
	h.start()
	if err := h.js.DeleteStream(context.Background(), bus.DeadLetterStream); err != nil {
		t.Fatal(err)
	}

	bad := purchase("order-bad", 900, "VIP")
	bad.Data = []byte(`[1]`)
	h.publish(bad)
	info := h.waitIdle()

	if info.Delivered.Consumer != 2 {
		t.Errorf("deliveries = %d, want 2 (MaxDeliver 2)", info.Delivered.Consumer)
	}
	if got := testutil.ToFloat64(metrics.EventsTerminated.WithLabelValues("invalid_data")) - before; got != 1 {
		t.Errorf("terminated %v times, want 1", got)
	}
}
