package main

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"text/tabwriter"

	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/rules/workload"
)

// cases are the workloads, as Zenith's own benchmarks run them.
var cases = []struct {
	name  string
	rules func() []rules.Rule
}{
	{"1 rule (amount > 500 && user.segment == VIP)", func() []rules.Rule { return []rules.Rule{workload.SeedRule()} }},
	{"100 mixed rules", func() []rules.Rule { return workload.Mixed(100) }},
	{"10,000 equality rules", func() []rules.Rule { return workload.Equality(10000) }},
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "peerbench:", err)
		os.Exit(1)
	}
}

func run() error {
	data := workload.Event()
	out := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(out, "workload\tengine\tns/event\tallocs/event\tZenith is\t")
	for _, c := range cases {
		fmt.Fprintf(os.Stderr, "compiling %s for every engine...\n", c.name)
		engines, err := build(c.rules())
		if err != nil {
			return err
		}
		if err := crossCheck(engines, data); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		var zenithNs float64
		for _, e := range engines {
			fmt.Fprintf(os.Stderr, "measuring %s on %s...\n", e.name, c.name)
			r := testing.Benchmark(func(b *testing.B) { measure(b, e.engine, data) })
			ns := float64(r.T.Nanoseconds()) / float64(r.N)
			ratio := "-"
			if e.name == "zenith" {
				zenithNs = ns
			} else {
				ratio = fmt.Sprintf("%.1fx faster", ns/zenithNs)
			}
			fmt.Fprintf(out, "%s\t%s\t%.0f\t%d\t%s\t\n", c.name, e.name, ns, r.AllocsPerOp(), ratio)
		}
	}
	return out.Flush()
}

// named is an engine with its name.
type named struct {
	name   string
	engine engine
}

// build compiles the rules for Zenith, expr and CEL, Zenith first.
func build(list []rules.Rule) ([]named, error) {
	z, err := newZenith(list)
	if err != nil {
		return nil, err
	}
	x, err := newExpr(list)
	if err != nil {
		return nil, err
	}
	c, err := newCEL(list)
	if err != nil {
		return nil, err
	}
	return []named{{"zenith", z}, {"expr", x}, {"cel-go", c}}, nil
}

// crossCheck makes sure every engine matches the same rules.
func crossCheck(engines []named, data []byte) error {
	want, err := engines[0].engine.match(data)
	if err != nil {
		return err
	}
	for _, e := range engines[1:] {
		got, err := e.engine.match(data)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("%s matches %v, zenith %v", e.name, got, want)
		}
	}
	return nil
}

// measure runs an engine on data b.N times.
func measure(b *testing.B, e engine, data []byte) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.count(data); err != nil {
			b.Fatal(err)
		}
	}
}
