package rules_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
)

// semanticsDoc is the document that defines the rule language; every table
// in it is a test.
const semanticsDoc = "../../docs/rules.md"

// docTable is one markdown table of the semantics document.
type docTable struct {
	line   int // of the header
	header string
	rows   []docRow
}

type docRow struct {
	line  int
	cells []string
}

// TestSemanticsDocument runs every row of every table in docs/rules.md. A
// table whose header it does not know fails, so the document cannot hold
// an example nobody checks.
func TestSemanticsDocument(t *testing.T) {
	tables := readDocTables(t, semanticsDoc)
	if len(tables) < 10 {
		t.Fatalf("found %d tables in %s, want the whole document", len(tables), semanticsDoc)
	}
	rowsRun := 0
	for _, table := range tables {
		run, ok := docTableRunners[table.header]
		if !ok {
			t.Errorf("%s:%d: table %q is not one the test knows how to run", semanticsDoc, table.line, table.header)
			continue
		}
		for _, row := range table.rows {
			name := fmt.Sprintf("line%d", row.line)
			t.Run(name, func(t *testing.T) {
				if len(row.cells) != strings.Count(table.header, "|")+1 {
					t.Fatalf("%s:%d: row has %d cells, header %q", semanticsDoc, row.line, len(row.cells), table.header)
				}
				run(t, row.cells)
			})
			rowsRun++
		}
	}
	t.Logf("ran %d rows of %d tables", rowsRun, len(tables))
}

// docTableRunners maps a table's header (its cells joined by |) to what
// checks one row.
var docTableRunners = map[string]func(t *testing.T, cells []string){
	"data|condition|holds":                  checkHoldsRow,
	"data|condition|reason":                 checkReasonRow,
	"condition|saved as":                    checkSavedRow,
	"filter|event type|matches":             checkFilterRow,
	"rules|data|fired":                      checkFiredRow,
	"operator|value|holds when a candidate": checkOperatorRow,
}

// checkHoldsRow evaluates a condition on data with Match, Explain and the
// reference interpreter, which must all give the documented answer.
func checkHoldsRow(t *testing.T, cells []string) {
	data, raw, want := code(t, cells[0]), conditionJSON(t, cells[1]), yesNo(t, cells[2])
	cond := mustCondition(t, raw)
	set, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: cond}})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	matched, err := set.Match("test.event", []byte(data), nil)
	if err != nil {
		t.Fatalf("Match: %v", err)
	}
	if got := len(matched) == 1; got != want {
		t.Errorf("Match: %s on %s = %v, want %v", raw, data, got, want)
	}
	explained, err := set.Explain("test.event", []byte(data))
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	if got := explained[0].Matched; got != want {
		t.Errorf("Explain: %s on %s = %v (%s), want %v", raw, data, got, explained[0].Reason, want)
	}
	if got, ok := referenceHolds(cond, []byte(data)); !ok || got != want {
		t.Errorf("reference interpreter: %s on %s = %v (ok %v), want %v", raw, data, got, ok, want)
	}
}

func checkReasonRow(t *testing.T, cells []string) {
	data, raw, want := code(t, cells[0]), conditionJSON(t, cells[1]), code(t, cells[2])
	set, err := rules.NewSet([]rules.Rule{{Name: "r", Condition: mustCondition(t, raw)}})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	explained, err := set.Explain("test.event", []byte(data))
	if err != nil {
		t.Fatalf("Explain: %v", err)
	}
	if got := explained[0].Condition.Reason; got != want {
		t.Errorf("reason for %s on %s:\n got %s\nwant %s", raw, data, got, want)
	}
}

func checkSavedRow(t *testing.T, cells []string) {
	raw := conditionJSON(t, cells[0])
	_, err := rules.ParseCondition([]byte(raw), "condition")
	if cells[1] == "accepted" {
		if err != nil {
			t.Errorf("ParseCondition(%s): %v, want it accepted", raw, err)
		}
		return
	}
	want := code(t, cells[1])
	if err == nil || err.Error() != want {
		t.Errorf("ParseCondition(%s):\n got %v\nwant %s", raw, err, want)
	}
}

