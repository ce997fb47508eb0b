package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/localpg"
	"github.com/zenith-hq/zenith/pkg/store"
)

// shopKey is the API key of the suite's source; the suite's own, on
// loopback only.
const shopKey = "zenith-faults-shop-key-0001"

// pipelineConfig is the configuration file the suite applies: three rules
// whose matches follow from an order's amount and segment (expectedMatches),
// over three webhook sinks on the receiver. The breakers cool down quickly
// and the lanes are wide, so that the sink's outage ends within the run
// and a healthy sink never has actions put back for later.
const pipelineConfig = `
sources:
  - name: shop
    api_keys_from_env: [SHOP_API_KEY]
sinks:
  - {name: alerts, type: webhook, url: "http://%[1]s/alerts", policy: {breaker_cooldown: 1s, concurrency: 500}}
  - {name: crm, type: webhook, url: "http://%[1]s/crm", policy: {breaker_cooldown: 1s, concurrency: 500}}
  - {name: archive, type: webhook, url: "http://%[1]s/archive", policy: {breaker_cooldown: 1s, concurrency: 500}}
rules:
  - name: big-order
    source: shop
    event_type: order.placed
    condition: {field: amount, operator: ">=", value: 500}
    actions: [alerts]
  - name: vip-order
    source: shop
    event_type: order.placed
    condition: {field: user.segment, operator: "==", value: VIP}
    actions: [crm, alerts]
  - {name: other-order, source: shop, fallback: true, actions: [archive]}
`

// match is one (rule, sink) pair an order triggers, by name.
type match struct{ rule, sink string }

// expectedMatches returns the dispatches the configuration makes of o.
func expectedMatches(o order) []match {
	var list []match
	if o.amount >= 500 {
		list = append(list, match{"big-order", "alerts"})
	}
	if o.vip {
		list = append(list, match{"vip-order", "crm"}, match{"vip-order", "alerts"})
	}
	if len(list) == 0 {
		list = append(list, match{"other-order", "archive"})
	}
	return list
}

// Settings of the tiers under test: short waits, so that what a killed
// process held comes back within seconds. The grace of each tier is its
// drain setting plus the fixed steps of its shutdown, as in the deployment
// manifests (see tools/deploy).
const (
	ackWait          = 5 * time.Second
	ingestorDrain    = 5 * time.Second
	engineDrain      = 5 * time.Second
	dispatcherDrain  = 5 * time.Second
	ingestorGrace    = ingestorDrain + 5*time.Second
	engineGrace      = engineDrain + 11*time.Second
	dispatcherGrace  = dispatcherDrain + 16*time.Second
	startTimeout     = 60 * time.Second
	natsStartTimeout = 60 * time.Second
)

// pipeline is everything the suite runs: PostgreSQL, NATS, the three tiers
// and the receiver, with a NATS connection and a database handle of the
// suite's own to look at them.
type pipeline struct {
	dir       string
	pg        *localpg.Cluster
	pgOpts    localpg.Options
	dsn       string
	st        *store.Store
	nats      *process
	natsURL   string
	nc        *nats.Conn
	js        jetstream.JetStream
	recv      *receiver
	ingestor  *process
	engine    *process
	disp      *process
	ingestURL string
	// ids of the rules and sinks, by name.
	ruleIDs, sinkIDs map[string]string
}

// tiers are the three services, in the order they start.
func (p *pipeline) tiers() []*process {
	return []*process{p.disp, p.engine, p.ingestor}
}

// startPipeline builds the programs into dir and starts everything.
func startPipeline(ctx context.Context, dir string) (*pipeline, error) {
	p := &pipeline{dir: dir}
	if err := build(ctx, filepath.Join(dir, "bin")); err != nil {
		return p, err
	}
	if err := p.startPostgres(ctx); err != nil {
		return p, err
	}
	var err error
	if p.recv, err = startReceiver(); err != nil {
		return p, err
	}
	if err := p.configure(ctx); err != nil {
		return p, err
	}
	if err := p.startNATS(ctx); err != nil {
		return p, err
	}
	if err := p.defineTiers(); err != nil {
		return p, err
	}
	for _, tier := range p.tiers() {
		if err := tier.start(ctx, startTimeout); err != nil {
			return p, err
		}
	}
	return p, nil
}

// startPostgres starts a cluster of the suite's own and a migrated database
// on it.
func (p *pipeline) startPostgres(ctx context.Context) error {
	p.pgOpts = localpg.Options{Dir: filepath.Join(p.dir, "pg"), Throwaway: true}
	var err error
	if p.pg, err = localpg.Start(ctx, p.pgOpts); err != nil {
		return err
	}
	p.pgOpts.Port = p.pg.Port()
	if err := p.pg.CreateDatabase(ctx, "zenith"); err != nil {
		return err
	}
	p.dsn = p.pg.URL("zenith")
	if err := store.Migrate(p.dsn); err != nil {
		return err
	}
	p.st, err = store.Open(ctx, p.dsn)
	return err
}

