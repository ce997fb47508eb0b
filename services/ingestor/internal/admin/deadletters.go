package admin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// maxScan bounds how many dead letters one listing call reads. A filter that
// selects few of them then answers a short page with a token to go on, so a
// call never walks a whole large stream.
const maxScan = 10_000

// replayBatch is how many dead letters a replay by filter reads at a time.
const replayBatch = 100

// deadLetter is a message of the dead-letter stream, decoded.
type deadLetter struct {
	msg    *jetstream.RawStreamMsg
	action action.Action
	// status is the dispatch's audit status now.
	status string
}

// ListDeadLetters pages through the dead-letter stream, oldest first.
func (s *Server) ListDeadLetters(ctx context.Context, req *connect.Request[zenithv1.ListDeadLettersRequest]) (*connect.Response[zenithv1.ListDeadLettersResponse], error) {
	page, next, err := streamPage(req.Msg.GetPageSize(), req.Msg.GetPageToken(), func(start uint64, size int) ([]deadLetter, uint64, error) {
		return s.scanDeadLetters(ctx, req.Msg.GetFilter(), start, size, maxScan)
	})
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListDeadLettersResponse{NextPageToken: next}
	for _, dl := range page {
		resp.DeadLetters = append(resp.DeadLetters, dl.proto())
	}
	return connect.NewResponse(resp), nil
}

// ReplayDeadLetters publishes dead letters back on the actions stream.
func (s *Server) ReplayDeadLetters(ctx context.Context, req *connect.Request[zenithv1.ReplayDeadLettersRequest]) (*connect.Response[zenithv1.ReplayDeadLettersResponse], error) {
	chosen, err := s.chooseDeadLetters(ctx, req.Msg.GetSequences(), req.Msg.GetFilter(), req.Msg.GetAll(), "replay")
	if err != nil {
		return nil, err
	}

	sinks, err := s.sinkIDs(ctx)
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ReplayDeadLettersResponse{}
	for _, dl := range chosen {
		outcome := &zenithv1.ReplayOutcome{Sequence: dl.msg.Sequence, DispatchId: dl.action.DispatchID}
		switch {
		case dl.status == store.StatusDelivered:
			outcome.Skipped = "already delivered"
		case !sinks[dl.action.Sink.ID]:
			// The dispatcher would only dead-letter it again.
			outcome.Skipped = fmt.Sprintf("its sink %s was deleted", dl.action.Sink.Name)
		default:
			if err := s.replay(ctx, dl); err != nil {
				return nil, fmt.Errorf("replay dead letter %d: %w", dl.msg.Sequence, err)
			}
			outcome.Replayed = true
		}
		resp.Outcomes = append(resp.Outcomes, outcome)
	}
	s.log.InfoContext(ctx, "dead letters replayed", "chosen", len(chosen))
	return connect.NewResponse(resp), nil
}

// DeleteDeadLetters removes dead letters from the dead-letter stream.
func (s *Server) DeleteDeadLetters(ctx context.Context, req *connect.Request[zenithv1.DeleteDeadLettersRequest]) (*connect.Response[zenithv1.DeleteDeadLettersResponse], error) {
	chosen, err := s.chooseDeadLetters(ctx, req.Msg.GetSequences(), req.Msg.GetFilter(), req.Msg.GetAll(), "delete")
	if err != nil {
		return nil, err
	}
	deleted, err := deleteDeadLetters(ctx, s, chosen, "dead letters deleted")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&zenithv1.DeleteDeadLettersResponse{Deleted: deleted}), nil
}

// deleteDeadLetters removes chosen, dead letters of either kind, from the
// dead-letter stream, logs how many under message, and returns their
// sequences. One deleted meanwhile by another call counts as deleted.
func deleteDeadLetters[T interface{ sequence() uint64 }](ctx context.Context, s *Server, chosen []T, message string) ([]uint64, error) {
	stream, err := s.js.Stream(ctx, bus.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream: %w", err)
	}
	seqs := make([]uint64, len(chosen))
	for i, dl := range chosen {
		seqs[i] = dl.sequence()
		err := stream.DeleteMsg(ctx, seqs[i])
		if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, fmt.Errorf("delete dead letter %d: %w", seqs[i], err)
		}
	}
	s.log.InfoContext(ctx, message, "count", len(seqs))
	return seqs, nil
}

// sequence is the dead letter's place in the dead-letter stream.
func (dl deadLetter) sequence() uint64 { return dl.msg.Sequence }

// chooseDeadLetters reads the dead letters a replay or a deletion (verb)
// names: seqs when given, else those filter selects.
func (s *Server) chooseDeadLetters(ctx context.Context, seqs []uint64, filter *zenithv1.DeadLetterFilter, all bool, verb string) ([]deadLetter, error) {
	if len(seqs) > 0 {
		return s.deadLettersBySequence(ctx, seqs)
	}
	return s.deadLettersByFilter(ctx, filter, all, verb)
}

