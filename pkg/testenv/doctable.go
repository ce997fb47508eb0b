package testenv

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// DocTable keeps a Markdown table in a document in step with the test that
// proves its rows. The table stands between the lines
// "<!-- begin NAME -->" and "<!-- end NAME -->" of the file at path; rows
// are the table's lines, header included. When update is set, DocTable
// writes them there; otherwise it fails the test if the document says
// anything else, and says how to rewrite it.
func DocTable(t *testing.T, path, name string, rows []string, update bool) {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	begin, end := fmt.Sprintf("<!-- begin %s -->\n", name), fmt.Sprintf("<!-- end %s -->", name)
	i, j := bytes.Index(doc, []byte(begin)), bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q section", path, strings.TrimSpace(begin), end)
	}
	want := strings.Join(rows, "\n") + "\n"
	got := string(doc[i+len(begin) : j])
	if got == want {
		return
	}
	if !update {
		t.Fatalf("the %s table of %s differs from the test's rows; run the test with -update to rewrite it.\ngot:\n%s\nwant:\n%s", name, path, got, want)
	}
	out := append(append(append([]byte{}, doc[:i+len(begin)]...), want...), doc[j:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// TableRow writes cells as a Markdown table row, escaping the pipes and
// line breaks they hold.
func TableRow(cells ...string) string {
	escaped := make([]string, len(cells))
	for i, c := range cells {
		c = strings.ReplaceAll(c, "|", `\|`)
		escaped[i] = strings.ReplaceAll(c, "\n", " ")
	}
	return "| " + strings.Join(escaped, " | ") + " |"
}
