package faults

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/zenith-hq/zenith/pkg/localpg"
)

// Options size a run of the suite.
type Options struct {
	// Rate is how many new events the producer sends per second, and
	// Workers how many it keeps in flight at most.
	Rate, Workers int
	// Rounds is how many times every fault is injected.
	Rounds int
	// Gap is how long the load runs before the first fault and between two.
	Gap time.Duration
	// Outage is how long PostgreSQL stays down, and the sink fails.
	Outage time.Duration
	// Quiet bounds the wait, after the load, for the pipeline to finish.
	Quiet time.Duration
	// Progress is how often a progress line is printed.
	Progress time.Duration
}

// Short is the version `make test` runs: about a minute of load with every
// fault injected once.
func Short() Options {
	return Options{Rate: 80, Workers: 32, Rounds: 1, Gap: 3 * time.Second, Outage: 5 * time.Second,
		Quiet: 3 * time.Minute, Progress: 5 * time.Second}
}

// Full is the version `make faults` runs: three rounds of every fault under
// a heavier load, with longer outages.
func Full() Options {
	return Options{Rate: 200, Workers: 64, Rounds: 3, Gap: 5 * time.Second, Outage: 15 * time.Second,
		Quiet: 5 * time.Minute, Progress: 5 * time.Second}
}

// Run runs the suite and returns its report. It returns an error when the
// suite itself could not run (a build or a start failed); the invariants'
// outcome is in the report (Report.Problems). The suite's folder, with
// each program's log, is removed unless the run found problems.
func Run(ctx context.Context, opts Options, out io.Writer) (*Report, error) {
	dir, err := makeDir()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	fmt.Fprintf(out, "faults: building and starting the pipeline in %s\n", dir)
	p, err := startPipeline(ctx, dir)
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("%w (logs in %s)", err, dir)
	}
	r := &suiteRun{opts: opts, p: p, out: out, start: time.Now(),
		report: &Report{Dir: dir}}
	fmt.Fprintf(out, "faults: pipeline up after %s; load of %d events/s\n", time.Since(start).Round(time.Millisecond), opts.Rate)
	runErr := r.run(ctx)
	p.stop()
	if runErr == nil && len(r.report.Problems()) == 0 {
		os.RemoveAll(dir)
	}
	return r.report, runErr
}

// suiteRun is one run: the pipeline, the load, and what was measured.
type suiteRun struct {
	opts   Options
	p      *pipeline
	out    io.Writer
	start  time.Time
	load   *load
	report *Report

	mu   sync.Mutex
	step string
}

// run drives the load while the faults are injected, waits for quiet and
// checks the ledger.
func (r *suiteRun) run(ctx context.Context) error {
	r.load = newLoad(r.p.ingestURL, shopKey, r.opts.Rate, r.opts.Workers)
	sending, stopSending := context.WithCancel(ctx)
	defer stopSending()
	finishing, stopFinishing := context.WithCancel(ctx)
	defer stopFinishing()
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		r.load.run(sending, finishing, r.opts.Workers)
	}()
	progressCtx, stopProgress := context.WithCancel(ctx)
	var progress sync.WaitGroup
	progress.Go(func() { r.printProgress(progressCtx) })
	defer func() {
		stopProgress()
		progress.Wait()
	}()

	faultErr := r.injectFaults(ctx)
	stopSending()
	r.setStep("finishing the events in flight")
	select {
	case <-loadDone:
	case <-time.After(time.Minute):
		stopFinishing()
		<-loadDone
	}
	if faultErr != nil {
		return faultErr
	}
	r.setStep("waiting for quiet")
	r.waitQuiet(ctx)
	stopProgress()
	progress.Wait()
	return r.checkLedger(ctx)
}

