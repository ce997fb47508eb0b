package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

// dashboardFile is the Grafana dashboard, from this package's folder.
var dashboardFile = filepath.Join("..", "..", "..", "deploy", "grafana", "zenith-dashboard.json")

// operatorMetrics are the metrics an operator needs, each of which the
// services must export once they have handled one event of each outcome.
var operatorMetrics = []string{
	"zenith_events_received_total", "zenith_events_accepted_total", "zenith_events_rejected_total",
	"zenith_rules_evaluated_total", "zenith_rules_matched_total", "zenith_rule_evaluation_duration_seconds",
	"zenith_dispatch_total", "zenith_dispatch_duration_seconds", "zenith_worker_queue_depth",
	"zenith_consumer_pending_messages", "zenith_consumer_redelivered_messages", "zenith_redeliveries_total",
	"zenith_dead_lettered_total", "zenith_dead_letter_messages", "zenith_sink_circuit_state",
	"zenith_rule_cache_version", "zenith_rule_cache_rules", "zenith_end_to_end_latency_seconds",
	"zenith_processing_duration_seconds",
}

// TestDashboardQueriesExportedMetrics runs the pipeline through every
// outcome (accepted, refused, malformed, delivered, dead-lettered,
// redelivered), scrapes the three admin servers, and checks that every
// PromQL query of the Grafana dashboard parses and names only metrics and
// labels the services export.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	p := startPipelineWith(t, setup{env: map[string]string{"DISPATCHER_REDELIVERY_BASE": "50ms"}})
	p.sendEveryOutcome(t)

	exported := exportedSeries(t, p)
	for _, name := range operatorMetrics {
		if _, ok := exported[name]; !ok {
			t.Errorf("the services do not export %s", name)
		}
	}
	lintMetrics(t, p)

	queries := dashboardQueries(t)
	if len(queries) == 0 {
		t.Fatalf("%s holds no query", dashboardFile)
	}
	for _, q := range queries {
		if err := checkQuery(q.expr, exported); err != nil {
			t.Errorf("panel %q: %s: %v", q.panel, q.expr, err)
		}
	}
}

// sendEveryOutcome sends events that end each way a dashboard shows, and
// waits until the services have settled them.
func (p *pipeline) sendEveryOutcome(t *testing.T) {
	t.Helper()
	sends := []struct {
		key, body string
		status    int
	}{
		{shopKey, purchase(0), http.StatusAccepted},
		{shopKey, purchase(1), http.StatusAccepted},
		{shopKey, `{"id":"order-failed","type":"order.failed","data":{"order":7}}`, http.StatusAccepted},
		{shopKey, `{"id":"order-retried","type":"order.retried","data":{"order":8}}`, http.StatusAccepted},
		{shopKey, `{"type":"purchase.completed","data":42}`, http.StatusBadRequest},
		{"wrong-key-0123456789abcdef", purchase(2), http.StatusUnauthorized},
	}
	for _, s := range sends {
		if status := p.post(t, s.key, s.body); status != s.status {
			t.Fatalf("%s: status %d, want %d", s.body, status, s.status)
		}
	}
	p.publishMalformed(t)

	engineAdmin := p.stack.Engine.AdminAddr()
	testenv.WaitFor(t, 20*time.Second, func() bool {
		rows, err := p.store.AuditByEvent(context.Background(), "shop", "order-failed")
		return err == nil && len(rows) == 1 && rows[0].Status == store.StatusDeadLettered && p.recv.delivered() == 3 &&
			scrapeAdmin(t, engineAdmin).sum("zenith_engine_events_terminated_total", nil) > 0
	})
	if n := p.recv.called("order-retried"); n != flakyFailures+1 {
		t.Errorf("the flaky sink was called %d times, want %d", n, flakyFailures+1)
	}
}

