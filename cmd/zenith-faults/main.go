// Command zenith-faults runs the full fault-injection suite (`make faults`):
// three rounds of every fault under a load of 200 events a second, then the
// ledger check (see package cmd/internal/faults). It exits 0 when nothing
// accepted was lost and no dispatch was recorded twice, 1 otherwise.
//
// ZENITH_FAULTS_RATE, ZENITH_FAULTS_ROUNDS and ZENITH_FAULTS_OUTAGE change
// the load, the number of rounds and the length of the database and sink
// outages.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/zenith-hq/zenith/cmd/internal/faults"
)

// settings are the variables that change the full suite.
type settings struct {
	Rate   int           `env:"ZENITH_FAULTS_RATE" envDefault:"200"`
	Rounds int           `env:"ZENITH_FAULTS_ROUNDS" envDefault:"3"`
	Outage time.Duration `env:"ZENITH_FAULTS_OUTAGE" envDefault:"15s"`
}

func main() {
	s, err := env.ParseAs[settings]()
	if err != nil {
		fmt.Fprintln(os.Stderr, "zenith-faults:", err)
		os.Exit(2)
	}
	opts := faults.Full()
	opts.Rate, opts.Rounds, opts.Outage = s.Rate, s.Rounds, s.Outage

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := faults.Run(ctx, opts, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "zenith-faults:", err)
		os.Exit(1)
	}
	if len(report.Problems()) > 0 {
		os.Exit(1)
	}
}
