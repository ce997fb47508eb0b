package admin

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Statuses of a dead-lettered event.
const (
	eventDeadLettered = "dead_lettered"
	eventReplayed     = "replayed"
	eventSuperseded   = "superseded"
)

// eventDeadLetter is a dead-lettered event of the dead-letter stream,
// decoded as far as it can be.
type eventDeadLetter struct {
	msg *jetstream.RawStreamMsg
	// reason is the label its subject ends with.
	reason string
	// ev holds what could be read of the event: all of it when problem is
	// nil, else the id, source and type it claims, where it claims them.
	ev event.Event
	// problem is why the rule-engines cannot read the event; nil when a
	// replay can hand it to them.
	problem error
	// status, replayedAt and deliveries come from the event's row in
	// event_dead_letters, when it has one about this dead letter.
	status     string
	replayedAt time.Time
	deliveries int
}

// ListEventDeadLetters pages through the dead-lettered events, oldest first.
func (s *Server) ListEventDeadLetters(ctx context.Context, req *connect.Request[zenithv1.ListEventDeadLettersRequest]) (*connect.Response[zenithv1.ListEventDeadLettersResponse], error) {
	page, next, err := streamPage(req.Msg.GetPageSize(), req.Msg.GetPageToken(), func(start uint64, size int) ([]eventDeadLetter, uint64, error) {
		return s.scanEventDeadLetters(ctx, req.Msg.GetFilter(), start, size, maxScan)
	})
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListEventDeadLettersResponse{NextPageToken: next}
	for _, dl := range page {
		resp.DeadLetters = append(resp.DeadLetters, dl.proto())
	}
	return connect.NewResponse(resp), nil
}

// ReplayEventDeadLetters publishes dead-lettered events again on the
// subject they came on. A malformed event named by sequence fails the whole
// call before anything is published; one a filter selects is skipped.
func (s *Server) ReplayEventDeadLetters(ctx context.Context, req *connect.Request[zenithv1.ReplayEventDeadLettersRequest]) (*connect.Response[zenithv1.ReplayEventDeadLettersResponse], error) {
	chosen, err := s.chooseEventDeadLetters(ctx, req.Msg.GetSequences(), req.Msg.GetFilter(), req.Msg.GetAll(), "replay", false)
	if err != nil {
		return nil, err
	}

	resp := &zenithv1.ReplayEventDeadLettersResponse{}
	for _, dl := range chosen {
		outcome, err := s.replayEvent(ctx, dl)
		if err != nil {
			return nil, fmt.Errorf("replay dead-lettered event %d: %w", dl.msg.Sequence, err)
		}
		resp.Outcomes = append(resp.Outcomes, outcome)
	}
	s.log.InfoContext(ctx, "dead-lettered events replayed", "chosen", len(chosen))
	return connect.NewResponse(resp), nil
}

// DeleteEventDeadLetters removes dead-lettered events from the dead-letter
// stream, malformed ones included.
func (s *Server) DeleteEventDeadLetters(ctx context.Context, req *connect.Request[zenithv1.DeleteEventDeadLettersRequest]) (*connect.Response[zenithv1.DeleteEventDeadLettersResponse], error) {
	chosen, err := s.chooseEventDeadLetters(ctx, req.Msg.GetSequences(), req.Msg.GetFilter(), req.Msg.GetAll(), "delete", true)
	if err != nil {
		return nil, err
	}
	deleted, err := deleteDeadLetters(ctx, s, chosen, "dead-lettered events deleted")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.DeleteEventDeadLettersResponse{Deleted: deleted}), nil
}

// sequence is the dead letter's place in the dead-letter stream.
func (dl eventDeadLetter) sequence() uint64 { return dl.msg.Sequence }