// sinkIDs returns the ids of the sinks that exist.
func (s *Server) sinkIDs(ctx context.Context) (map[string]bool, error) {
	list, err := s.st.ListSinks(ctx)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(list))
	for _, k := range list {
		ids[k.ID] = true
	}
	return ids, nil
}

// replay publishes a dead letter's action, unchanged, on the actions
// subject of its sink type, marked as a replay so that the dispatcher
// delivers it despite its dead_lettered audit row, and with the dead
// letter's trace context, so that the delivery joins the event's trace.
// Its message id is new: under the dispatch id alone, JetStream would drop
// it as a copy of the original action if that is still within the
// duplicate window.
func (s *Server) replay(ctx context.Context, dl deadLetter) error {
	sinkType, _ := strings.CutPrefix(dl.msg.Subject, bus.DeadLetterSubject(""))
	msg := &nats.Msg{
		Subject: bus.ActionSubject(sinkType),
		Data:    dl.msg.Data,
		Header:  nats.Header{"Content-Type": {"application/json"}},
	}
	msg.Header.Set(action.ReplayHeader, strconv.FormatUint(dl.msg.Sequence, 10))
	// The replayed delivery continues the trace of the event it belongs to.
	telemetry.Inject(telemetry.Extract(ctx, dl.msg.Header), msg.Header)
	msgID := dl.action.DispatchID + ".replay." + uuid.NewString()
	_, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(bus.ActionsStream))
	return err
}

func (s *Server) deadLettersBySequence(ctx context.Context, seqs []uint64) ([]deadLetter, error) {
	var list []deadLetter
	for i, seq := range seqs {
		if slices.Contains(seqs[:i], seq) {
			continue
		}
		msg, err := s.deadLetterMsg(ctx, seq)
		if err != nil {
			return nil, err
		}
		dl, err := decodeDeadLetter(msg)
		if err != nil {
			return nil, invalid(fmt.Sprintf("sequences[%d]", i), "%v", err)
		}
		list = append(list, dl)
	}
	return list, s.attachStatuses(ctx, list)
}

// deadLetterMsg reads the message at seq of the dead-letter stream.
func (s *Server) deadLetterMsg(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	stream, err := s.js.Stream(ctx, bus.DeadLetterStream)
	if err != nil {
		return nil, fmt.Errorf("open dead-letter stream: %w", err)
	}
	if seq == 0 {
		return nil, invalid("sequences", "a dead letter's sequence is 1 or more, not 0")
	}
	msg, err := stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dead letter %d: %w", seq, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letter %d: %w", seq, err)
	}
	return msg, nil
}

// deadLettersByFilter reads every dead letter filter selects. An empty
// filter must be confirmed with all, which the error says for verb.
func (s *Server) deadLettersByFilter(ctx context.Context, filter *zenithv1.DeadLetterFilter, all bool, verb string) ([]deadLetter, error) {
	if emptyFilter(filter) && !all {
		return nil, invalid("filter", "is empty: name sequences, narrow the filter, or set all to %s every dead letter", verb)
	}
	return scanAll(func(start uint64) ([]deadLetter, uint64, error) {
		return s.scanDeadLetters(ctx, filter, start, replayBatch, maxScan)
	})
}

// scanAll calls scan from the stream's start, and again from where each
// call left off, until the end of the stream, and returns everything the
// calls returned.
func scanAll[T any](scan func(start uint64) ([]T, uint64, error)) ([]T, error) {
	var list []T
	start := uint64(1)
	for {
		page, next, err := scan(start)
		if err != nil {
			return nil, err
		}
		list = append(list, page...)
		if next == 0 {
			return list, nil
		}
		start = next
	}
}

func emptyFilter(f *zenithv1.DeadLetterFilter) bool {
	return f.GetEventId() == "" && f.GetRule() == "" && f.GetSink() == "" &&
		f.GetSince() == nil && f.GetUntil() == nil
}

