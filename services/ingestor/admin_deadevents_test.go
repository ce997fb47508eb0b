package ingestor_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// deadLetterEvent stores a message on the dead-letter stream as the
// rule-engine does for an event it refuses or gives up on: the event's
// headers and payload, its original subject, the reason's text and its
// deliveries. With row, it also records the event's event_dead_letters row,
// as the rule-engine does for a poison event. It returns the sequence.
func deadLetterEvent(t *testing.T, h *adminHarness, header nats.Header, data []byte, reason, text string, row bool) uint64 {
	t.Helper()
	ctx := context.Background()
	source, id, eventType := header.Get(event.HeaderSource), header.Get(event.HeaderID), header.Get(event.HeaderType)
	msg := &nats.Msg{Subject: bus.EventDeadLetterSubject(reason), Data: data, Header: header}
	msg.Header.Set(bus.OriginalSubjectHeader, bus.EventSubject(source, eventType))
	msg.Header.Set(action.DeadLetterReasonHeader, text)
	msg.Header.Set(action.DeadLetterAttemptsHeader, "3")
	ack, err := h.js.PublishMsg(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if row {
		err := h.st.RecordEventDeadLetter(ctx, store.EventDeadLetter{
			Source: source, EventID: id, EventType: eventType, Reason: text, Deliveries: 3, DLQSequence: ack.Sequence,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ack.Sequence
}

// poisonEvent dead-letters a readable event of the shop as a poison event.
func poisonEvent(t *testing.T, h *adminHarness, id, reason string) uint64 {
	t.Helper()
	ev := event.Event{ID: id, Source: "shop", Type: "purchase.completed", Time: time.Now(), Data: []byte(`{"amount":900}`)}
	header := ev.Header()
	header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	return deadLetterEvent(t, h, header, ev.Data, reason, reason+": the actions stream refused them", true)
}

// sequencesOf returns the sequences of a page of dead-lettered events.
func sequencesOf(list []*zenithv1.EventDeadLetter) string {
	var seqs []string
	for _, dl := range list {
		seqs = append(seqs, strconv.FormatUint(dl.GetSequence(), 10))
	}
	return strings.Join(seqs, ",")
}

func TestAdminListEventDeadLetters(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	first := poisonEvent(t, h, "evt-p1", "actions_not_stored")
	bad := event.Event{ID: "bad id", Source: "shop", Type: "purchase.completed", Time: time.Now(), Data: []byte(`not json`)}
	malformed := deadLetterEvent(t, h, bad.Header(), bad.Data, "invalid_id", "id: must be printable ASCII without spaces", false)
	second := poisonEvent(t, h, "evt-p2", "evaluation_panicked")
	deadLetter(t, h, "evt-action", "sink answered 503") // an action's dead letter, never listed here

	all := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{})))(t)
	want := strconv.FormatUint(first, 10) + "," + strconv.FormatUint(malformed, 10) + "," + strconv.FormatUint(second, 10)
	if got := sequencesOf(all.GetDeadLetters()); got != want || all.GetNextPageToken() != "" {
		t.Fatalf("dead-lettered events %s (next %q), want %s", got, all.GetNextPageToken(), want)
	}
	p1 := all.GetDeadLetters()[0]
	if p1.GetSource() != "shop" || p1.GetEventId() != "evt-p1" || p1.GetEventType() != "purchase.completed" ||
		p1.GetReason() != "actions_not_stored" || !strings.Contains(p1.GetReasonText(), "refused them") ||
		p1.GetOriginalSubject() != "zenith.events.shop.purchase.completed" || p1.GetDeliveries() != 3 ||
		p1.GetStatus() != "dead_lettered" || p1.GetNotReplayable() != "" || p1.GetDeadLetteredAt() == nil {
		t.Errorf("poison event = %v", p1)
	}
	if amount := p1.GetPayload().GetStructValue().GetFields()["amount"].GetNumberValue(); amount != 900 {
		t.Errorf("poison event payload = %v, want its data", p1.GetPayload())
	}
	bd := all.GetDeadLetters()[1]
	if bd.GetEventId() != "bad id" || bd.GetReason() != "invalid_id" || bd.GetPayloadText() != "not json" ||
		bd.GetPayload() != nil || !strings.Contains(bd.GetNotReplayable(), "id: must be printable ASCII") {
		t.Errorf("malformed event = %v", bd)
	}

	// Pages of one, by keyset on the stream sequence.
	var seen []*zenithv1.EventDeadLetter
	token := ""
	for page := 0; ; page++ {
		resp := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{PageSize: 1, PageToken: token})))(t)
		seen = append(seen, resp.GetDeadLetters()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if page > 5 {
			t.Fatal("the pages do not end")
		}
	}
	if got := sequencesOf(seen); got != want {
		t.Errorf("pages of one hold %s, want %s", got, want)
	}

	for _, tt := range []struct {
		name   string
		filter *zenithv1.EventDeadLetterFilter
		want   uint64
	}{
		{"by reason", &zenithv1.EventDeadLetterFilter{Reason: "evaluation_panicked"}, second},
		{"by event id", &zenithv1.EventDeadLetterFilter{EventId: "evt-p1", Source: "shop"}, first},
		{"by reason of a malformed event", &zenithv1.EventDeadLetterFilter{Reason: "invalid_id", EventType: "purchase.completed"}, malformed},
	} {
		resp := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{Filter: tt.filter})))(t)
		if got, want := sequencesOf(resp.GetDeadLetters()), strconv.FormatUint(tt.want, 10); got != want {
			t.Errorf("%s: %s, want %s", tt.name, got, want)
		}
	}
	for _, filter := range []*zenithv1.EventDeadLetterFilter{
		{Source: "billing"}, {EventType: "refund.created"}, {Until: timestamppb.New(time.Now().Add(-time.Hour))},
		{Since: timestamppb.New(time.Now().Add(time.Hour))},
	} {
		resp := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{Filter: filter})))(t)
		if len(resp.GetDeadLetters()) != 0 {
			t.Errorf("filter %v selects %s, want none", filter, sequencesOf(resp.GetDeadLetters()))
		}
	}

	// A read-only token may list them, not replay them.
	reader := adminClient(h.adminURL, readOnlyToken)
	if got := must(reader.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{})))(t); len(got.GetDeadLetters()) != 3 {
		t.Errorf("read-only list = %v", got)
	}
	_, err := reader.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{Sequences: []uint64{first}}))
	wantCode(t, "read-only replay", err, connect.CodePermissionDenied, "read-only")
	_, err = reader.DeleteEventDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteEventDeadLettersRequest{Sequences: []uint64{first}}))
	wantCode(t, "read-only delete", err, connect.CodePermissionDenied, "read-only")
	_, err = c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{PageToken: "x"}))
	wantCode(t, "bad token", err, connect.CodeInvalidArgument, "page_token")
	if n := len(h.storedEvents(t)); n != 0 {
		t.Errorf("refused calls published %d events", n)
	}

	// The malformed one, which cannot be replayed, can be deleted, by
	// sequence or by filter; what is left stays listed.
	_, err = c.DeleteEventDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteEventDeadLettersRequest{}))
	wantCode(t, "delete with an empty filter", err, connect.CodeInvalidArgument, "set all to delete every dead-lettered event")
	deleted := must(c.DeleteEventDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteEventDeadLettersRequest{Sequences: []uint64{malformed}})))(t)
	if len(deleted.GetDeleted()) != 1 || deleted.GetDeleted()[0] != malformed {
		t.Errorf("DeleteEventDeadLetters of the malformed one = %v", deleted)
	}
	must(c.DeleteEventDeadLetters(ctx, connect.NewRequest(&zenithv1.DeleteEventDeadLettersRequest{Filter: &zenithv1.EventDeadLetterFilter{Reason: "evaluation_panicked"}})))(t)
	left := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{})))(t)
	if got, want := sequencesOf(left.GetDeadLetters()), strconv.FormatUint(first, 10); got != want {
		t.Errorf("after the deletions: %s, want %s", got, want)
	}
}