// injectFaults runs every fault Rounds times, waiting Gap before each.
func (r *suiteRun) injectFaults(ctx context.Context) error {
	for round := 1; round <= r.opts.Rounds; round++ {
		for _, f := range r.faults() {
			r.setStep(fmt.Sprintf("round %d: load", round))
			pause(ctx, r.opts.Gap)
			r.setStep(fmt.Sprintf("round %d: %s", round, f.name))
			fmt.Fprintf(r.out, "faults: [%5.1fs] %s\n", r.elapsed(), f.name)
			if err := f.inject(ctx); err != nil {
				return fmt.Errorf("round %d, %s: %w", round, f.name, err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// fault is one thing the suite breaks, and puts right.
type fault struct {
	name   string
	inject func(ctx context.Context) error
}

func (r *suiteRun) faults() []fault {
	p := r.p
	return []fault{
		{"SIGTERM ingestor", func(ctx context.Context) error { return r.terminate(ctx, p.ingestor) }},
		{"SIGTERM rule-engine", func(ctx context.Context) error { return r.terminate(ctx, p.engine) }},
		{"SIGTERM dispatcher", func(ctx context.Context) error { return r.terminate(ctx, p.disp) }},
		{"SIGKILL ingestor", func(ctx context.Context) error { return r.kill(ctx, p.ingestor) }},
		{"SIGKILL rule-engine", func(ctx context.Context) error { return r.kill(ctx, p.engine) }},
		{"SIGKILL dispatcher", func(ctx context.Context) error { return r.kill(ctx, p.disp) }},
		{"restart NATS (SIGTERM)", func(ctx context.Context) error { return r.restartNATS(ctx, syscall.SIGTERM) }},
		{"kill NATS (SIGKILL) and start it", func(ctx context.Context) error { return r.restartNATS(ctx, syscall.SIGKILL) }},
		{"stop PostgreSQL for " + r.opts.Outage.String(), r.postgresOutage},
		{"sink fails (503) for " + r.opts.Outage.String(), r.sinkOutage},
	}
}

// terminate sends SIGTERM to a tier under load, records how long its exit
// took and what it left unsettled in its consumer, and starts it again.
func (r *suiteRun) terminate(ctx context.Context, tier *process) error {
	grace := r.p.grace(tier)
	took, exitErr := tier.stop(syscall.SIGTERM, grace)
	s := Shutdown{Tier: tier.name, Took: took, Grace: grace, Unsettled: -1}
	if exitErr != nil {
		s.Err = exitErr.Error()
	}
	if stream, consumer := r.p.consumer(tier); consumer != "" {
		s.Unsettled = r.unsettled(ctx, stream, consumer)
	}
	r.mu.Lock()
	r.report.Shutdowns = append(r.report.Shutdowns, s)
	r.mu.Unlock()
	fmt.Fprintf(r.out, "faults:          %s exited after %s (grace %s)%s\n", tier.name, took.Round(time.Millisecond), grace, s.unsettledText())
	return tier.start(ctx, startTimeout)
}

// unsettled returns how many messages a stopped tier's consumer still has
// delivered and not acknowledged: each would be delivered again after the
// ack wait. The server handles acknowledgements asynchronously, so it asks
// until none is left, for a while.
func (r *suiteRun) unsettled(ctx context.Context, stream, consumer string) int {
	deadline := time.Now().Add(3 * time.Second)
	for {
		info, err := r.p.consumerInfo(ctx, stream, consumer)
		if err == nil && (info.NumAckPending == 0 || time.Now().After(deadline)) {
			return info.NumAckPending
		}
		if err != nil && time.Now().After(deadline) {
			return -1
		}
		pause(ctx, 100*time.Millisecond)
	}
}

// kill kills a tier and starts it again at once, as Kubernetes would.
func (r *suiteRun) kill(ctx context.Context, tier *process) error {
	if _, err := tier.stop(syscall.SIGKILL, time.Minute); err != nil {
		return err
	}
	return tier.start(ctx, startTimeout)
}

// restartNATS stops the NATS server with sig and starts it again on the
// same port and store.
func (r *suiteRun) restartNATS(ctx context.Context, sig syscall.Signal) error {
	if _, err := r.p.nats.stop(sig, time.Minute); err != nil {
		return err
	}
	return r.p.nats.start(ctx, natsStartTimeout)
}

// postgresOutage stops PostgreSQL for Outage and starts it again.
func (r *suiteRun) postgresOutage(ctx context.Context) error {
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := r.p.pg.Stop(stopCtx); err != nil {
		return err
	}
	pause(ctx, r.opts.Outage)
	startCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := localpg.Start(startCtx, r.p.pgOpts)
	return err
}

// sinkOutage makes the receiver answer 503 for Outage.
func (r *suiteRun) sinkOutage(ctx context.Context) error {
	r.p.recv.failing.Store(true)
	pause(ctx, r.opts.Outage)
	r.p.recv.failing.Store(false)
	return nil
}

// waitQuiet waits until both consumers have nothing left to deliver or
// settle, or Quiet passes.
func (r *suiteRun) waitQuiet(ctx context.Context) {
	deadline := time.Now().Add(r.opts.Quiet)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.p.idle(ctx) {
			return
		}
		pause(ctx, 500*time.Millisecond)
	}
	fmt.Fprintf(r.out, "faults: not quiet within %s; checking the ledger as it is\n", r.opts.Quiet)
}

func (r *suiteRun) setStep(step string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.step = step
}

func (r *suiteRun) elapsed() float64 {
	return time.Since(r.start).Seconds()
}

// printProgress prints a line every Progress until ctx ends.
func (r *suiteRun) printProgress(ctx context.Context) {
	tick := time.NewTicker(r.opts.Progress)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.mu.Lock()
		step := r.step
		r.mu.Unlock()
		sent, accepted, _ := r.load.counts()
		delivered, distinct, refused := r.p.recv.counts()
		rows := "?"
		if n, err := r.p.auditRows(ctx); err == nil {
			rows = fmt.Sprint(n)
		}
		fmt.Fprintf(r.out, "faults: [%5.1fs] %-36s sent %d, accepted %d, audit rows %s, sink got %d (%d distinct, %d refused)\n",
			r.elapsed(), step, sent, accepted, rows, delivered, distinct, refused)
	}
}
