package rules

// The index keeps many rules cheap. A rule whose condition requires a field
// to equal one of a few values (an "==" or "in" comparison among the
// top-level conjuncts), or whose event type filter names one type, is filed
// under those values. An event then tests only the rules filed under the
// values it has, plus the few rules no index covers, so that 10,000 rules
// keyed on a field cost about what 100 do.
//
// The index only narrows which rules are tested: each candidate is then
// evaluated in full, so it cannot change what matches.

// ruleIndex files a Set's regular rules under the values they require.
type ruleIndex struct {
	// fields has one entry per indexed field; each rule is filed under
	// one field only.
	fields []*fieldIndex
	// rest are the positions of the rules no field covers, in order.
	rest []int
}

// fieldIndex files rules under the values of one field, or of the event
// type when slot is -1.
type fieldIndex struct {
	slot  int
	strs  map[string][]int
	nums  map[numKey][]int
	bools [2][]int
}

// indexKey is one value a rule may be filed under.
type indexKey struct {
	slot int // -1 for the event type
	kind kind
	str  string
	num  numKey
	b    bool
}

// requirement is one way a rule's match requires a field to take one of a
// few values: filing the rule under each of them finds it whenever it can
// match.
type requirement struct {
	keys []indexKey
	// from is the comparison the requirement comes from; nil for the
	// event type.
	from *Condition
}

// buildIndex files rules under their most selective requirement. A rule
// filed under a comparison no longer tests it: finding the rule under the
// event's value already proved it.
func buildIndex(rules []compiledRule, p *plan) ruleIndex {
	options := make([][]requirement, len(rules))
	distinct := map[int]map[indexKey]bool{}
	for i := range rules {
		options[i] = requirements(&rules[i], p)
		for _, req := range options[i] {
			for _, k := range req.keys {
				if distinct[k.slot] == nil {
					distinct[k.slot] = map[indexKey]bool{}
				}
				distinct[k.slot][k] = true
			}
		}
	}

	var ix ruleIndex
	bySlot := map[int]*fieldIndex{}
	for i, opts := range options {
		req, ok := mostSelective(opts, distinct)
		if !ok {
			ix.rest = append(ix.rest, i)
			continue
		}
		slot := req.keys[0].slot
		f := bySlot[slot]
		if f == nil {
			f = &fieldIndex{slot: slot}
			bySlot[slot] = f
			ix.fields = append(ix.fields, f)
		}
		for _, k := range req.keys {
			f.file(k, i)
		}
		if req.from != nil {
			rules[i].test = compileWithout(rules[i].rule.Condition, req.from, p)
		}
	}
	return ix
}

// compileWithout compiles the conjunction c without its conjunct skip; nil
// when nothing else remains.
func compileWithout(c, skip *Condition, p *plan) predicate {
	var rest []predicate
	for _, conj := range flattenAll(c, nil) {
		if conj != skip {
			rest = append(rest, compileNode(conj, "condition", p))
		}
	}
	return allOf(rest)
}

// mostSelective picks the requirement on the field with the most distinct
// values across the set, preferring fewer values on a tie; ok is false
// when there is none.
func mostSelective(opts []requirement, distinct map[int]map[indexKey]bool) (best requirement, ok bool) {
	for i, req := range opts {
		if i == 0 {
			best = req
			continue
		}
		d, bd := len(distinct[req.keys[0].slot]), len(distinct[best.keys[0].slot])
		if d > bd || (d == bd && len(req.keys) < len(best.keys)) {
			best = req
		}
	}
	return best, len(opts) > 0
}

// requirements lists what a rule's match requires: its event type when its
// filter names one type, and each "==" or "in" comparison among its
// top-level conjuncts whose values can be keys.
func requirements(c *compiledRule, p *plan) []requirement {
	var reqs []requirement
	if c.filter.exact != "" {
		reqs = append(reqs, requirement{keys: []indexKey{{slot: -1, kind: kindString, str: c.filter.exact}}})
	}
	if c.rule.Condition == nil {
		return reqs
	}
	for _, cond := range flattenAll(c.rule.Condition, nil) {
		if cond.Field == "" {
			continue
		}
		cmp := mustComparison(cond, "condition")
		var values []operand
		switch cmp.operator {
		case "==":
			values = []operand{cmp.one}
		case "in":
			values = cmp.list
		default:
			continue
		}
		if keys := keysFor(values, p.slot(cmp.path)); keys != nil {
			reqs = append(reqs, requirement{keys: keys, from: cond})
		}
	}
	return reqs
}

// flattenAll appends the conditions that must all hold for c to hold: c
// itself, or the members of an all, looking through nested ones.
func flattenAll(c *Condition, list []*Condition) []*Condition {
	if c.All == nil {
		return append(list, c)
	}
	for _, child := range c.All {
		list = flattenAll(child, list)
	}
	return list
}

// keysFor returns the keys of values in slot, or nil when one of them
// cannot be a key (a number outside the fast form).
func keysFor(values []operand, slot int) []indexKey {
	keys := make([]indexKey, 0, len(values))
	for _, o := range values {
		k := indexKey{slot: slot, kind: o.kind}
		switch o.kind {
		case kindString:
			k.str = o.str
		case kindBool:
			k.b = o.b
		default:
			if !o.num.exact {
				return nil
			}
			k.num = o.num.key()
		}
		keys = append(keys, k)
	}
	return keys
}

// file adds the rule at position i under key k.
func (f *fieldIndex) file(k indexKey, i int) {
	switch k.kind {
	case kindString:
		if f.strs == nil {
			f.strs = map[string][]int{}
		}
		f.strs[k.str] = append(f.strs[k.str], i)
	case kindBool:
		f.bools[boolIndex(k.b)] = append(f.bools[boolIndex(k.b)], i)
	default:
		if f.nums == nil {
			f.nums = map[numKey][]int{}
		}
		f.nums[k.num] = append(f.nums[k.num], i)
	}
}

// candidates appends to matched the indexed rules that hold for the event:
// for each indexed field, those filed under each of the event's candidate
// values of the field, as "==" sees them.
func (ix *ruleIndex) candidates(s *Set, st *evalState, eventType string, matched []int) []int {
	for _, f := range ix.fields {
		if f.slot < 0 {
			matched = s.testOnce(st, eventType, f.strs[eventType], matched)
			continue
		}
		for i := st.head[f.slot]; i >= 0; i = st.vals[i].next {
			matched = s.testOnce(st, eventType, f.bucket(&st.vals[i]), matched)
		}
	}
	return matched
}

// bucket returns the rules filed under v's value.
func (f *fieldIndex) bucket(v *value) []int {
	switch v.kind {
	case kindString:
		return f.strs[string(v.str)]
	case kindBool:
		return f.bools[boolIndex(v.b)]
	case kindNumber:
		if v.num.exact {
			return f.nums[v.num.key()]
		}
	}
	return nil
}
