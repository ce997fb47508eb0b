package main

import (
	"testing"

	"github.com/zenith-hq/zenith/pkg/rules/workload"
)

// TestEnginesAgree checks that expr and CEL, given the translated rules,
// match exactly what Zenith matches on every workload, in both field
// orders: the benchmark compares the same work.
func TestEnginesAgree(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			engines, err := build(c.rules())
			if err != nil {
				t.Fatal(err)
			}
			for _, data := range [][]byte{workload.Event(), workload.LateEvent()} {
				if err := crossCheck(engines, data); err != nil {
					t.Error(err)
				}
				want, _ := engines[0].engine.match(data)
				for _, e := range engines {
					n, err := e.engine.count(data)
					if err != nil || n != len(want) {
						t.Errorf("%s counts %d matches (%v), want %d", e.name, n, err, len(want))
					}
				}
			}
			if got, _ := engines[0].engine.match(workload.Event()); len(got) == 0 {
				t.Errorf("zenith matches no rule: the comparison would measure nothing")
			}
		})
	}
}
