// Package rules parses, validates and evaluates Zenith's business rules.
//
// A rule belongs to one source and has an optional event type filter, a
// condition tree and the sinks it acts on. A condition is a comparison
//
//	{"field": "user.segment", "operator": "==", "value": "VIP"}
//
// or a composite {"all": [...]}, {"any": [...]} or {"not": {...}}. Fields are
// dot paths into the event's data; a numeric segment indexes an array.
//
// Semantics: a comparison reads the field and compares it with the value only
// when both have the same JSON type (number, string or boolean); numbers are
// compared as numbers, strings byte by byte. A missing field, or a field of
// another type, makes every comparison on it false, including "!=". Wrap a
// comparison in "not" to ask that a field be absent or different.
//
// Conditions are validated when a rule is saved (ParseCondition) and compiled
// once into predicates (NewSet); evaluating an event parses its data once and
// never touches the database. A Set is immutable and safe for concurrent use.
package rules