// configure applies pipelineConfig and reads back the ids it was given.
func (p *pipeline) configure(ctx context.Context) error {
	file, err := config.Parse(fmt.Appendf(nil, pipelineConfig, p.recv.addr))
	if err != nil {
		return err
	}
	getenv := func(name string) string { return map[string]string{"SHOP_API_KEY": shopKey}[name] }
	if _, err := config.Apply(ctx, p.st, file, config.Options{Getenv: getenv}); err != nil {
		return err
	}
	rules, err := p.st.ListRules(ctx, false)
	if err != nil {
		return err
	}
	p.ruleIDs, p.sinkIDs = map[string]string{}, map[string]string{}
	for _, r := range rules {
		p.ruleIDs[r.Name] = r.ID
		for _, s := range r.Sinks {
			p.sinkIDs[s.Name] = s.ID
		}
	}
	return nil
}

// startNATS starts natsd and connects the suite to it.
func (p *pipeline) startNATS(ctx context.Context) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	p.natsURL = "nats://127.0.0.1:" + strconv.Itoa(ports[0])
	p.nats = &process{
		name: "nats",
		path: filepath.Join(p.dir, "bin", "natsd"),
		args: []string{"-port", strconv.Itoa(ports[0]), "-store", filepath.Join(p.dir, "nats")},
		log:  filepath.Join(p.dir, "nats.log"),
		ready: func(ctx context.Context) bool {
			nc, err := nats.Connect(p.natsURL, nats.Timeout(time.Second))
			if err != nil {
				return false
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return false
			}
			_, err = js.AccountInfo(ctx)
			return err == nil
		},
	}
	if err := p.nats.start(ctx, natsStartTimeout); err != nil {
		return err
	}
	p.nc, err = nats.Connect(p.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	p.js, err = jetstream.New(p.nc)
	return err
}

// defineTiers sets up the three services' processes on ports of their own,
// which they keep across restarts.
func (p *pipeline) defineTiers() error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	common := []string{"NATS_URL=" + p.natsURL, "DATABASE_URL=" + p.dsn, "OTEL_SDK_DISABLED=true"}
	tier := func(name string, admin string, env ...string) *process {
		return &process{
			name:  name,
			path:  filepath.Join(p.dir, "bin", name),
			env:   append(append([]string{}, common...), env...),
			log:   filepath.Join(p.dir, name+".log"),
			ready: readyz(admin),
		}
	}
	p.ingestURL = "http://" + addr(0) + "/v1/events"
	p.ingestor = tier("ingestor", addr(1),
		"INGESTOR_ADDR="+addr(0), "INGESTOR_ADMIN_ADDR="+addr(1), "DATABASE_MIGRATE=false",
		"SHOP_API_KEY="+shopKey, "INGESTOR_PUBLISH_TIMEOUT=2s",
		"INGESTOR_SHUTDOWN_GRACE="+ingestorDrain.String())
	p.engine = tier("rule-engine", addr(2),
		"ENGINE_ADMIN_ADDR="+addr(2), "ENGINE_ACK_WAIT="+ackWait.String(), "ENGINE_PUBLISH_TIMEOUT=2s",
		"ENGINE_RETRY_DELAY=200ms", "ENGINE_DRAIN_TIMEOUT="+engineDrain.String())
	p.disp = tier("dispatcher", addr(3),
		"DISPATCHER_ADMIN_ADDR="+addr(3), "DISPATCHER_ACK_WAIT="+ackWait.String(),
		"DISPATCHER_REDELIVERY_BASE=500ms", "DISPATCHER_REDELIVERY_CAP=2s", "DISPATCHER_MAX_DELIVER=30",
		"DISPATCHER_EGRESS_ALLOW=127.0.0.0/8", "DISPATCHER_DRAIN_TIMEOUT="+dispatcherDrain.String())
	return nil
}

// grace is the time the tier's shutdown may take.
func (p *pipeline) grace(tier *process) time.Duration {
	switch tier {
	case p.ingestor:
		return ingestorGrace
	case p.engine:
		return engineGrace
	default:
		return dispatcherGrace
	}
}

// consumer returns the durable consumer a tier pulls from, or "" for the
// ingestor.
func (p *pipeline) consumer(tier *process) (stream, name string) {
	switch tier {
	case p.engine:
		return bus.EventsStream, "rule-engine"
	case p.disp:
		return bus.ActionsStream, "dispatcher"
	}
	return "", ""
}

// stop ends everything, the tiers first. It is safe on a pipeline that
// started only in part.
func (p *pipeline) stop() {
	for _, tier := range []*process{p.ingestor, p.engine, p.disp, p.nats} {
		if tier != nil && tier.running() {
			_, _ = tier.stop(syscall.SIGTERM, time.Minute)
		}
	}
	if p.nc != nil {
		p.nc.Close()
	}
	if p.st != nil {
		p.st.Close()
	}
	if p.recv != nil {
		p.recv.close()
	}
	if p.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = p.pg.Stop(ctx) // stopped already if a step failed while it was down
	}
}

// makeDir makes the suite's folder, which the postgres user must be able to
// enter when the suite runs as root.
func makeDir() (string, error) {
	dir, err := os.MkdirTemp("", "zenith-faults-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", errors.Join(err, os.RemoveAll(dir))
	}
	return dir, nil
}