// replayEvent publishes a dead-lettered event, as it arrived, on its
// original subject, and marks its row replayed. The message keeps the
// event's trace context, so that its evaluation joins the event's trace.
//
// The message id cannot be the event's own: JetStream would drop the replay
// as a copy of the event if the duplicate window still remembers it. It is
// the event's followed by the dead letter's sequence, so that a second
// replay of the same dead letter within the window is dropped instead. Past
// the window, or after a new dead letter, the event is evaluated again and
// its actions are stopped by their dispatch ids (see docs/admin-api.md).
func (s *Server) replayEvent(ctx context.Context, dl eventDeadLetter) (*zenithv1.EventReplayOutcome, error) {
	outcome := &zenithv1.EventReplayOutcome{Sequence: dl.msg.Sequence, Source: dl.ev.Source, EventId: dl.ev.ID}
	switch {
	case dl.problem != nil:
		outcome.Skipped = "malformed, the rule-engines would refuse it again: " + dl.problem.Error()
		return outcome, nil
	case dl.status == eventReplayed:
		outcome.Skipped = "already replayed"
		return outcome, nil
	case dl.status == eventSuperseded:
		outcome.Skipped = "dead-lettered again since: replay the later dead letter"
		return outcome, nil
	}

	msg := &nats.Msg{Subject: dl.msg.Header.Get(bus.OriginalSubjectHeader), Data: dl.msg.Data, Header: nats.Header{}}
	for k, v := range dl.msg.Header {
		if !deadLetterOnlyHeader(k) {
			msg.Header[k] = v
		}
	}
	msgID := fmt.Sprintf("%s:%s:replay:%d", dl.ev.Source, dl.ev.ID, dl.msg.Sequence)
	ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(bus.EventsStream))
	if err != nil {
		return nil, err
	}
	if ack.Duplicate {
		outcome.Skipped = "already replayed"
	} else {
		outcome.Replayed = true
	}

	// The row is marked even after a duplicate: the first replay may have
	// been published without its mark.
	if _, err := s.st.MarkEventDeadLetterReplayed(ctx, dl.ev.Source, dl.ev.ID, dl.msg.Sequence); err != nil {
		s.log.WarnContext(ctx, "dead-lettered event replayed but not marked; a second replay is dropped only within the duplicate window",
			"sequence", dl.msg.Sequence, "source", dl.ev.Source, "event_id", dl.ev.ID, "err", err)
	}
	return outcome, nil
}

// deadLetterOnlyHeader reports whether header k was added to the event
// when it was dead-lettered, or is JetStream's, so that a replay leaves it
// out.
func deadLetterOnlyHeader(k string) bool {
	switch k {
	case bus.OriginalSubjectHeader, action.DeadLetterReasonHeader, action.DeadLetterAttemptsHeader:
		return true
	}
	return strings.HasPrefix(strings.ToLower(k), "nats-")
}

// chooseEventDeadLetters reads the dead-lettered events a replay or a
// deletion (verb) names: seqs when given, else those filter selects. A
// malformed one may be named by sequence only with malformedToo: a replay
// cannot help it, a deletion can.
func (s *Server) chooseEventDeadLetters(ctx context.Context, seqs []uint64, filter *zenithv1.EventDeadLetterFilter, all bool, verb string, malformedToo bool) ([]eventDeadLetter, error) {
	if len(seqs) > 0 {
		return s.eventDeadLettersBySequence(ctx, seqs, malformedToo)
	}
	return s.eventDeadLettersByFilter(ctx, filter, all, verb)
}

// eventDeadLettersBySequence reads the dead-lettered events at seqs. Every
// one must exist and, unless malformedToo, be readable by the rule-engines.
func (s *Server) eventDeadLettersBySequence(ctx context.Context, seqs []uint64, malformedToo bool) ([]eventDeadLetter, error) {
	var list []eventDeadLetter
	for i, seq := range seqs {
		if slices.Contains(seqs[:i], seq) {
			continue
		}
		msg, err := s.deadLetterMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		dl, err := decodeEventDeadLetter(msg)
		if err != nil {
			return nil, invalid(fmt.Sprintf("sequences[%d]", i), "%v", err)
		}
		if dl.problem != nil && !malformedToo {
			return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf(
				"sequences[%d]: dead-lettered event %d is malformed, the rule-engines would refuse it again: %v", i, seq, dl.problem))
		}
		if err := s.attachEventStatus(ctx, &dl); err != nil {
			return nil, err
		}
		list = append(list, dl)
	}
	return list, nil
}

