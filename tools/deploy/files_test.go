package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"golang.org/x/mod/modfile"
	"sigs.k8s.io/yaml"
)

// TestTerraformFormatted runs `terraform fmt -check`, which also fails on
// a syntax error. Validating needs the providers, which only CI can
// download.
func TestTerraformFormatted(t *testing.T) {
	terraform, err := exec.LookPath("terraform")
	if err != nil {
		t.Fatal("terraform is not installed; `terraform fmt -check` needs only the binary: " +
			"https://developer.hashicorp.com/terraform/install")
	}
	cmd := exec.Command(terraform, "fmt", "-check", "-recursive", "-diff", filepath.Join(repoRoot(t), "terraform"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("terraform fmt -check: %v (run `terraform fmt -recursive terraform`)\n%s", err, out)
	}
}

// TestWorkflowsLint runs actionlint on .github/workflows: syntax, the
// expressions and contexts, action inputs, job dependencies.
func TestWorkflowsLint(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in .github/workflows (%v)", err)
	}
	var out bytes.Buffer
	linter, err := actionlint.NewLinter(&out, &actionlint.LinterOptions{WorkingDir: repoRoot(t), Oneline: true})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := linter.LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) > 0 {
		t.Errorf("actionlint found %d problems:\n%s", len(errs), out.String())
	}
}

// TestCIRunsBothDatabases checks that CI runs the tests against PostgreSQL
// and CockroachDB, each through ZENITH_TEST_DATABASE_URL, and lints.
func TestCIRunsBothDatabases(t *testing.T) {
	var wf struct {
		Jobs map[string]struct {
			Env   map[string]string `json:"env"`
			Steps []struct {
				Run string `json:"run"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(readFile(t, ".github/workflows/ci.yml"), &wf); err != nil {
		t.Fatal(err)
	}
	var schemes, runs []string
	for _, job := range wf.Jobs {
		url := job.Env["ZENITH_TEST_DATABASE_URL"]
		scheme, _, _ := strings.Cut(url, "://")
		ranTests := false
		for _, step := range job.Steps {
			runs = append(runs, step.Run)
			ranTests = ranTests || step.Run == "make test"
		}
		if ranTests {
			schemes = append(schemes, scheme)
		}
	}
	for _, want := range []string{"postgres", "cockroachdb"} {
		if !slices.Contains(schemes, want) {
			t.Errorf("no CI job runs `make test` with a %s:// ZENITH_TEST_DATABASE_URL (found %v)", want, schemes)
		}
	}
	if !slices.Contains(runs, "make lint") {
		t.Error("no CI job runs `make lint`")
	}
}

// TestDockerfileCoversWorkspace checks that the Dockerfile copies every
// module go.work uses before `go mod download`, and that .dockerignore
// keeps none of them out of the build context.
func TestDockerfileCoversWorkspace(t *testing.T) {
	work, err := modfile.ParseWork("go.work", readFile(t, "go.work"), nil)
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(readFile(t, "Dockerfile"))
	ignored := strings.Fields(string(readFile(t, ".dockerignore")))
	for _, use := range work.Use {
		dir := filepath.ToSlash(filepath.Clean(use.Path))
		if !strings.Contains(dockerfile, "COPY "+dir+"/go.mod") {
			t.Errorf("go.work uses %s, but the Dockerfile does not copy %s/go.mod", dir, dir)
		}
		top, _, _ := strings.Cut(dir, "/")
		if slices.Contains(ignored, dir) || slices.Contains(ignored, top) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", dir)
		}
	}
}

// TestImagesMatchManifests checks that the images workflow builds an image
// for each one the manifests run, from a main package that exists.
func TestImagesMatchManifests(t *testing.T) {
	var wf struct {
		Jobs map[string]struct {
			Strategy struct {
				Matrix struct {
					Include []struct {
						Image   string `json:"image"`
						Package string `json:"package"`
					} `json:"include"`
				} `json:"matrix"`
			} `json:"strategy"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(readFile(t, ".github/workflows/images.yml"), &wf); err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{}
	for _, job := range wf.Jobs {
		for _, inc := range job.Strategy.Matrix.Include {
			built["zenith/"+inc.Image] = true
			if _, err := os.Stat(filepath.Join(repoRoot(t), inc.Package, "main.go")); err != nil {
				t.Errorf("image %s builds %s, which has no main.go", inc.Image, inc.Package)
			}
		}
	}

	re := regexp.MustCompile(`(?m)^\s+image: (zenith/[a-z-]+)\s*$`)
	base, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy", "base", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, file := range base {
		content, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(content), -1) {
			used++
			if !built[m[1]] {
				t.Errorf("%s runs image %s, which .github/workflows/images.yml does not build", filepath.Base(file), m[1])
			}
		}
	}
	if used == 0 {
		t.Error("deploy/base runs no zenith/ image")
	}
}
