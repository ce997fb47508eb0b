package stack_test

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is what one admin server's /metrics served.
type scrape map[string]*dto.MetricFamily

// scrapeAdmin reads the metrics the admin server at addr serves.
func scrapeAdmin(t *testing.T, addr string) scrape {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: status %d", addr, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s/metrics: %v", addr, err)
	}
	return families
}

// sum adds up the samples of the metric name whose labels include want:
// the values of counters and gauges, the observation counts of
// histograms. A metric not served sums to 0.
func (s scrape) sum(name string, want map[string]string) float64 {
	family, ok := s[name]
	if !ok {
		return 0
	}
	total := 0.0
	for _, m := range family.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			found++
		}
	}
	return found == len(want)
}

// admins are the admin addresses of the three tiers, by tier.
func (p *pipeline) admins() map[string]string {
	return map[string]string{
		"ingestor":    p.stack.Ingestor.AdminAddr(),
		"rule-engine": p.stack.Engine.AdminAddr(),
		"dispatcher":  p.stack.Dispatcher.AdminAddr(),
	}
}

// counter is one figure the tiers' metrics show: the sum of a metric's
// samples with some labels, as served by one tier's admin server.
type counter struct {
	tier, metric string
	labels       map[string]string
}

// readCounters reads each counter from its tier's admin server.
func (p *pipeline) readCounters(t *testing.T, counters []counter) []float64 {
	t.Helper()
	scrapes := map[string]scrape{}
	for tier, addr := range p.admins() {
		scrapes[tier] = scrapeAdmin(t, addr)
	}
	values := make([]float64, len(counters))
	for i, c := range counters {
		values[i] = scrapes[c.tier].sum(c.metric, c.labels)
	}
	return values
}