func checkFilterRow(t *testing.T, cells []string) {
	filter := ""
	if cells[0] != "none" {
		filter = code(t, cells[0])
	}
	eventType, want := code(t, cells[1]), yesNo(t, cells[2])
	set, err := rules.NewSet([]rules.Rule{{Name: "r", EventType: filter}})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	matched, err := set.Match(eventType, []byte(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(matched) == 1; got != want {
		t.Errorf("filter %q on type %q = %v, want %v", filter, eventType, got, want)
	}
}

// ruleSpec is a rule written name(priority): condition or
// name(fallback, priority): condition.
var ruleSpec = regexp.MustCompile(`^(\w+)\((fallback, )?(-?\d+)\)(?::\s*(.+))?$`)

func checkFiredRow(t *testing.T, cells []string) {
	var list []rules.Rule
	for _, spec := range strings.Split(code(t, cells[0]), ";") {
		m := ruleSpec.FindStringSubmatch(strings.TrimSpace(spec))
		if m == nil {
			t.Fatalf("rule %q is not name(priority): condition", spec)
		}
		priority, _ := strconv.Atoi(m[3])
		r := rules.Rule{Name: m[1], Fallback: m[2] != "", Priority: priority}
		if m[4] != "" {
			r.Condition = mustCondition(t, conditionJSON(t, "`"+m[4]+"`"))
		}
		list = append(list, r)
	}
	set, err := rules.NewSet(list)
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	matched, err := set.Match("test.event", []byte(code(t, cells[1])), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{}
	if cells[2] != "none" {
		want = strings.Fields(code(t, cells[2]))
	}
	if diff := cmp.Diff(want, names(matched)); diff != "" {
		t.Errorf("fired (-want +got):\n%s", diff)
	}
}

// checkOperatorRow checks that the operators a row of the summary names
// are operators of the language.
func checkOperatorRow(t *testing.T, cells []string) {
	for _, op := range operatorsIn(t, cells[0]) {
		raw := fmt.Sprintf(`{"field":"a","operator":%q,"value":"x"}`, op)
		_, err := rules.ParseCondition([]byte(raw), "condition")
		if err != nil && strings.Contains(err.Error(), "unknown operator") {
			t.Errorf("the summary names %q, which is not an operator", op)
		}
	}
}

// operatorsIn returns the operators a cell lists, as `a`, `b`.
func operatorsIn(t *testing.T, cell string) []string {
	var list []string
	for _, op := range strings.Split(cell, ",") {
		list = append(list, code(t, strings.TrimSpace(op)))
	}
	return list
}

// TestSemanticsDocumentNamesEveryOperator checks the summary table against
// the operators ParseCondition lists in its errors.
func TestSemanticsDocumentNamesEveryOperator(t *testing.T) {
	_, err := rules.ParseCondition([]byte(`{"field":"a","operator":"?","value":1}`), "condition")
	all := regexp.MustCompile(`want one of (.*)\)$`).FindStringSubmatch(err.Error())
	if all == nil {
		t.Fatalf("unknown operator error %q does not list the operators", err)
	}
	var documented []string
	for _, table := range readDocTables(t, semanticsDoc) {
		if table.header == "operator|value|holds when a candidate" {
			for _, row := range table.rows {
				documented = append(documented, operatorsIn(t, row.cells[0])...)
			}
		}
	}
	want := strings.Fields(all[1])
	slices.Sort(want)
	slices.Sort(documented)
	if diff := cmp.Diff(want, documented); diff != "" {
		t.Errorf("operators in the summary table (-language +document):\n%s", diff)
	}
}

// readDocTables returns every table of the markdown file at path.
func readDocTables(t *testing.T, path string) []docTable {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the semantics document: %v", err)
	}
	var tables []docTable
	var current *docTable
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			current = nil
			continue
		}
		cells := splitRow(line)
		switch {
		case current == nil:
			tables = append(tables, docTable{line: n, header: strings.Join(cells, "|")})
			current = &tables[len(tables)-1]
		case strings.Trim(line, "|-: ") == "":
			// The separator under the header.
		default:
			current.rows = append(current.rows, docRow{line: n, cells: cells})
		}
	}
	return tables
}

// splitRow returns the cells of a table row, trimmed; \| is a | inside a
// cell.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	line = strings.ReplaceAll(line, `\|`, "\x00")
	cells := strings.Split(line, "|")
	for i := range cells {
		cells[i] = strings.ReplaceAll(strings.TrimSpace(cells[i]), "\x00", "|")
	}
	return cells
}

// code returns the contents of a cell that is a code span: `x`, or “x“
// when x holds a backquote (with a space at an end that is one).
func code(t *testing.T, cell string) string {
	t.Helper()
	if s, ok := strings.CutPrefix(cell, "``"); ok {
		if s, ok := strings.CutSuffix(s, "``"); ok {
			return strings.TrimPrefix(strings.TrimSuffix(s, " "), " ")
		}
	}
	if len(cell) >= 2 && cell[0] == '`' && cell[len(cell)-1] == '`' {
		return cell[1 : len(cell)-1]
	}
	t.Fatalf("cell %q is not a code span", cell)
	return ""
}

func yesNo(t *testing.T, cell string) bool {
	t.Helper()
	switch cell {
	case "yes":
		return true
	case "no":
		return false
	}
	t.Fatalf("cell %q is neither yes nor no", cell)
	return false
}

// conditionJSON returns a cell's condition as JSON: the cell is JSON, or
// the short form `field operator value` with value in JSON (none for
// exists).
func conditionJSON(t *testing.T, cell string) string {
	t.Helper()
	s := code(t, cell)
	if strings.HasPrefix(s, "{") {
		return s
	}
	field, rest, _ := strings.Cut(s, " ")
	op, value, hasValue := strings.Cut(rest, " ")
	c := map[string]any{"field": field, "operator": op}
	if hasValue {
		c["value"] = json.RawMessage(value)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("short condition %q: %v", s, err)
	}
	return string(b)
}
