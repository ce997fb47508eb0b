package faults

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Report is what a run measured and found.
type Report struct {
	// Dir is the suite's folder, kept with the programs' logs when the run
	// found problems.
	Dir string

	// The producer's side: events sent (distinct ids), accepted (202),
	// requests made, refusals by kind, and acceptances JetStream reported
	// as duplicates of an event it already held.
	Sent, Accepted, Requests, AcceptedAsDuplicate int
	Refusals                                      map[string]int

	// Evaluated is how many accepted events have an outcome (audit rows).
	Evaluated int
	// Lost are the accepted events without any outcome.
	Lost []string

	// ExpectedDispatches are the dispatches the accepted events call for,
	// AuditRows the rows found, of which Delivered and DeadLettered.
	ExpectedDispatches, AuditRows, Delivered, DeadLettered int
	// Missing are expected dispatches without an audit row, Unexpected
	// audit rows or deliveries no event sent calls for.
	Missing, Unexpected []string
	// DuplicateAuditRows counts rows beyond the first for one event, rule
	// and sink.
	DuplicateAuditRows int

	// The sink's side: deliveries accepted, distinct webhook-ids among them,
	// requests refused during its outage. NotAtSink are delivered dispatches
	// the receiver never saw, WrongSink those that reached another path.
	SinkDeliveries, SinkDistinct, SinkRefused int
	NotAtSink, WrongSink                      []string

	// What JetStream stored: events and actions (copies stored again
	// included), and events the rule-engine dead-lettered.
	EventsStored, ActionsStored uint64
	EventDeadLetters            int

	// Shutdowns are the SIGTERMs sent under load.
	Shutdowns []Shutdown
}

// Shutdown is one SIGTERM under load.
type Shutdown struct {
	Tier  string
	Took  time.Duration
	Grace time.Duration
	// Unsettled is how many messages the stopped tier left delivered and
	// not acknowledged in its consumer; -1 when unknown or not a consumer.
	Unsettled int
	// Err is the exit error, empty for a clean exit.
	Err string
}

func (s Shutdown) consumer() bool {
	return s.Tier != "ingestor"
}

func (s Shutdown) unsettledText() string {
	if !s.consumer() {
		return ""
	}
	return fmt.Sprintf(", %d messages left unsettled", s.Unsettled)
}

// Problems lists the broken promises the run found; none means it passed.
func (r *Report) Problems() []string {
	var list []string
	add := func(ids []string, what string) {
		if len(ids) > 0 {
			list = append(list, fmt.Sprintf("%d %s, such as %s", len(ids), what, strings.Join(ids[:min(3, len(ids))], ", ")))
		}
	}
	add(r.Lost, "accepted events without an outcome")
	add(r.Missing, "expected dispatches without an audit row")
	add(r.Unexpected, "dispatches no event called for")
	add(r.NotAtSink, "delivered dispatches the sink never saw")
	add(r.WrongSink, "dispatches delivered to the wrong sink")
	if r.DuplicateAuditRows > 0 {
		list = append(list, fmt.Sprintf("%d duplicate audit rows", r.DuplicateAuditRows))
	}
	if r.Accepted == 0 {
		list = append(list, "no event was accepted")
	}
	for _, s := range r.Shutdowns {
		switch {
		case s.Err != "":
			list = append(list, fmt.Sprintf("%s: %s", s.Tier, s.Err))
		case s.Took > s.Grace:
			list = append(list, fmt.Sprintf("%s took %s to stop, beyond its grace of %s", s.Tier, s.Took, s.Grace))
		case s.consumer() && s.Unsettled != 0:
			list = append(list, fmt.Sprintf("%s left %d messages unsettled on SIGTERM (-1: unknown)", s.Tier, s.Unsettled))
		}
	}
	return list
}

