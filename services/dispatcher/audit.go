package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-retry"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/store"
)

// auditWriteTimeout bounds one write of a batch.
const auditWriteTimeout = 10 * time.Second

// auditJob is an outcome to record, and the action to acknowledge once it is.
type auditJob struct {
	record store.AuditRecord
	msg    jetstream.Msg
	// trace is the span of the dispatch, for the log lines about the job.
	trace trace.SpanContext
}

// logContext is a context carrying the job's span, for its log lines.
func (j auditJob) logContext() context.Context {
	return trace.ContextWithSpanContext(context.Background(), j.trace)
}

// auditWriter records outcomes in batches, in one goroutine, and acknowledges
// each action only after its row is committed: an action whose outcome is
// not recorded is never removed from the stream. While the database is down
// it keeps retrying and acknowledges nothing; the queue in front of it fills
// and the workers stop taking new actions.
type auditWriter struct {
	st        *store.Store
	log       *slog.Logger
	jobs      chan auditJob
	batchSize int
	linger    time.Duration
	// settled is called with the dispatch id of each action acknowledged or
	// handed back.
	settled func(dispatchID string)
}

func newAuditWriter(st *store.Store, log *slog.Logger, cfg Config, settled func(string)) *auditWriter {
	return &auditWriter{
		st:        st,
		log:       log,
		jobs:      make(chan auditJob, cfg.AuditBatchSize),
		batchSize: cfg.AuditBatchSize,
		linger:    cfg.AuditLinger,
		settled:   settled,
	}
}

// submit queues a job, waiting while the queue is full, which it is while
// the database is down. It returns false, queueing nothing, if ctx ends
// first. The caller must not call it after close.
func (w *auditWriter) submit(ctx context.Context, job auditJob) bool {
	select {
	case w.jobs <- job:
		return true
	case <-ctx.Done():
		return false
	}
}

// close tells run that no more jobs come; run returns once it has written
// the queued ones.
func (w *auditWriter) close() {
	close(w.jobs)
}

// run writes batches until close, and gives up on the database only when ctx
// ends: the actions of the batch it held are then handed back to JetStream.
func (w *auditWriter) run(ctx context.Context) {
	for {
		batch, open := w.collect()
		if len(batch) > 0 {
			w.commit(ctx, batch)
		}
		if !open {
			return
		}
	}
}

// collect waits for a first job, then gathers more until the batch is full,
// the linger time has passed or the queue is closed. open is false once the
// queue is closed and empty.
func (w *auditWriter) collect() (batch []auditJob, open bool) {
	first, ok := <-w.jobs
	if !ok {
		return nil, false
	}
	batch = append(make([]auditJob, 0, w.batchSize), first)
	timer := time.NewTimer(w.linger)
	defer timer.Stop()
	for len(batch) < w.batchSize {
		select {
		case job, ok := <-w.jobs:
			if !ok {
				return batch, false
			}
			batch = append(batch, job)
		case <-timer.C:
			return batch, true
		}
	}
	return batch, true
}

// commit writes a batch, then acknowledges its actions.
func (w *auditWriter) commit(ctx context.Context, batch []auditJob) {
	err := w.write(ctx, batch)
	if rowRefused(err) {
		// The database refused a row, not the connection: find which rather
		// than let one bad row stop every delivery.
		w.commitOneByOne(ctx, batch)
		return
	}
	if err != nil {
		w.handBack(batch, err)
		return
	}
	w.ack(batch)
}

// write inserts the batch, retrying with backoff while the database is
// unreachable or refuses to work. It returns an error for which rowRefused
// holds at once, since writing the same rows again would fail the same way.
func (w *auditWriter) write(ctx context.Context, batch []auditJob) error {
	records := make([]store.AuditRecord, len(batch))
	for i, job := range batch {
		records[i] = job.record
	}
	backoff := retry.WithCappedDuration(5*time.Second, retry.NewExponential(100*time.Millisecond))
	return retry.Do(ctx, backoff, func(ctx context.Context) error {
		writeCtx, cancel := context.WithTimeout(ctx, auditWriteTimeout)
		defer cancel()
		err := w.st.InsertAudit(writeCtx, records)
		if err == nil || rowRefused(err) {
			return err
		}
		w.log.WarnContext(ctx, "audit write failed, retrying", "rows", len(records), "err", err)
		return retry.RetryableError(err)
	})
}

// commitOneByOne writes each job of a batch the database refused alone. An
// action whose row is refused is acknowledged all the same: its delivery is
// done, and handing it back would deliver it again.
func (w *auditWriter) commitOneByOne(ctx context.Context, batch []auditJob) {
	for _, job := range batch {
		err := w.write(ctx, []auditJob{job})
		switch {
		case rowRefused(err):
			w.log.ErrorContext(job.logContext(), "audit row refused by the database",
				"dispatch_id", job.record.DispatchID, "status", job.record.Status, "err", err)
		case err != nil:
			w.handBack([]auditJob{job}, err)
			continue
		}
		w.ack([]auditJob{job})
	}
}

// rowRefused reports whether err means that the database refused the rows
// themselves (a value it cannot store, a constraint they break), which no
// retry can change. Any other error, such as a server shutting down
// (SQLSTATE 57P01), a lost connection or a serialization failure, is the
// database's state, not the rows': writing them again later will work.
func rowRefused(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgerrcode.IsDataException(pgErr.Code) || pgerrcode.IsIntegrityConstraintViolation(pgErr.Code)
}

// ack acknowledges the actions of jobs whose rows are committed. A plain Ack
// is enough: if it is lost, the redelivered action finds its audit row and
// is acknowledged without being delivered again.
func (w *auditWriter) ack(batch []auditJob) {
	for _, job := range batch {
		if err := job.msg.Ack(); err != nil {
			w.log.WarnContext(job.logContext(), "ack failed", "dispatch_id", job.record.DispatchID, "err", err)
		}
		w.settled(job.record.DispatchID)
	}
}

// handBack returns the actions of jobs whose rows could not be written to
// JetStream, to be delivered again later.
func (w *auditWriter) handBack(batch []auditJob, cause error) {
	w.log.Error("audit rows not written, actions handed back", "rows", len(batch), "err", cause)
	for _, job := range batch {
		if err := job.msg.Nak(); err != nil {
			w.log.WarnContext(job.logContext(), "nak failed", "dispatch_id", job.record.DispatchID, "err", err)
		}
		w.settled(job.record.DispatchID)
	}
}
