// Package metrics declares the Prometheus metrics Zenith's services export.
// They live in one package so that the three services can run in one
// process (as `make run` does) without registering a metric twice, and so
// the dashboard has one list to be checked against.
//
// Labels are bounded: tiers, source names, sink names and types (chosen by
// operators), reasons and statuses; never event ids, URLs or anything else
// a producer controls.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Tiers, as the tier label names them.
const (
	TierIngestor   = "ingestor"
	TierRuleEngine = "rule-engine"
	TierDispatcher = "dispatcher"
)

var (
	// EventsReceived counts requests' events before any check.
	EventsReceived = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_events_received_total",
		Help: "Events received by the ingestor, before authentication and validation.",
	}, []string{"transport"})

	// EventsAccepted counts events persisted in JetStream.
	EventsAccepted = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_events_accepted_total",
		Help: "Events acknowledged by JetStream and answered with success.",
	}, []string{"source"})

	// EventsRejected counts refused events by reason.
	EventsRejected = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_events_rejected_total",
		Help: "Events refused, by source (empty when unknown) and reason.",
	}, []string{"source", "reason"})

	// RulesEvaluated counts events evaluated against their source's rules.
	RulesEvaluated = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_rules_evaluated_total",
		Help: "Events evaluated against their source's rules.",
	}, []string{"source"})

	// RulesMatched counts rule matches.
	RulesMatched = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_rules_matched_total",
		Help: "Rules that matched an event (fallback rules included).",
	}, []string{"source"})

	// RuleEvaluationDuration times one event's evaluation.
	RuleEvaluationDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "zenith_rule_evaluation_duration_seconds",
		Help:    "Time to evaluate one event against its source's rules.",
		Buckets: prometheus.ExponentialBuckets(1e-7, 4, 12),
	})

	// Dispatches counts dispatch outcomes. The sink label is the sink's
	// name, chosen by operators and so bounded.
	Dispatches = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_dispatch_total",
		Help: "Dispatch outcomes by sink type, sink name and status (delivered, retried, deferred, dead_lettered).",
	}, []string{"sink_type", "sink", "status"})

	// DispatchDuration times one delivery attempt sequence.
	DispatchDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "zenith_dispatch_duration_seconds",
		Help:    "Time to deliver one action to its sink, retries included.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 14),
	}, []string{"sink_type"})

	// WorkerQueueDepth is the work waiting inside a tier's processes.
	WorkerQueueDepth = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zenith_worker_queue_depth",
		Help: "Work waiting in each tier: ingest requests in flight in the ingestor; messages fetched and waiting for a worker in the rule-engine and dispatcher.",
	}, []string{"tier"})

	// RuleSetRules is the number of rules the engine holds.
	RuleSetRules = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zenith_rule_cache_rules",
		Help: "Enabled rules held in the rule-engine's memory.",
	})

	// RuleSetReloads counts reloads of the rule cache by outcome.
	RuleSetReloads = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_rule_cache_reloads_total",
		Help: "Reloads of the rule cache from the database, by outcome (ok, error).",
	}, []string{"outcome"})

	// EventsTerminated counts messages the rule-engine refused as malformed.
	EventsTerminated = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_engine_events_terminated_total",
		Help: "Messages on the events stream refused as malformed, by reason.",
	}, []string{"reason"})

	// ActionsTerminated counts messages the dispatcher refused as malformed.
	ActionsTerminated = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_dispatcher_actions_terminated_total",
		Help: "Messages on the actions stream refused as malformed and copied to zenith.dlq.actions.malformed, by reason.",
	}, []string{"reason"})

	// DeadLettered counts actions sent to the dead-letter stream.
	DeadLettered = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_dead_lettered_total",
		Help: "Actions sent to the dead-letter stream, by sink type.",
	}, []string{"sink_type"})

	// EndToEndLatency times an event from acceptance to delivery.
	EndToEndLatency = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "zenith_end_to_end_latency_seconds",
		Help:    "Time from JetStream storing the event to its action's dispatch outcome (delivered or dead-lettered), by sink type.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 14),
	}, []string{"sink_type"})

	// ProcessingDuration times one unit of each tier's work.
	ProcessingDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name: "zenith_processing_duration_seconds",
		Help: "Time each tier spends on one unit of work: an ingest request (authentication, validation, JetStream's acknowledgement); " +
			"an event in the rule-engine (evaluation, storing its actions, acknowledgement); an action in the dispatcher (every attempt of one delivery).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 3, 13),
	}, []string{"tier"})
)