// Print writes the report's counts to w.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "faults: events: %d sent, %d accepted (%d requests; refusals retried: %s; %d accepted as duplicates)\n",
		r.Sent, r.Accepted, r.Requests, refusalText(r.Refusals), r.AcceptedAsDuplicate)
	fmt.Fprintf(w, "faults: evaluated: %d of %d accepted events, %d lost; %d events stored in JetStream, %d dead-lettered\n",
		r.Evaluated, r.Accepted, len(r.Lost), r.EventsStored, r.EventDeadLetters)
	fmt.Fprintf(w, "faults: dispatches: %d expected, %d audit rows (%d delivered, %d dead-lettered), %d missing, %d unexpected, %d duplicate rows\n",
		r.ExpectedDispatches, r.AuditRows, r.Delivered, r.DeadLettered, len(r.Missing), len(r.Unexpected), r.DuplicateAuditRows)
	fmt.Fprintf(w, "faults: sink: %d deliveries of %d webhook-ids (%d repeated), %d refused during its outage, %d delivered dispatches never seen\n",
		r.SinkDeliveries, r.SinkDistinct, r.SinkDeliveries-r.SinkDistinct, r.SinkRefused, len(r.NotAtSink))
	fmt.Fprintf(w, "faults: duplicates absorbed: %d events stored again and evaluated again, %d action copies stored again, %d sink deliveries repeated with the same webhook-id\n",
		r.reEvaluated(), r.actionCopies(), r.SinkDeliveries-r.SinkDistinct)
	for _, s := range r.Shutdowns {
		fmt.Fprintf(w, "faults: SIGTERM %-11s exited after %-8s grace %s%s\n", s.Tier, s.Took.Round(time.Millisecond), s.Grace, s.unsettledText())
	}
	if problems := r.Problems(); len(problems) > 0 {
		fmt.Fprintf(w, "faults: FAILED (logs in %s):\n  %s\n", r.Dir, strings.Join(problems, "\n  "))
		return
	}
	fmt.Fprintln(w, "faults: PASSED: nothing accepted was lost, no dispatch was recorded twice")
}

// reEvaluated is how many events were stored a second time (an id seen
// before a NATS restart, resent after it) and so evaluated again.
func (r *Report) reEvaluated() int {
	return max(0, int(r.EventsStored)-r.Accepted)
}

// actionCopies is how many actions were stored beyond one per dispatch:
// the audit log kept them from being delivered again.
func (r *Report) actionCopies() int {
	return max(0, int(r.ActionsStored)-r.AuditRows)
}

func refusalText(refusals map[string]int) string {
	if len(refusals) == 0 {
		return "none"
	}
	var parts []string
	for _, kind := range slices.Sorted(maps.Keys(refusals)) {
		parts = append(parts, fmt.Sprintf("%s×%d", kind, refusals[kind]))
	}
	return strings.Join(parts, ", ")
}

// expectedDispatch is a dispatch an event sent calls for.
type expectedDispatch struct {
	n    int
	path string
}

// checkLedger fills the report from the producer's, the database's, the
// streams' and the receiver's records, and prints it.
func (r *suiteRun) checkLedger(ctx context.Context) error {
	rep, p := r.report, r.p
	rep.Sent, rep.Accepted, rep.Refusals = r.load.counts()
	rep.Requests, rep.AcceptedAsDuplicate = int(r.load.tries.Load()), int(r.load.duplicates.Load())
	accepted := r.load.acceptedSet()
	expected := p.expectedDispatches(rep.Sent)

	rows, err := p.auditLedger(ctx)
	if err != nil {
		return err
	}
	rep.AuditRows = len(rows)
	withOutcome := map[int]bool{}
	for id, status := range rows {
		e, ok := expected[id]
		if !ok {
			rep.Unexpected = append(rep.Unexpected, id)
			continue
		}
		withOutcome[e.n] = true
		if status == store.StatusDelivered {
			rep.Delivered++
		} else {
			rep.DeadLettered++
		}
	}
	for id, e := range expected {
		if !accepted[e.n] {
			continue
		}
		rep.ExpectedDispatches++
		if _, ok := rows[id]; !ok {
			rep.Missing = append(rep.Missing, id)
		}
	}
	for n := range accepted {
		if withOutcome[n] {
			rep.Evaluated++
		} else {
			rep.Lost = append(rep.Lost, orderNumber(n).id())
		}
	}
	r.checkSink(rows, expected)
	if err := r.readStores(ctx); err != nil {
		return err
	}
	rep.Print(r.out)
	return nil
}

