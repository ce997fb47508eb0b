package ruleengine

import (
	"context"
	"fmt"
	"strconv"
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
	"github.com/zenith-hq/zenith/pkg/store"
)

// recordedDeadLetters returns the event_dead_letters rows of the shop.
func (h *harness) recordedDeadLetters() []store.EventDeadLetter {
	h.t.Helper()
	list, err := h.st.EventDeadLetters(context.Background(), "shop", 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

// checkDeadLetter checks the one dead letter there is: the event ev, given
// up after deliveries deliveries for label, with a reason containing
// reason, in the stream and in the database alike.
func (h *harness) checkDeadLetter(ev event.Event, deliveries int, label, reason string) {
	h.t.Helper()
	msgs := h.eventDeadLetters()
	if len(msgs) != 1 {
		h.t.Fatalf("dead letters = %d, want 1", len(msgs))
	}
	dl := msgs[0]
	got, err := event.FromNATS(dl.Header, dl.Data)
	if err != nil {
		h.t.Fatalf("dead letter does not hold an event: %v", err)
	}
	if dl.Subject != bus.EventDeadLetterSubject(label) || got.ID != ev.ID || string(got.Data) != string(ev.Data) {
		h.t.Errorf("dead letter on %s holds event %s %s, want %s on %s", dl.Subject, got.ID, got.Data, ev.ID, bus.EventDeadLetterSubject(label))
	}
	if from := dl.Header.Get(bus.OriginalSubjectHeader); from != bus.EventSubject(ev.Source, ev.Type) {
		h.t.Errorf("dead letter's original subject %q, want %q", from, bus.EventSubject(ev.Source, ev.Type))
	}
	if r := dl.Header.Get(action.DeadLetterReasonHeader); !strings.Contains(r, reason) {
		h.t.Errorf("dead letter reason %q, want it to contain %q", r, reason)
	}
	if n := dl.Header.Get(action.DeadLetterAttemptsHeader); n != strconv.Itoa(deliveries) {
		h.t.Errorf("dead letter deliveries %s, want %d", n, deliveries)
	}

	rows := h.recordedDeadLetters()
	if len(rows) != 1 {
		h.t.Fatalf("event_dead_letters rows = %d, want 1", len(rows))
	}
	row := rows[0]
	if row.EventID != ev.ID || row.EventType != ev.Type || row.Deliveries != deliveries ||
		row.DLQSequence != dl.Sequence || !strings.Contains(row.Reason, reason) {
		h.t.Errorf("event_dead_letters row = %+v, want event %s, %d deliveries, sequence %d, reason with %q",
			row, ev.ID, deliveries, dl.Sequence, reason)
	}
}

func TestPoisonEventIsDeadLetteredWithoutHoldingOthers(t *testing.T) {
	h := newHarness(t)
	h.cfg.MaxDeliver = 3
	h.cfg.RetryDelay = time.Second
	h.apply(shopConfig)
	h.start()
	// An action bigger than the actions stream takes can never be stored.
	ctx := context.Background()
	stream, err := h.js.Stream(ctx, bus.ActionsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.MaxMsgSize = 4 << 10
	if _, err := h.js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	x := h.ids()
	before := testutil.ToFloat64(metrics.EventsDeadLettered.WithLabelValues("actions_not_stored"))

	poison := purchase("poison", 900, "VIP")
	poison.Data = fmt.Appendf(nil, `{"amount": 900, "user": {"segment": "VIP"}, "note": %q}`, strings.Repeat("x", 8<<10))
	h.publish(poison)
	var want []summary
	for i := range 20 {
		ev := purchase(fmt.Sprintf("order-%d", i), 100, "regular")
		h.publish(ev)
		want = append(want, x.want(ev, "archive-rest", "archive"))
	}

	// The other events are evaluated while the poison one waits out its
	// retries (1s, then 2s), not after it.
	h.eventually(10*time.Second, "other events evaluated", func() bool { return len(h.actions()) == len(want) })
	if n := len(h.eventDeadLetters()); n != 0 {
		t.Fatalf("the poison event was dead-lettered before the others were evaluated: %d dead letters", n)
	}

	h.eventually(15*time.Second, "poison event dead-lettered", func() bool { return len(h.recordedDeadLetters()) == 1 })
	h.checkDeadLetter(poison, 3, "actions_not_stored", "message size exceeds maximum")
	if info := h.waitIdle(); info.NumPending != 0 {
		t.Errorf("events left in the stream = %d, want 0: a dead-lettered event is acknowledged", info.NumPending)
	}
	if got := testutil.ToFloat64(metrics.EventsDeadLettered.WithLabelValues("actions_not_stored")) - before; got != 1 {
		t.Errorf("dead-lettered events counted %v, want 1", got)
	}
	if diff := cmp.Diff(sortSummaries(want), summarise(t, h.actions())); diff != "" {
		t.Errorf("actions (-want +got): the poison event must store none\n%s", diff)
	}
}

func TestEventNeverSettledIsDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.cfg.MaxDeliver = 2
	h.cfg.AckWait = time.Second
	h.cfg.PublishTimeout = 500 * time.Millisecond
	h.apply(shopConfig)
	ctx := context.Background()

	// A consumer that takes the event and never answers, as rule-engines
	// that crash on it would: every delivery the consumer allows but the
	// spare one.
	consumer, err := h.js.CreateOrUpdateConsumer(ctx, bus.EventsStream, (&Service{cfg: h.cfg}).consumerConfig())
	if err != nil {
		t.Fatal(err)
	}
	ev := purchase("crasher", 900, "VIP")
	h.publish(ev)
	for delivery := range h.cfg.MaxDeliver + 1 {
		batch, err := consumer.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for range batch.Messages() {
			n++
		}
		if n != 1 {
			t.Fatalf("delivery %d: fetched %d events, want 1 (%v)", delivery+1, n, batch.Error())
		}
	}

	h.start()
	h.eventually(10*time.Second, "event dead-lettered", func() bool { return len(h.recordedDeadLetters()) == 1 })
	h.checkDeadLetter(ev, h.cfg.MaxDeliver+2, "not_settled", "never settled")
	if n := len(h.actions()); n != 0 {
		t.Errorf("actions = %d, want none: an event given up on is not evaluated", n)
	}
}

func TestDrainHandsBackWhatCannotFinish(t *testing.T) {
	h := newHarness(t)
	h.cfg.PublishTimeout = 20 * time.Second
	h.cfg.AckWait = 40 * time.Second
	h.cfg.DrainTimeout = 200 * time.Millisecond
	h.apply(shopConfig)
	r := h.start()
	ctx := context.Background()

	// Actions now go to a subscriber that never answers, in place of the
	// actions stream: storing them hangs until PublishTimeout.
	if err := h.js.DeleteStream(ctx, bus.ActionsStream); err != nil {
		t.Fatal(err)
	}
	hung := make(chan *nats.Msg, 64)
	sub, err := h.nc.ChanSubscribe("zenith.actions.>", hung)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.publish(purchase(fmt.Sprintf("order-%d", i), 100, "regular"))
	}
	h.eventually(10*time.Second, "workers waiting on the actions", func() bool { return len(hung) == 3 })

	// Run returns once the drain timeout has cut the publishes short, well
	// before PublishTimeout, and hands the events back.
	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v, want nil", err)
	}
	if n := len(h.eventDeadLetters()); n != 0 {
		t.Errorf("dead letters = %d, want 0: a drain is not the events' fault", n)
	}

	// Handed back, the events are evaluated by the next rule-engine at once,
	// not after AckWait.
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.eventually(10*time.Second, "events evaluated again", func() bool { return len(h.actions()) == 3 })
}
