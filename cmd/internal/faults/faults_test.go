package faults_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/cmd/internal/faults"
)

// TestShortFaultSuite runs the short fault-injection suite against the
// real binaries: every fault once, under a steady load, then the ledger.
// It needs PostgreSQL's server binaries, like every integration test.
func TestShortFaultSuite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	report, err := faults.Run(ctx, faults.Short(), os.Stdout)
	if err != nil {
		t.Fatal(err)
	}
	for _, problem := range report.Problems() {
		t.Error(problem)
	}
	if report.Sent < 1000 {
		t.Errorf("the load sent %d events, want thousands", report.Sent)
	}
	if len(report.Shutdowns) != 3 {
		t.Errorf("SIGTERMs measured = %d, want one per tier", len(report.Shutdowns))
	}
}