// checkSink compares what the receiver saw with the audit rows.
func (r *suiteRun) checkSink(rows map[string]string, expected map[string]expectedDispatch) {
	rep := r.report
	paths, seen := r.p.recv.deliveries()
	rep.SinkDeliveries, rep.SinkDistinct, rep.SinkRefused = r.p.recv.counts()
	for id, status := range rows {
		e, ok := expected[id]
		switch {
		case !ok || status != store.StatusDelivered:
		case seen[id] == 0:
			rep.NotAtSink = append(rep.NotAtSink, id)
		case paths[id] != e.path:
			rep.WrongSink = append(rep.WrongSink, id)
		}
	}
	for id := range seen {
		if _, ok := expected[id]; !ok {
			rep.Unexpected = append(rep.Unexpected, "webhook-id "+id)
		}
	}
}

// readStores reads the duplicate rows, the dead-lettered events and the
// streams' counts.
func (r *suiteRun) readStores(ctx context.Context) error {
	rep, p := r.report, r.p
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT count(*) - count(DISTINCT (source, event_id, rule_id, sink_id)) FROM audit_log`).Scan(&rep.DuplicateAuditRows)
	if err == nil {
		err = conn.QueryRow(ctx, `SELECT count(*) FROM event_dead_letters`).Scan(&rep.EventDeadLetters)
	}
	if err != nil {
		return fmt.Errorf("read the ledger: %w", err)
	}
	if rep.EventsStored, err = p.lastSequence(ctx, bus.EventsStream); err != nil {
		return err
	}
	rep.ActionsStored, err = p.lastSequence(ctx, bus.ActionsStream)
	return err
}

// expectedDispatches returns the dispatches the first sent events call for,
// by dispatch id.
func (p *pipeline) expectedDispatches(sent int) map[string]expectedDispatch {
	expected := map[string]expectedDispatch{}
	for n := range sent {
		o := orderNumber(n)
		for _, m := range expectedMatches(o) {
			id := action.DispatchID("shop", o.id(), p.ruleIDs[m.rule], p.sinkIDs[m.sink])
			expected[id] = expectedDispatch{n: n, path: "/" + m.sink}
		}
	}
	return expected
}

// auditLedger returns the status of every audit row, by dispatch id.
func (p *pipeline) auditLedger(ctx context.Context) (map[string]string, error) {
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT dispatch_id, status FROM audit_log`)
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	statuses := map[string]string{}
	var id, status string
	_, err = pgx.ForEachRow(rows, []any{&id, &status}, func() error {
		statuses[id] = status
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit log: %w", err)
	}
	return statuses, nil
}

// auditRows counts the audit rows, for progress lines.
func (p *pipeline) auditRows(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.dsn)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM audit_log`).Scan(&n)
	return n, err
}

// consumerInfo returns the state of a durable consumer.
func (p *pipeline) consumerInfo(ctx context.Context, stream, name string) (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := p.js.Consumer(ctx, stream, name)
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

// idle reports whether both consumers have nothing left to deliver and
// nothing delivered but unsettled.
func (p *pipeline) idle(ctx context.Context) bool {
	for _, tier := range []*process{p.engine, p.disp} {
		stream, name := p.consumer(tier)
		info, err := p.consumerInfo(ctx, stream, name)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
	}
	return true
}

// lastSequence is the sequence of the last message a stream stored: how
// many it ever stored, as the suite's streams start empty.
func (p *pipeline) lastSequence(ctx context.Context, stream string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := p.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("read stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}
