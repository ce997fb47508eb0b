// Package rules parses, validates, compiles and evaluates Zenith's business
// rules. docs/rules.md defines the language; every table in it runs as a
// test of this package.
//
// A rule belongs to one source and has an optional event type filter (one
// type, or a prefix such as "order.*"), a condition tree and the sinks it
// acts on. A condition is a comparison
//
//	{"field": "user.segment", "operator": "==", "value": "VIP"}
//
// or a composite {"all": [...]}, {"any": [...]} or {"not": {...}}. Fields
// are dot paths into the event's data; a segment of digits indexes an
// array, any other segment applies to each element of one, and `\.` escapes
// a dot. Values are typed: numbers compare as exact decimals, strings byte
// by byte, and a comparison between different types is false.
//
// Saving: ParseCondition and ValidateEventType check a rule when it is
// saved and name the place of a problem in a *ValidationError.
//
// Evaluating: NewSet compiles a source's rules once: values typed, each
// comparison a specialised predicate, the paths every rule reads gathered
// into one plan, and equality conditions indexed so that many rules cost
// about what few do. Set.Match then reads an event's JSON once along that
// plan, skipping what no rule reads, and allocates nothing once warm.
// Set.Explain evaluates the same way but reports, per rule and per
// condition, the value read and why it held; it costs Match nothing.
//
// A Set is immutable and safe for concurrent use: the rule-engine swaps a
// whole new Set in when rules change.
package rules