// scanDeadLetters reads the stream from sequence start and returns up to
// limit dead letters that filter selects, and the sequence to go on from,
// 0 at the end of the stream. It reads at most budget messages.
func (s *Server) scanDeadLetters(ctx context.Context, filter *zenithv1.DeadLetterFilter, start uint64, limit, budget int) ([]deadLetter, uint64, error) {
	var page []deadLetter
	next, err := s.scanStream(ctx, bus.ActionDeadLetters, start, limit, budget, func(msg *jetstream.RawStreamMsg) (bool, error) {
		dl, err := decodeDeadLetter(msg)
		if err != nil {
			s.log.WarnContext(ctx, "unreadable dead letter skipped", "sequence", msg.Sequence, "err", err)
			return false, nil
		}
		if !selects(filter, dl) {
			return false, nil
		}
		one := []deadLetter{dl}
		if err := s.attachStatuses(ctx, one); err != nil {
			return false, err
		}
		if one[0].status == store.StatusDelivered && !filter.GetIncludeResolved() {
			return false, nil
		}
		page = append(page, one[0])
		return true, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return page, next, nil
}

// scanStream reads the messages of the dead-letter stream on subject from
// sequence start, handing each to take, which reports whether it kept it,
// until take kept limit of them or budget messages were read. It returns
// the sequence to go on from, 0 at the end of the stream.
func (s *Server) scanStream(
	ctx context.Context,
	subject string,
	start uint64,
	limit, budget int,
	take func(*jetstream.RawStreamMsg) (bool, error),
) (uint64, error) {
	stream, err := s.js.Stream(ctx, bus.DeadLetterStream)
	if err != nil {
		return 0, fmt.Errorf("open dead-letter stream: %w", err)
	}
	seq, kept := start, 0
	for read := 0; kept < limit; read++ {
		if read == budget {
			return seq, nil
		}
		msg, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read dead letter %d: %w", seq, err)
		}
		seq = msg.Sequence + 1
		ok, err := take(msg)
		if err != nil {
			return 0, err
		}
		if ok {
			kept++
		}
	}
	return seq, nil
}

// attachStatuses fills in the audit status of each dead letter's dispatch.
func (s *Server) attachStatuses(ctx context.Context, list []deadLetter) error {
	ids := make([]string, len(list))
	for i, dl := range list {
		ids[i] = dl.action.DispatchID
	}
	statuses, err := s.st.AuditStatuses(ctx, ids)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].status = statuses[list[i].action.DispatchID]
	}
	return nil
}

func decodeDeadLetter(msg *jetstream.RawStreamMsg) (deadLetter, error) {
	sinkType, ok := strings.CutPrefix(msg.Subject, bus.DeadLetterSubject(""))
	if !ok || sinkType == "" || strings.Contains(sinkType, ".") {
		return deadLetter{}, fmt.Errorf("message %d is not a dead-lettered action", msg.Sequence)
	}
	a, err := action.Decode(msg.Data)
	if err != nil {
		return deadLetter{}, err
	}
	return deadLetter{msg: msg, action: a}, nil
}

// selects reports whether filter selects dl.
func selects(filter *zenithv1.DeadLetterFilter, dl deadLetter) bool {
	a := dl.action
	switch {
	case filter.GetEventId() != "" && a.Event.ID != filter.GetEventId():
		return false
	case filter.GetRule() != "" && a.Rule.Name != filter.GetRule():
		return false
	case filter.GetSink() != "" && a.Sink.Name != filter.GetSink():
		return false
	case filter.GetSince() != nil && dl.msg.Time.Before(filter.GetSince().AsTime()):
		return false
	case filter.GetUntil() != nil && !dl.msg.Time.Before(filter.GetUntil().AsTime()):
		return false
	}
	return true
}

func (dl deadLetter) proto() *zenithv1.DeadLetter {
	a := dl.action
	attempts, _ := strconv.Atoi(dl.msg.Header.Get(action.DeadLetterAttemptsHeader))
	code, _ := strconv.Atoi(dl.msg.Header.Get(action.DeadLetterStatusHeader))
	return &zenithv1.DeadLetter{
		Sequence: dl.msg.Sequence, DispatchId: a.DispatchID,
		EventId: a.Event.ID, Source: a.Event.Source, EventType: a.Event.Type,
		Rule: a.Rule.Name, Sink: a.Sink.Name, SinkType: a.Sink.Type,
		Reason:         dl.msg.Header.Get(action.DeadLetterReasonHeader),
		Attempts:       int32(attempts),
		HttpStatus:     int32(code),
		DeadLetteredAt: timestamp(dl.msg.Time.In(time.UTC)),
		AuditStatus:    dl.status,
	}
}

// streamPage reads one page of a listing of the dead-letter stream: scan
// reads up to size items from sequence start, as the request's page size
// and token say, and returns the sequence to go on from, 0 at the end. It
// returns the page and the token of the next one, "" after the last.
func streamPage[T any](requestedSize int32, token string, scan func(start uint64, size int) ([]T, uint64, error)) ([]T, string, error) {
	size, err := pageSize(requestedSize)
	if err != nil {
		return nil, "", err
	}
	start, err := decodeSequenceToken(token)
	if err != nil {
		return nil, "", err
	}
	page, next, err := scan(start, size)
	if err != nil || next == 0 {
		return page, "", err
	}
	return page, strconv.FormatUint(next, 10), nil
}

func decodeSequenceToken(token string) (uint64, error) {
	if token == "" {
		return 1, nil
	}
	seq, err := strconv.ParseUint(token, 10, 64)
	if err != nil || seq == 0 {
		return 0, invalid("page_token", "is not a token this listing returned")
	}
	return seq, nil
}