// eventDeadLettersByFilter reads every dead-lettered event filter selects.
// An empty filter must be confirmed with all, which the error says for
// verb.
func (s *Server) eventDeadLettersByFilter(ctx context.Context, filter *zenithv1.EventDeadLetterFilter, all bool, verb string) ([]eventDeadLetter, error) {
	if emptyEventFilter(filter) && !all {
		return nil, invalid("filter", "is empty: name sequences, narrow the filter, or set all to %s every dead-lettered event", verb)
	}
	return scanAll(func(start uint64) ([]eventDeadLetter, uint64, error) {
		return s.scanEventDeadLetters(ctx, filter, start, replayBatch, maxScan)
	})
}

func emptyEventFilter(f *zenithv1.EventDeadLetterFilter) bool {
	return f.GetSource() == "" && f.GetEventId() == "" && f.GetEventType() == "" && f.GetReason() == "" &&
		f.GetSince() == nil && f.GetUntil() == nil
}

// scanEventDeadLetters is scanDeadLetters for dead-lettered events: up to
// limit that filter selects, from sequence start, reading at most budget.
// A replayed or superseded one is left out unless the filter includes them.
func (s *Server) scanEventDeadLetters(ctx context.Context, filter *zenithv1.EventDeadLetterFilter, start uint64, limit, budget int) ([]eventDeadLetter, uint64, error) {
	var page []eventDeadLetter
	next, err := s.scanStream(ctx, bus.EventDeadLetters, start, limit, budget, func(msg *jetstream.RawStreamMsg) (bool, error) {
		dl, err := decodeEventDeadLetter(msg)
		if err != nil {
			s.log.WarnContext(ctx, "unreadable dead letter skipped", "sequence", msg.Sequence, "err", err)
			return false, nil
		}
		if !selectsEvent(filter, dl) {
			return false, nil
		}
		if err := s.attachEventStatus(ctx, &dl); err != nil {
			return false, err
		}
		if dl.status != eventDeadLettered && !filter.GetIncludeReplayed() {
			return false, nil
		}
		page = append(page, dl)
		return true, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return page, next, nil
}

// attachEventStatus fills in dl's status from its event's row: a malformed
// event has none, and a poison event's row describes its latest dead letter.
func (s *Server) attachEventStatus(ctx context.Context, dl *eventDeadLetter) error {
	dl.status = eventDeadLettered
	if dl.problem != nil {
		return nil
	}
	row, err := s.st.EventDeadLetterOf(ctx, dl.ev.Source, dl.ev.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case row.DLQSequence > dl.msg.Sequence:
		dl.status = eventSuperseded
	case row.DLQSequence == dl.msg.Sequence:
		dl.deliveries = row.Deliveries
		if !row.ReplayedAt.IsZero() {
			dl.status, dl.replayedAt = eventReplayed, row.ReplayedAt
		}
	}
	return nil
}

// decodeEventDeadLetter reads a dead-lettered event. An event the
// rule-engines cannot read is no error: its problem is kept, and what it
// claims to be is read as far as it goes.
func decodeEventDeadLetter(msg *jetstream.RawStreamMsg) (eventDeadLetter, error) {
	reason, ok := strings.CutPrefix(msg.Subject, bus.EventDeadLetterSubject(""))
	if !ok {
		return eventDeadLetter{}, fmt.Errorf("message %d is not a dead-lettered event", msg.Sequence)
	}
	dl := eventDeadLetter{msg: msg, reason: reason}
	dl.ev, dl.problem = event.FromNATS(msg.Header, msg.Data)
	if dl.problem == nil {
		dl.problem = checkOriginalSubject(msg.Header.Get(bus.OriginalSubjectHeader), dl.ev)
	}
	if dl.problem != nil {
		dl.ev = claimedEvent(msg)
	}
	return dl, nil
}

// checkOriginalSubject checks, as the rule-engines do, that ev came on the
// subject of its own source and type.
func checkOriginalSubject(subject string, ev event.Event) error {
	source, eventType, ok := bus.SourceFromEventSubject(subject)
	if !ok || source != ev.Source || eventType != ev.Type {
		return fmt.Errorf("its subject %q is not the subject of source %q and type %q", subject, ev.Source, ev.Type)
	}
	return nil
}

// claimedEvent reads the id, source and type a malformed event claims: from
// its CloudEvents headers, else from its JSON payload, else the source and
// type from the subject it came on.
func claimedEvent(msg *jetstream.RawStreamMsg) event.Event {
	ev := event.Event{
		ID:     event.HeaderValue(msg.Header, event.HeaderID),
		Source: event.HeaderValue(msg.Header, event.HeaderSource),
		Type:   event.HeaderValue(msg.Header, event.HeaderType),
	}
	var structured struct {
		ID     string `json:"id"`
		Source string `json:"source"`
		Type   string `json:"type"`
	}
	if json.Unmarshal(msg.Data, &structured) == nil {
		ev.ID = cmp.Or(ev.ID, structured.ID)
		ev.Source = cmp.Or(ev.Source, structured.Source)
		ev.Type = cmp.Or(ev.Type, structured.Type)
	}
	source, eventType, _ := bus.SourceFromEventSubject(msg.Header.Get(bus.OriginalSubjectHeader))
	ev.Source = cmp.Or(ev.Source, source)
	ev.Type = cmp.Or(ev.Type, eventType)
	return ev
}

// selectsEvent reports whether filter selects dl.
func selectsEvent(filter *zenithv1.EventDeadLetterFilter, dl eventDeadLetter) bool {
	switch {
	case filter.GetSource() != "" && dl.ev.Source != filter.GetSource():
		return false
	case filter.GetEventId() != "" && dl.ev.ID != filter.GetEventId():
		return false
	case filter.GetEventType() != "" && dl.ev.Type != filter.GetEventType():
		return false
	case filter.GetReason() != "" && dl.reason != filter.GetReason():
		return false
	case filter.GetSince() != nil && dl.msg.Time.Before(filter.GetSince().AsTime()):
		return false
	case filter.GetUntil() != nil && !dl.msg.Time.Before(filter.GetUntil().AsTime()):
		return false
	}
	return true
}

func (dl eventDeadLetter) proto() *zenithv1.EventDeadLetter {
	deliveries := dl.deliveries
	if deliveries == 0 {
		deliveries, _ = strconv.Atoi(dl.msg.Header.Get(action.DeadLetterAttemptsHeader))
	}
	out := &zenithv1.EventDeadLetter{
		Sequence: dl.msg.Sequence, Source: dl.ev.Source, EventId: dl.ev.ID, EventType: dl.ev.Type,
		Reason:          dl.reason,
		ReasonText:      dl.msg.Header.Get(action.DeadLetterReasonHeader),
		OriginalSubject: dl.msg.Header.Get(bus.OriginalSubjectHeader),
		DeadLetteredAt:  timestamp(dl.msg.Time.In(time.UTC)),
		Deliveries:      int32(deliveries),
		Status:          dl.status,
		ReplayedAt:      timestamp(dl.replayedAt),
	}
	if dl.problem != nil {
		out.NotReplayable = dl.problem.Error()
	}
	var payload structpb.Value
	if err := protojson.Unmarshal(dl.msg.Data, &payload); err == nil {
		out.Payload = &payload
	} else {
		out.PayloadText = strings.ToValidUTF8(string(dl.msg.Data), "\uFFFD")
	}
	return out
}
