package deploy

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads docker-compose.yml as Docker Compose would (schema
// validation and variable interpolation included) and checks each service
// the Makefile builds.
func TestComposeFile(t *testing.T) {
	project := loadCompose(t)
	envs := map[string]map[string]string{}
	for name, pkg := range makefileServices(t) {
		envs[name] = composeEnv(project.Services[name])
		t.Run(name, func(t *testing.T) {
			svc, ok := project.Services[name]
			if !ok {
				t.Fatalf("the Makefile builds %s, but docker-compose.yml has no such service", name)
			}
			tr, ok := tierNamed(name)
			if !ok {
				t.Fatalf("no tier %s in tiers_test.go", name)
			}
			checkComposeBuild(t, svc, pkg)
			env := composeEnv(svc)
			checkComposeEnv(t, tr, svc, env)
			checkComposeHealth(t, tr, svc, env)
			checkComposeStop(t, tr, svc, env)
		})
	}
	checkStreamsAlike(t, envs)
}

// loadCompose loads docker-compose.yml as Docker Compose would, with the
// file's defaults rather than this machine's environment.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root := repoRoot(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(nil),
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return project
}

// makefileServices returns the services the Makefile's build target
// builds, by name, with their main packages.
func makefileServices(t *testing.T) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`\./services/([a-z-]+)/cmd/([a-z-]+)`)
	found := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(readFile(t, "Makefile")), -1) {
		found[m[2]] = m[0]
	}
	if len(found) == 0 {
		t.Fatal("the Makefile builds no ./services/<name>/cmd/<name>")
	}
	return found
}

// checkComposeBuild checks that the service is built from the Dockerfile
// for its own main package.
func checkComposeBuild(t *testing.T, svc types.ServiceConfig, pkg string) {
	if svc.Build == nil {
		t.Fatal("no build section")
	}
	arg := svc.Build.Args["PACKAGE"]
	if arg == nil || *arg != pkg {
		t.Errorf("build arg PACKAGE = %v, want %s", deref(arg), pkg)
	}
}

// composeEnv returns the variables the service sets.
func composeEnv(svc types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range svc.Environment {
		env[k] = deref(v)
	}
	return env
}

// checkComposeEnv checks that every variable is one the service reads, that
// the database and NATS are named, and that the configuration file mounted
// for ZENITH_CONFIG exists, is valid and gets its API keys.
func checkComposeEnv(t *testing.T, tr tier, svc types.ServiceConfig, env map[string]string) {
	var apiKeys []string
	if path, ok := env["ZENITH_CONFIG"]; ok {
		apiKeys = checkComposeConfigFile(t, svc, path)
	}
	for name := range env {
		if !tr.reads(name) && !slices.Contains(apiKeys, name) {
			t.Errorf("sets %s, which %s does not read", name, tr.name)
		}
	}
	for _, key := range apiKeys {
		if env[key] == "" {
			t.Errorf("the configuration reads an API key from %s, which is not set", key)
		}
	}
	for _, required := range []string{"DATABASE_URL", "NATS_URL"} {
		if env[required] == "" {
			t.Errorf("%s is not set", required)
		}
	}
}

// checkComposeConfigFile returns the API key variables of the file mounted
// at path.
func checkComposeConfigFile(t *testing.T, svc types.ServiceConfig, path string) []string {
	for _, v := range svc.Volumes {
		if v.Target != path {
			continue
		}
		content, err := os.ReadFile(v.Source)
		if err != nil {
			t.Errorf("ZENITH_CONFIG=%s is mounted from %s: %v", path, v.Source, err)
			return nil
		}
		return zenithConfig(t, svc.Name, content)
	}
	t.Errorf("ZENITH_CONFIG=%s, but nothing is mounted there", path)
	return nil
}

// checkComposeHealth checks that the health check asks /readyz on the
// admin port, with the program the image has for it.
func checkComposeHealth(t *testing.T, tr tier, svc types.ServiceConfig, env map[string]string) {
	port, err := tr.port(env, tr.adminVar)
	if err != nil {
		t.Error(err)
		return
	}
	if svc.HealthCheck == nil {
		t.Error("no healthcheck")
		return
	}
	test := strings.Join(svc.HealthCheck.Test, " ")
	want := "CMD /usr/local/bin/zenith-healthcheck http://127.0.0.1:" + port + "/readyz"
	if test != want {
		t.Errorf("healthcheck runs %q, want %q", test, want)
	}
}

// checkComposeStop checks that Compose waits for the whole drain before it
// kills the container.
func checkComposeStop(t *testing.T, tr tier, svc types.ServiceConfig, env map[string]string) {
	drain, err := tr.drainBound(env)
	if err != nil {
		t.Error(err)
		return
	}
	grace := 10 * time.Second // Compose's default
	if svc.StopGracePeriod != nil {
		grace = time.Duration(*svc.StopGracePeriod)
	}
	if grace < drain {
		t.Errorf("stop_grace_period is %s, want at least the drain, %s", grace, drain)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}