// Rule cache metrics of the rule-engine.
var (
	// RuleCacheVersion identifies the rules the rule-engine holds.
	RuleCacheVersion = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zenith_rule_cache_version",
		Help: "Fingerprint of the rules held in memory, made from each enabled rule's id and version: " +
			"replicas holding the same rules show the same value, and any rule change changes it.",
	})

	// RuleCacheLoaded is when the rules were last loaded.
	RuleCacheLoaded = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zenith_rule_cache_loaded_timestamp_seconds",
		Help: "Unix time of the last successful load of the rules from the database.",
	})
)

// JetStream consumer metrics, per tier: read from the consumer's info every
// few seconds (see telemetry.WatchConsumer), and counted as messages are
// handled.
var (
	// ConsumerPending is the consumer's lag.
	ConsumerPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zenith_consumer_pending_messages",
		Help: "Messages in the tier's stream not yet delivered to its durable consumer: the consumer's lag.",
	}, []string{"tier"})

	// ConsumerAckPending is the work delivered and not yet settled.
	ConsumerAckPending = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zenith_consumer_ack_pending_messages",
		Help: "Messages delivered to the tier's consumer and not yet acknowledged.",
	}, []string{"tier"})

	// ConsumerRedelivered is the work delivered more than once and not yet
	// settled.
	ConsumerRedelivered = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zenith_consumer_redelivered_messages",
		Help: "Messages delivered more than once to the tier's consumer and not yet acknowledged.",
	}, []string{"tier"})

	// Redeliveries counts the messages a tier handled again.
	Redeliveries = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_redeliveries_total",
		Help: "Messages a tier was given again after an earlier delivery (a failure, a timeout or a crash), counted as they are handled.",
	}, []string{"tier"})

	// DeadLetterMessages is the size of the dead-letter stream.
	DeadLetterMessages = promauto.NewGauge(prometheus.GaugeOpts{
		Name: "zenith_dead_letter_messages",
		Help: "Messages held in the dead-letter stream (dead-lettered actions and events), replayed ones included until they age out.",
	})
)

// Delivery protection and archiving metrics of the dispatcher.
var (
	// SinkCircuitState is each sink's circuit breaker state.
	SinkCircuitState = promauto.NewGaugeVec(prometheus.GaugeOpts{
		Name: "zenith_sink_circuit_state",
		Help: "Circuit breaker state of each sink, by sink name: 0 closed, 1 half-open, 2 open.",
	}, []string{"sink"})

	// DispatchDeferred counts actions handed back to JetStream without a
	// call to their sink.
	DispatchDeferred = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_dispatch_deferred_total",
		Help: "Actions put back for later without calling their sink, by sink type and reason (circuit_open, rate_limited, bulkhead_full, bulkhead_stalled).",
	}, []string{"sink_type", "reason"})

	// EgressBlocked counts connections the egress guard refused.
	EgressBlocked = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_egress_blocked_total",
		Help: "Sink connections refused because the address is not public, by kind of address.",
	}, []string{"reason"})

	// ArchiveObjects counts archive objects written, by outcome.
	ArchiveObjects = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "zenith_archive_objects_total",
		Help: "Archive objects written to S3, by outcome (stored, failed).",
	}, []string{"outcome"})

	// ArchiveObjectEvents is the number of events per archive object.
	ArchiveObjectEvents = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "zenith_archive_object_events",
		Help:    "Events held by each archive object written.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 10),
	})
)

// EventsDeadLettered counts the poison events the rule-engine gave up on.
var EventsDeadLettered = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "zenith_engine_events_dead_lettered_total",
	Help: "Events the rule-engine gave up on after ENGINE_MAX_DELIVER deliveries and sent to the dead-letter stream, by reason (actions_not_stored, evaluation_panicked, not_settled).",
}, []string{"reason"})
