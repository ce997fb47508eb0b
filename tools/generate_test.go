package tools

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedCodeIsFresh regenerates the protobuf code into a temporary
// folder and compares it with pkg/gen, so a change to proto/ without
// `make generate` fails the tests.
func TestGeneratedCodeIsFresh(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	buf := lookTool(t, "buf")
	lookTool(t, "protoc-gen-go")
	lookTool(t, "protoc-gen-connect-go")

	out := t.TempDir()
	cmd := exec.Command(buf, "generate", "-o", out)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "PATH="+toolPath())
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("buf generate: %v\n%s", err, msg)
	}

	want := readTree(t, filepath.Join(out, "pkg", "gen"))
	got := readTree(t, filepath.Join(root, "pkg", "gen"))
	if len(want) == 0 {
		t.Fatal("buf generated nothing")
	}
	for name, content := range want {
		if !bytes.Equal(got[name], content) {
			t.Errorf("pkg/gen/%s is stale or missing: run `make generate`", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("pkg/gen/%s is no longer generated: run `make generate` and delete it", name)
		}
	}
}

// toolPath is PATH with the folder `go install` writes to in front.
func toolPath() string {
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err == nil {
			gobin = filepath.Join(strings.TrimSpace(string(out)), "bin")
		}
	}
	return gobin + string(os.PathListSeparator) + os.Getenv("PATH")
}

// lookTool finds an installed generator or fails the test saying how to
// install it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range filepath.SplitList(toolPath()) {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() {
			return path
		}
	}
	t.Fatalf("%s is not installed: run `make tools` (it uses `go install`)", name)
	return ""
}

// readTree returns the files under dir by their path relative to it.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = content
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
