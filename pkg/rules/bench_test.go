package rules_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/rules/workload"
)

// The benchmarks below measure Match from the raw bytes of a ~1 KiB event,
// each beside a baseline measured in the same run: the reference
// interpreter of the tests, which decodes the whole event with
// encoding/json and walks the condition tree, as the design Zenith grew
// from did. docs/benchmarks.md has the figures; `make bench` reruns them.

func BenchmarkRule(b *testing.B) {
	list := []rules.Rule{workload.SeedRule()}
	b.Run("zenith", func(b *testing.B) { benchmarkMatch(b, list, workload.Event(), 1) })
	b.Run("zenith-late-fields", func(b *testing.B) { benchmarkMatch(b, list, workload.LateEvent(), 1) })
	b.Run("baseline", func(b *testing.B) { benchmarkReference(b, list, workload.Event(), 1) })
}

func BenchmarkMixed100(b *testing.B) {
	list := workload.Mixed(100)
	b.Run("zenith", func(b *testing.B) { benchmarkMatch(b, list, workload.Event(), 5) })
	b.Run("zenith-late-fields", func(b *testing.B) { benchmarkMatch(b, list, workload.LateEvent(), 5) })
	b.Run("baseline", func(b *testing.B) { benchmarkReference(b, list, workload.Event(), 5) })
}

func BenchmarkEquality(b *testing.B) {
	for _, n := range []int{100, 10000} {
		list := workload.Equality(n)
		b.Run(sizeName(n)+"/zenith", func(b *testing.B) { benchmarkMatch(b, list, workload.Event(), 5) })
	}
	b.Run("10000/baseline", func(b *testing.B) { benchmarkReference(b, workload.Equality(10000), workload.Event(), 5) })
}

func sizeName(n int) string {
	if n == 100 {
		return "100"
	}
	return "10000"
}

// benchmarkMatch measures Match on data, checking it finds want rules.
func benchmarkMatch(b *testing.B, list []rules.Rule, data []byte, want int) {
	set, err := rules.NewSet(list)
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]*rules.Rule, 0, 16)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		dst, err = set.Match(workload.EventType, data, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
	}
	if len(dst) != want {
		b.Fatalf("matched %d rules, want %d", len(dst), want)
	}
}

// benchmarkReference measures the baseline on the same rules and event.
func benchmarkReference(b *testing.B, list []rules.Rule, data []byte, want int) {
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var matched []string
	for b.Loop() {
		var ok bool
		matched, ok = referenceMatch(list, workload.EventType, data)
		if !ok {
			b.Fatal("the reference interpreter could not judge the event")
		}
	}
	if len(matched) != want {
		b.Fatalf("matched %d rules, want %d", len(matched), want)
	}
}

// The benchmark workloads are also a test: on them, with the event in
// either field order, Match agrees with the reference interpreter.
func TestWorkloadsAgreeWithReference(t *testing.T) {
	sets := map[string][]rules.Rule{
		"seed":         {workload.SeedRule()},
		"mixed-100":    workload.Mixed(100),
		"equality-100": workload.Equality(100),
		"equality-10k": workload.Equality(10000),
	}
	for name, list := range sets {
		set, err := rules.NewSet(list)
		if err != nil {
			t.Fatal(err)
		}
		for _, data := range [][]byte{workload.Event(), workload.LateEvent()} {
			matched, err := set.Match(workload.EventType, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, ok := referenceMatch(list, workload.EventType, data)
			if !ok {
				t.Fatal("the reference interpreter could not judge the event")
			}
			if diff := cmp.Diff(want, names(matched)); diff != "" {
				t.Errorf("%s: Match (+) and the reference (-) disagree:\n%s", name, diff)
			}
			if name != "seed" && len(want) != 5 {
				t.Errorf("%s: %d rules match, want 5", name, len(want))
			}
		}
	}
}
