// Package faults is Zenith's fault-injection suite: it proves the delivery
// promise (an event the ingestor accepted is evaluated, and every action it
// triggers ends in exactly one audit row, delivered or dead-lettered) by
// breaking things on purpose while a steady load flows.
//
// Run builds the three services and a NATS server runner (natsd) with go
// build and starts each as a process of its own, over a PostgreSQL cluster
// of its own (pkg/localpg) and a webhook receiver on loopback. While a
// producer sends thousands of distinct events, retrying each with the same
// id until it is accepted, the suite in turn:
//
//   - sends SIGTERM to each tier and starts it again, checking that it exits
//     within its grace period and leaves no message unsettled;
//   - kills each tier (SIGKILL) and starts it again;
//   - restarts the NATS server, then kills it and starts it again;
//   - stops PostgreSQL for a while;
//   - makes the sink fail (503) for a while.
//
// Once the pipeline is quiet it checks the ledger: every accepted event has
// an outcome, every expected dispatch exactly one audit row, no unexpected
// dispatch exists, and the receiver saw every delivered dispatch's
// webhook-id. It prints progress while it runs and the counts at the end.
// Short is the version `make test` runs; Full is `make faults`.
package faults