func TestAdminReplayEventDeadLetters(t *testing.T) {
	h := startAdmin(t)
	ctx := context.Background()
	c := h.client
	first := poisonEvent(t, h, "evt-p1", "actions_not_stored")
	bad := event.Event{ID: "bad id", Source: "shop", Type: "purchase.completed", Time: time.Now(), Data: []byte(`{}`)}
	malformed := deadLetterEvent(t, h, bad.Header(), bad.Data, "invalid_id", "id: must be printable ASCII without spaces", false)
	second := poisonEvent(t, h, "evt-p2", "not_settled")

	_, err := c.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{}))
	wantCode(t, "replay with an empty filter", err, connect.CodeInvalidArgument, "filter: is empty")
	_, err = c.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{Sequences: []uint64{first, malformed}}))
	wantCode(t, "replay of a malformed event", err, connect.CodeFailedPrecondition,
		"sequences[1]: dead-lettered event "+strconv.FormatUint(malformed, 10)+" is malformed", "id: must be printable ASCII")
	_, err = c.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{Sequences: []uint64{999}}))
	wantCode(t, "replay of a missing dead letter", err, connect.CodeNotFound, "dead letter 999")
	_, err = c.ReplayDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayDeadLettersRequest{Sequences: []uint64{first}}))
	wantCode(t, "an event's dead letter replayed as an action", err, connect.CodeInvalidArgument, "is not a dead-lettered action")
	if n := len(h.storedEvents(t)); n != 0 {
		t.Fatalf("refused replays published %d events", n)
	}

	// The event goes back on its subject as it arrived, trace context
	// included, under a message id of its own; a second replay publishes
	// nothing.
	for i, wantSkipped := range []string{"", "already replayed"} {
		resp := must(c.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{Sequences: []uint64{first}})))(t)
		o := resp.GetOutcomes()
		if len(o) != 1 || o[0].GetReplayed() != (wantSkipped == "") || o[0].GetSkipped() != wantSkipped || o[0].GetEventId() != "evt-p1" {
			t.Errorf("replay %d = %v, want skipped %q", i+1, resp, wantSkipped)
		}
	}
	stored := h.storedEvents(t)
	if len(stored) != 1 {
		t.Fatalf("events stream holds %d messages after two replays, want 1", len(stored))
	}
	msg := stored[0]
	ev, err := event.FromNATS(msg.Header, msg.Data)
	if err != nil || msg.Subject != "zenith.events.shop.purchase.completed" || ev.ID != "evt-p1" || string(ev.Data) != `{"amount":900}` {
		t.Errorf("replayed message on %s = %+v, %v", msg.Subject, ev, err)
	}
	wantID := "shop:evt-p1:replay:" + strconv.FormatUint(first, 10)
	if got := msg.Header.Get(jetstream.MsgIDHeader); got != wantID {
		t.Errorf("replayed message id %q, want %q", got, wantID)
	}
	if msg.Header.Get("traceparent") == "" || msg.Header.Get(bus.OriginalSubjectHeader) != "" || msg.Header.Get(action.DeadLetterReasonHeader) != "" {
		t.Errorf("replayed message headers = %v, want the event's with its trace context, without the dead letter's", msg.Header)
	}

	// The replayed dead letter is hidden, unless asked for.
	open := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{})))(t)
	if got, want := sequencesOf(open.GetDeadLetters()), strconv.FormatUint(malformed, 10)+","+strconv.FormatUint(second, 10); got != want {
		t.Errorf("waiting dead-lettered events %s, want %s", got, want)
	}
	replayed := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{
		Filter: &zenithv1.EventDeadLetterFilter{EventId: "evt-p1", IncludeReplayed: true},
	})))(t)
	if len(replayed.GetDeadLetters()) != 1 || replayed.GetDeadLetters()[0].GetStatus() != "replayed" || replayed.GetDeadLetters()[0].GetReplayedAt() == nil {
		t.Errorf("replayed dead letter = %v", replayed)
	}

	// A filter skips the malformed event and the replayed one.
	resp := must(c.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{
		Filter: &zenithv1.EventDeadLetterFilter{Source: "shop", IncludeReplayed: true},
	})))(t)
	var got []string
	for _, o := range resp.GetOutcomes() {
		got = append(got, o.GetEventId()+":"+strconv.FormatBool(o.GetReplayed())+":"+strings.SplitN(o.GetSkipped(), ",", 2)[0])
	}
	if strings.Join(got, " ") != "evt-p1:false:already replayed bad id:false:malformed evt-p2:true:" {
		t.Errorf("replay by filter = %q", got)
	}
	if n := len(h.storedEvents(t)); n != 2 {
		t.Errorf("events stream holds %d messages, want evt-p1 and evt-p2", n)
	}

	// When the replayed event is dead-lettered again, the new dead letter
	// waits and the old one is superseded.
	again := poisonEvent(t, h, "evt-p2", "actions_not_stored")
	list := must(c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{
		Filter: &zenithv1.EventDeadLetterFilter{EventId: "evt-p2", IncludeReplayed: true},
	})))(t)
	if len(list.GetDeadLetters()) != 2 || list.GetDeadLetters()[0].GetStatus() != "superseded" ||
		list.GetDeadLetters()[1].GetSequence() != again || list.GetDeadLetters()[1].GetStatus() != "dead_lettered" {
		t.Errorf("dead letters of evt-p2 = %v", list)
	}
	old := must(c.ReplayEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ReplayEventDeadLettersRequest{Sequences: []uint64{second}})))(t)
	if o := old.GetOutcomes(); len(o) != 1 || !strings.HasPrefix(o[0].GetSkipped(), "dead-lettered again since") {
		t.Errorf("replay of a superseded dead letter = %v", old)
	}
}
