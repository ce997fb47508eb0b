// Command peerbench runs Zenith's rule benchmark workloads through Zenith
// and through the Go rule engines a team would otherwise pick,
// github.com/expr-lang/expr and github.com/google/cel-go, and prints each
// engine's time per event and Zenith's speed-up over it.
//
// The peers evaluate the same rules, translated into their languages, over
// the event decoded with encoding/json into a map, as they are used; every
// engine starts from the event's raw bytes. It lives in a module of its own
// so that Zenith's product modules do not depend on expr or cel-go.
//
// Usage: go run ./tools/peerbench (or make bench-peers) from the
// repository root.
package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/interpreter"

	"github.com/zenith-hq/zenith/pkg/rules"
	"github.com/zenith-hq/zenith/pkg/rules/workload"
)

// An engine evaluates one rule set on raw event bytes. match returns the
// names of the rules that match, in the set's order; count, what the
// benchmark measures, only how many.
type engine interface {
	match(data []byte) ([]string, error)
	count(data []byte) (int, error)
}

// zenithEngine is Zenith's compiled Set.
type zenithEngine struct {
	set *rules.Set
	dst []*rules.Rule
}

func newZenith(list []rules.Rule) (*zenithEngine, error) {
	set, err := rules.NewSet(list)
	if err != nil {
		return nil, err
	}
	return &zenithEngine{set: set}, nil
}

func (z *zenithEngine) count(data []byte) (int, error) {
	var err error
	z.dst, err = z.set.Match(workload.EventType, data, z.dst[:0])
	return len(z.dst), err
}

func (z *zenithEngine) match(data []byte) ([]string, error) {
	_, err := z.count(data)
	names := make([]string, len(z.dst))
	for i, r := range z.dst {
		names[i] = r.Name
	}
	return names, err
}

// peer is a rule engine that runs one program per rule over the event
// decoded into a map.
type peer struct {
	names []string
	// eval decodes data and runs every program on it, calling matched
	// with the position of each rule that holds.
	eval func(data []byte, matched func(i int)) error
}

func (p *peer) match(data []byte) ([]string, error) {
	var matched []string
	err := p.eval(data, func(i int) { matched = append(matched, p.names[i]) })
	return matched, err
}

func (p *peer) count(data []byte) (int, error) {
	n := 0
	err := p.eval(data, func(int) { n++ })
	return n, err
}

// newExpr compiles one expr program per rule, run on a reused VM.
func newExpr(list []rules.Rule) (*peer, error) {
	p := &peer{}
	var programs []*vm.Program
	env := expr.Env(map[string]any{"event": map[string]any{}})
	for _, r := range ordered(list) {
		program, err := expr.Compile(translate(r.Condition), env, expr.AsBool())
		if err != nil {
			return nil, fmt.Errorf("expr: rule %s: %w", r.Name, err)
		}
		p.names = append(p.names, r.Name)
		programs = append(programs, program)
	}
	var machine vm.VM
	p.eval = func(data []byte, matched func(i int)) error {
		var event map[string]any
		if err := json.Unmarshal(data, &event); err != nil {
			return err
		}
		env := map[string]any{"event": event}
		for i, program := range programs {
			out, err := machine.Run(program, env)
			if err != nil {
				return err
			}
			if out.(bool) {
				matched(i)
			}
		}
		return nil
	}
	return p, nil
}

// newCEL compiles one CEL program per rule.
func newCEL(list []rules.Rule) (*peer, error) {
	env, err := cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return nil, err
	}
	p := &peer{}
	var programs []cel.Program
	for _, r := range ordered(list) {
		ast, iss := env.Compile(translate(r.Condition))
		if iss.Err() != nil {
			return nil, fmt.Errorf("cel: rule %s: %w", r.Name, iss.Err())
		}
		program, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, fmt.Errorf("cel: rule %s: %w", r.Name, err)
		}
		p.names = append(p.names, r.Name)
		programs = append(programs, program)
	}
	p.eval = func(data []byte, matched func(i int)) error {
		var event map[string]any
		if err := json.Unmarshal(data, &event); err != nil {
			return err
		}
		activation, err := interpreter.NewActivation(map[string]any{"event": event})
		if err != nil {
			return err
		}
		for i, program := range programs {
			out, _, err := program.Eval(activation)
			if err != nil {
				return err
			}
			if out.Value().(bool) {
				matched(i)
			}
		}
		return nil
	}
	return p, nil
}

// ordered returns the rules in Zenith's evaluation order (priority, then
// name), so that every engine reports matches in the same order.
func ordered(list []rules.Rule) []*rules.Rule {
	set, err := rules.NewSet(list)
	if err != nil {
		panic(err)
	}
	return set.Rules()
}

// translate writes a condition in the syntax expr and CEL share for what
// the workloads use: comparisons, in, &&, || and !, on event["a"]["b"].
// Numbers are written as decimals, which both compare with the float64
// values encoding/json decodes.
func translate(c *rules.Condition) string {
	switch {
	case c.All != nil:
		return join(c.All, " && ")
	case c.Any != nil:
		return join(c.Any, " || ")
	case c.Not != nil:
		return "!(" + translate(c.Not) + ")"
	}
	field := "event"
	for _, segment := range strings.Split(c.Field, ".") {
		field += "[" + strconv.Quote(segment) + "]"
	}
	if c.Operator == "in" {
		items := c.Value.([]any)
		values := make([]string, len(items))
		for i, item := range items {
			values[i] = literal(item)
		}
		return field + " in [" + strings.Join(values, ", ") + "]"
	}
	return field + " " + c.Operator + " " + literal(c.Value)
}

func join(list []*rules.Condition, op string) string {
	parts := make([]string, len(list))
	for i, c := range list {
		parts[i] = "(" + translate(c) + ")"
	}
	return strings.Join(parts, op)
}

func literal(v any) string {
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			panic(err)
		}
		return strconv.FormatFloat(f, 'f', -1, 64) + decimalPoint(f)
	case string:
		return strconv.Quote(v)
	default:
		return fmt.Sprint(v)
	}
}

// decimalPoint makes an integral literal a double for CEL, which does not
// compare an int with a double.
func decimalPoint(f float64) string {
	if f == float64(int64(f)) {
		return ".0"
	}
	return ""
}
