package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// dashboardPath is the Grafana dashboard, from the repository's top.
const dashboardPath = "deploy/grafana/zenith-dashboard.json"

// otlpEndpoint is where the services of docker-compose.yml send traces:
// Jaeger's OTLP over HTTP.
const otlpEndpoint = "http://jaeger:4318"

// TestComposeMonitoring checks the observability half of
// docker-compose.yml: every tier exports its traces to the Jaeger service,
// Prometheus scrapes every tier's admin port, and Grafana provisions the
// Prometheus data source the dashboard selects and the dashboard itself.
// That the dashboard's queries name metrics the services export is checked
// against the running services in cmd/internal/stack.
func TestComposeMonitoring(t *testing.T) {
	project := loadCompose(t)
	for _, name := range []string{"jaeger", "prometheus", "grafana"} {
		if _, ok := project.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
		}
	}

	targets := map[string]bool{}
	for _, tr := range tiers {
		env := composeEnv(project.Services[tr.name])
		if got := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != otlpEndpoint {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT = %q, want %q", tr.name, got, otlpEndpoint)
		}
		port, err := tr.port(env, tr.adminVar)
		if err != nil {
			t.Error(err)
			continue
		}
		targets[tr.name+":"+port] = true
	}
	checkScrapeTargets(t, project.Services["prometheus"], targets)
	checkGrafana(t, project.Services["grafana"])
}

// checkScrapeTargets checks that the configuration Prometheus is given
// scrapes exactly the tiers' admin addresses, one job per tier.
func checkScrapeTargets(t *testing.T, prometheus types.ServiceConfig, want map[string]bool) {
	t.Helper()
	var cfg struct {
		Global        map[string]string `json:"global"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.UnmarshalStrict(mounted(t, prometheus, configFlag(prometheus, "--config.file=")), &cfg); err != nil {
		t.Fatalf("prometheus configuration: %v", err)
	}
	got := map[string]bool{}
	for _, job := range cfg.ScrapeConfigs {
		for _, sc := range job.StaticConfigs {
			for _, target := range sc.Targets {
				got[target] = true
				if host, _, _ := strings.Cut(target, ":"); host != job.JobName {
					t.Errorf("prometheus job %s scrapes %s: name each job after its tier", job.JobName, target)
				}
			}
		}
	}
	for target := range want {
		if !got[target] {
			t.Errorf("prometheus does not scrape %s", target)
		}
	}
	for target := range got {
		if !want[target] {
			t.Errorf("prometheus scrapes %s, which is no tier's admin address", target)
		}
	}
}

// configFlag returns the value of the command's flag that starts with
// prefix.
func configFlag(svc types.ServiceConfig, prefix string) string {
	for _, arg := range svc.Command {
		if v, ok := strings.CutPrefix(arg, prefix); ok {
			return v
		}
	}
	return ""
}

// mounted returns the content of the file mounted in svc at target.
func mounted(t *testing.T, svc types.ServiceConfig, target string) []byte {
	t.Helper()
	for _, v := range svc.Volumes {
		if v.Target == target {
			content, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatalf("%s mounts %s at %s: %v", svc.Name, v.Source, target, err)
			}
			return content
		}
		if rel, ok := strings.CutPrefix(target, v.Target+"/"); ok {
			content, err := os.ReadFile(filepath.Join(v.Source, rel))
			if err != nil {
				t.Fatalf("%s: %s: %v", svc.Name, target, err)
			}
			return content
		}
	}
	t.Fatalf("%s mounts nothing at %s", svc.Name, target)
	return nil
}

// checkGrafana checks Grafana's provisioning: a Prometheus data source with
// the uid the dashboard selects, at the Prometheus service; and a dashboard
// provider whose folder holds the dashboard file.
func checkGrafana(t *testing.T, grafana types.ServiceConfig) {
	t.Helper()
	var sources struct {
		Datasources []struct {
			UID  string `json:"uid"`
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"datasources"`
	}
	if err := yaml.Unmarshal(mounted(t, grafana, "/etc/grafana/provisioning/datasources/zenith.yaml"), &sources); err != nil {
		t.Fatalf("grafana data sources: %v", err)
	}
	wantUID := dashboardDatasource(t)
	found := false
	for _, ds := range sources.Datasources {
		if ds.Type == "prometheus" && ds.UID == wantUID {
			found = true
			if ds.URL != "http://prometheus:9090" {
				t.Errorf("grafana's Prometheus data source is at %s, want http://prometheus:9090", ds.URL)
			}
		}
	}
	if !found {
		t.Errorf("grafana provisions no Prometheus data source with uid %q, which the dashboard selects", wantUID)
	}

	var providers struct {
		Providers []struct {
			Type    string `json:"type"`
			Options struct {
				Path string `json:"path"`
			} `json:"options"`
		} `json:"providers"`
	}
	if err := yaml.Unmarshal(mounted(t, grafana, "/etc/grafana/provisioning/dashboards/zenith.yaml"), &providers); err != nil {
		t.Fatalf("grafana dashboard providers: %v", err)
	}
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" {
		t.Fatalf("grafana dashboard providers = %+v, want one of type file", providers.Providers)
	}
	dashboard := mounted(t, grafana, providers.Providers[0].Options.Path+"/"+filepath.Base(dashboardPath))
	if string(dashboard) != string(readFile(t, dashboardPath)) {
		t.Errorf("grafana loads another dashboard than %s", dashboardPath)
	}
}

// grafanaPanel is what TestDashboardFile reads of a panel.
type grafanaPanel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// TestDashboardFile checks the dashboard as Grafana's provisioning needs
// it: a stable uid, no id, no import placeholders (${DS_…}, which only the
// import page fills in), and every panel querying Prometheus through the
// dashboard's datasource variable.
func TestDashboardFile(t *testing.T) {
	raw := readFile(t, dashboardPath)
	if strings.Contains(string(raw), "${DS_") {
		t.Error("the dashboard holds an import placeholder ${DS_…}, which provisioning leaves unresolved")
	}
	var dashboard struct {
		UID    string         `json:"uid"`
		ID     *int           `json:"id"`
		Title  string         `json:"title"`
		Panels []grafanaPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if dashboard.UID == "" || dashboard.ID != nil || dashboard.Title == "" {
		t.Errorf("dashboard uid %q, id %v, title %q: want a uid, a title and a null id", dashboard.UID, dashboard.ID, dashboard.Title)
	}

	pending := slices.Clone(dashboard.Panels)
	queries := 0
	for len(pending) > 0 {
		p := pending[0]
		pending = append(pending[1:], p.Panels...)
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %q, want ${datasource}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			if target.Expr == "" || target.RefID == "" {
				t.Errorf("panel %q: a query without expr or refId", p.Title)
			}
			queries++
		}
	}
	if queries == 0 {
		t.Error("the dashboard has no query")
	}
}

// dashboardDatasource returns the data source uid the dashboard's
// datasource variable selects by default.
func dashboardDatasource(t *testing.T) string {
	t.Helper()
	var dashboard struct {
		Templating struct {
			List []struct {
				Name    string `json:"name"`
				Type    string `json:"type"`
				Query   string `json:"query"`
				Current struct {
					Value string `json:"value"`
				} `json:"current"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(readFile(t, dashboardPath), &dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	for _, v := range dashboard.Templating.List {
		if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
			return v.Current.Value
		}
	}
	t.Fatal("the dashboard has no Prometheus datasource variable")
	return ""
}