// publishMalformed publishes an event straight to NATS without the
// CloudEvents headers, which the rule-engine refuses.
func (p *pipeline) publishMalformed(t *testing.T) {
	t.Helper()
	nc, err := nats.Connect(p.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("zenith.events.shop.purchase.completed", []byte(`{"amount":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// lintMetrics checks Zenith's metrics against Prometheus's naming
// conventions (promlint: base units, _total on counters, help texts).
func lintMetrics(t *testing.T, p *pipeline) {
	t.Helper()
	var zenith []*dto.MetricFamily
	for name, family := range scrapeAdmin(t, p.stack.Ingestor.AdminAddr()) {
		if strings.HasPrefix(name, "zenith_") {
			zenith = append(zenith, family)
		}
	}
	problems, err := promlint.NewWithMetricFamilies(zenith).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range problems {
		t.Errorf("metric %s: %s", problem.Metric, problem.Text)
	}
}

// exportedSeries returns the series names the three admin servers serve,
// with the label names each has: a histogram's _bucket (with le), _sum and
// _count, a summary's quantiles, _sum and _count.
func exportedSeries(t *testing.T, p *pipeline) map[string][]string {
	t.Helper()
	series := map[string][]string{}
	add := func(name string, labels []string) {
		for _, l := range labels {
			if !slices.Contains(series[name], l) {
				series[name] = append(series[name], l)
			}
		}
		if series[name] == nil {
			series[name] = []string{}
		}
	}
	for _, addr := range p.admins() {
		for name, family := range scrapeAdmin(t, addr) {
			labels := familyLabels(family)
			switch family.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", append(labels, "le"))
				add(name+"_sum", labels)
				add(name+"_count", labels)
			case dto.MetricType_SUMMARY:
				add(name, append(labels, "quantile"))
				add(name+"_sum", labels)
				add(name+"_count", labels)
			}
			add(name, labels)
		}
	}
	return series
}

func familyLabels(family *dto.MetricFamily) []string {
	var names []string
	for _, m := range family.GetMetric() {
		for _, l := range m.GetLabel() {
			if !slices.Contains(names, l.GetName()) {
				names = append(names, l.GetName())
			}
		}
	}
	return names
}

// dashboardQuery is one PromQL expression of the dashboard.
type dashboardQuery struct {
	panel, expr string
}

// dashboardQueries reads every target expression of the dashboard, rows'
// panels included.
func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dashboard struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var queries []dashboardQuery
	pending := dashboard.Panels
	for len(pending) > 0 {
		var p panel
		if err := json.Unmarshal(pending[0], &p); err != nil {
			t.Fatalf("%s: %v", dashboardFile, err)
		}
		pending = append(pending[1:], p.Panels...)
		for _, target := range p.Targets {
			queries = append(queries, dashboardQuery{panel: p.Title, expr: target.Expr})
		}
	}
	return queries
}

// grafanaInterval matches Grafana's interval variables, which Grafana
// replaces before Prometheus sees the query.
var grafanaInterval = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)

// targetLabels are the labels Prometheus adds to every series it scrapes.
var targetLabels = []string{"instance", "job"}

// checkQuery parses expr as Prometheus would once Grafana filled in its
// interval, and checks that each metric it selects is exported with the
// labels it matches on, and that every label it groups by is one of those
// metrics' labels.
func checkQuery(expr string, exported map[string][]string) error {
	expr = grafanaInterval.ReplaceAllString(expr, "5m")
	if strings.Contains(expr, "$") {
		return fmt.Errorf("uses a dashboard variable this test does not know")
	}
	parsed, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return err
	}
	var problems []string
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			problems = append(problems, checkSelector(n, exported)...)
		case *parser.AggregateExpr:
			problems = append(problems, checkGrouping(n, exported)...)
		}
		return nil
	})
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func checkSelector(vs *parser.VectorSelector, exported map[string][]string) []string {
	name := selectorName(vs)
	known, ok := exported[name]
	if !ok {
		return []string{fmt.Sprintf("metric %q is not exported", name)}
	}
	var problems []string
	for _, m := range vs.LabelMatchers {
		if m.Name != labels.MetricName && !slices.Contains(known, m.Name) {
			problems = append(problems, fmt.Sprintf("%s has no label %q", name, m.Name))
		}
	}
	return problems
}

// selectorName is the metric a selector names, by name or __name__.
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// checkGrouping checks the labels of an aggregation's by clause against
// the labels of the metrics it aggregates.
func checkGrouping(agg *parser.AggregateExpr, exported map[string][]string) []string {
	available := slices.Clone(targetLabels)
	parser.Inspect(agg.Expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			available = append(available, exported[selectorName(vs)]...)
		}
		return nil
	})
	var problems []string
	for _, label := range agg.Grouping {
		if !agg.Without && !slices.Contains(available, label) {
			problems = append(problems, fmt.Sprintf("groups by %q, which the metrics it aggregates lack", label))
		}
	}
	return problems
}
