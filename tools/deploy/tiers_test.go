package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/services/dispatcher"
	"github.com/zenith-hq/zenith/services/ingestor"
	ruleengine "github.com/zenith-hq/zenith/services/rule-engine"
)

// tier describes one Zenith service as the deployment files must run it.
type tier struct {
	// name is the container, Deployment and compose service name.
	name string
	// config points to the service's Config; its env tags name the
	// variables the service reads, with their defaults, as the services'
	// --help lists them.
	config any
	// adminVar holds the admin address, listenVar (ingestor only) the
	// address producers use.
	adminVar, listenVar string
	// drainVar is the setting that bounds the service's drain on SIGTERM,
	// and drainTail what the shutdown takes after it at most.
	drainVar  string
	drainTail time.Duration
}

// tiers are the three services. The drain tails add up the fixed steps of
// each shutdown: the ingestor flushes its NATS connection (5s); the
// rule-engine ends the pull in progress (1s) and flushes NATS (10s); the
// dispatcher ends the pull (1s), writes its last audit rows (10s) and
// flushes NATS (5s).
var tiers = []tier{
	{
		name:      "ingestor",
		config:    &ingestor.Config{},
		adminVar:  "INGESTOR_ADMIN_ADDR",
		listenVar: "INGESTOR_ADDR",
		drainVar:  "INGESTOR_SHUTDOWN_GRACE",
		drainTail: 5 * time.Second,
	},
	{
		name:      "rule-engine",
		config:    &ruleengine.Config{},
		adminVar:  "ENGINE_ADMIN_ADDR",
		drainVar:  "ENGINE_DRAIN_TIMEOUT",
		drainTail: 11 * time.Second,
	},
	{
		name:      "dispatcher",
		config:    &dispatcher.Config{},
		adminVar:  "DISPATCHER_ADMIN_ADDR",
		drainVar:  "DISPATCHER_DRAIN_TIMEOUT",
		drainTail: 16 * time.Second,
	},
}

// tierNamed returns the tier called name.
func tierNamed(name string) (tier, bool) {
	for _, t := range tiers {
		if t.name == name {
			return t, true
		}
	}
	return tier{}, false
}

// runtimeEnv are variables every service reads besides its Config: the Go
// runtime's, and the OpenTelemetry SDK's (pkg/telemetry and the OTLP
// exporter).
var runtimeEnv = map[string]bool{
	"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true, "GODEBUG": true,
	"OTEL_SDK_DISABLED": true, "OTEL_TRACES_EXPORTER": true,
	"OTEL_TRACES_SAMPLER": true, "OTEL_TRACES_SAMPLER_ARG": true,
}

// runtimeEnvPrefixes are families of OpenTelemetry exporter settings.
var runtimeEnvPrefixes = []string{"OTEL_EXPORTER_OTLP_", "OTEL_BSP_"}

// migrateEnv is what cmd/zenith-migrate reads.
var migrateEnv = map[string]bool{"DATABASE_URL": true}

// reads reports whether the service reads the variable name.
func (t tier) reads(name string) bool {
	if _, ok := t.param(name); ok || runtimeEnv[name] {
		return true
	}
	for _, prefix := range runtimeEnvPrefixes {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// param returns what the Config says of the variable name.
func (t tier) param(name string) (env.FieldParams, bool) {
	params, err := env.GetFieldParams(t.config)
	if err != nil {
		panic(fmt.Sprintf("%s: the Config's env tags do not parse: %v", t.name, err))
	}
	for _, p := range params {
		if p.Key == name {
			return p, true
		}
	}
	return env.FieldParams{}, false
}

// setting returns the value of the variable name given env, the variables
// a deployment sets: the value set, or else the Config default.
func (t tier) setting(env map[string]string, name string) (string, error) {
	if v, ok := env[name]; ok {
		return v, nil
	}
	p, ok := t.param(name)
	if !ok {
		return "", fmt.Errorf("%s reads no %s", t.name, name)
	}
	return p.DefaultValue, nil
}

// drainBound is the longest the service's shutdown takes under env.
func (t tier) drainBound(env map[string]string) (time.Duration, error) {
	raw, err := t.setting(env, t.drainVar)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(raw)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", t.drainVar, raw, err)
	}
	return d + t.drainTail, nil
}

// port returns the port of the address in the variable name, which must
// listen on every interface: a loopback address cannot be reached by
// probes or other containers.
func (t tier) port(env map[string]string, name string) (string, error) {
	addr, err := t.setting(env, name)
	if err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%s=%q: %w", name, addr, err)
	}
	if host != "" && host != "0.0.0.0" && host != "::" {
		return "", fmt.Errorf("%s=%q listens on %s only; use :%s", name, addr, host, port)
	}
	return port, nil
}

// checkStreamsAlike checks that the tiers, given the variables each sets (by
// tier name), apply the same stream settings (ZENITH_STREAM_*): every
// service applies them to the streams at start, so tiers that disagreed
// would change the streams back and forth.
func checkStreamsAlike(t *testing.T, envs map[string]map[string]string) {
	t.Helper()
	params, err := env.GetFieldParams(&bus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		values := map[string][]string{}
		for _, tr := range tiers {
			v, err := tr.setting(envs[tr.name], p.Key)
			if err != nil {
				t.Error(err)
				continue
			}
			values[v] = append(values[v], tr.name)
		}
		if len(values) > 1 {
			t.Errorf("%s differs between the tiers: %v", p.Key, values)
		}
	}
}

// repoRoot is the repository's top folder.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// zenithConfig parses a ZENITH_CONFIG file and returns the variables its
// sources read API keys from.
func zenithConfig(t *testing.T, where string, content []byte) []string {
	t.Helper()
	// Read as the ingestor reads ZENITH_CONFIG: the variables its sinks name
	// expanded first, here with none set, so that their defaults apply.
	expanded, err := config.ExpandEnv(content, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%s: ZENITH_CONFIG does not expand: %v", where, err)
	}
	file, err := config.Parse(expanded)
	if err != nil {
		t.Fatalf("%s: ZENITH_CONFIG does not parse: %v", where, err)
	}
	var keys []string
	for _, src := range file.Sources {
		keys = append(keys, src.APIKeysFromEnv...)
	}
	return keys
}

// readFile returns the repository file at rel.
func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
