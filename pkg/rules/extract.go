package rules

import (
	"errors"

	"github.com/zenith-hq/zenith/pkg/event"
)

// A plan is the set of field paths a Set's rules read, as a tree of
// segments. Extraction walks an event's JSON once along it: it descends
// only into the members the paths name, skips everything else without
// decoding it, and stops reading the event as soon as it has every
// top-level member it needs.
type plan struct {
	root  *pathNode
	nodes int
	// paths holds the path of each slot.
	paths []fieldPath
}

// A pathNode is one segment of one or more field paths.
type pathNode struct {
	id      int
	segment string
	// index is the segment as an array index, -1 when it is not one.
	index int
	// isNamed reports that the segment is not all digits: on an array, it
	// applies to each element that is an object.
	isNamed bool
	// slot receives the values read where a path ends at this node; -1
	// when none does.
	slot     int
	children []*pathNode
	// byKey finds children when there are many of them.
	byKey map[string]*pathNode
	// named and indexed are the children whose segment applies to each
	// element of an array, and those that index one.
	named    []*pathNode
	indexed  []*pathNode
	maxIndex int
}

// mapChildrenAbove is the number of children beyond which a node looks its
// children up in a map rather than comparing keys one by one.
const mapChildrenAbove = 8

func newPlan() *plan {
	p := &plan{}
	p.root = p.newNode("")
	return p
}

func (p *plan) newNode(segment string) *pathNode {
	n := &pathNode{id: p.nodes, segment: segment, index: arrayIndex(segment), isNamed: !isDigits(segment), slot: -1, maxIndex: -1}
	p.nodes++
	return n
}

// slot returns the slot that receives the values of path, adding the path
// to the plan when it is new.
func (p *plan) slot(path fieldPath) int {
	n := p.root
	for _, segment := range path {
		n = p.child(n, segment)
	}
	if n.slot < 0 {
		n.slot = len(p.paths)
		p.paths = append(p.paths, path)
	}
	return n.slot
}

// lookup returns the slot of a path the plan has; it never changes the
// plan, so a built Set may call it concurrently.
func (p *plan) lookup(path fieldPath) int {
	n := p.root
	for _, segment := range path {
		var next *pathNode
		for _, c := range n.children {
			if c.segment == segment {
				next = c
				break
			}
		}
		if next == nil {
			return -1
		}
		n = next
	}
	return n.slot
}

// child returns the child of n for segment, creating it when needed.
func (p *plan) child(n *pathNode, segment string) *pathNode {
	for _, c := range n.children {
		if c.segment == segment {
			return c
		}
	}
	c := p.newNode(segment)
	n.children = append(n.children, c)
	if c.isNamed {
		n.named = append(n.named, c)
	}
	if c.index >= 0 {
		n.indexed = append(n.indexed, c)
		n.maxIndex = max(n.maxIndex, c.index)
	}
	if len(n.children) > mapChildrenAbove {
		n.byKey = make(map[string]*pathNode, len(n.children))
		for _, c := range n.children {
			n.byKey[c.segment] = c
		}
	}
	return c
}

// kind is the JSON type of a value read from an event.
type kind uint8

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

// A value is one value read from an event for a slot.
type value struct {
	kind kind
	// elem reports that the value is an element of the array the path
	// ends on, rather than a value the path reached itself.
	elem bool
	b    bool
	num  number
	// str holds a string's contents, escapes decoded.
	str []byte
	// start and end delimit the value in the event's data.
	start, end int
	// next is the index of the slot's next value, -1 after the last.
	next int
}

// errNotObject and errMalformed are what extraction reports on data that
// is not a JSON object; it notices only the defects on its way.
var (
	errNotObject = errors.New("not a JSON object")
	errMalformed = errors.New("malformed JSON")
)

// evalState is what evaluating one event needs: the values extracted for
// each slot and scratch space for matching. A Set keeps a pool of them so
// that evaluation does not allocate once they have grown to fit.
type evalState struct {
	data []byte
	vals []value
	// head and tail index each slot's first and last value, -1 when the
	// slot has none.
	head, tail []int
	// seen marks, per plan node, the object instance in which the node's
	// member was read, so that the first occurrence of a repeated key wins.
	seen  []uint64
	epoch uint64
	// text holds decoded strings that had escapes.
	text []byte

	// hits marks, per rule, the evaluation in which the rule was already
	// tested, so that the index tests each candidate once.
	hits     []uint64
	hitEpoch uint64
	matched  []int
}

func newEvalState(p *plan, rules int) *evalState {
	return &evalState{
		head: make([]int, len(p.paths)),
		tail: make([]int, len(p.paths)),
		seen: make([]uint64, p.nodes),
		hits: make([]uint64, rules),
	}
}

// extract reads data along p, filling the slots.
func (st *evalState) extract(p *plan, data []byte) error {
	st.data = data
	st.vals = st.vals[:0]
	st.text = st.text[:0]
	for i := range st.head {
		st.head[i], st.tail[i] = -1, -1
	}

	pos := skipSpace(data, 0)
	if pos >= len(data) || data[pos] != '{' {
		return errNotObject
	}
	if st.object(p.root, pos, false, true) < 0 {
		return errMalformed
	}
	return nil
}

// release drops the references st holds to the event, so that a pooled
// state does not keep it alive.
func (st *evalState) release() {
	clear(st.vals)
	st.vals = st.vals[:0]
	st.data = nil
}

// object reads the object at pos for node n. With fanOut it is an element
// of an array and only n's named children apply. At the root it returns as
// soon as every child was read; elsewhere it skips the rest of the object
// then. It returns the position after what it read.
func (st *evalState) object(n *pathNode, pos int, fanOut, root bool) int {
	data := st.data
	want := len(n.children)
	if fanOut {
		want = len(n.named)
	}
	if want == 0 {
		if root {
			return pos + 1
		}
		return skipContainer(data, pos+1, 1)
	}

	st.epoch++
	instance := st.epoch
	found := 0
	pos = skipSpace(data, pos+1)
	if pos < len(data) && data[pos] == '}' {
		return pos + 1
	}
	for {
		if pos >= len(data) || data[pos] != '"' {
			return -1
		}
		keyEnd, escaped := skipString(data, pos+1)
		if keyEnd < 0 {
			return -1
		}
		key := data[pos+1 : keyEnd-1]
		pos = skipSpace(data, keyEnd)
		if pos >= len(data) || data[pos] != ':' {
			return -1
		}
		pos = skipSpace(data, pos+1)

		if c := st.child(n, key, escaped, fanOut); c != nil && st.seen[c.id] != instance {
			st.seen[c.id] = instance
			found++
			pos = st.value(c, pos)
		} else {
			pos = skipValue(data, pos)
		}
		if pos < 0 {
			return -1
		}
		if found == want {
			if root {
				return pos
			}
			return skipContainer(data, pos, 1)
		}

		var more bool
		if pos, more = afterItem(data, pos, '}'); !more {
			return pos
		}
	}
}

// afterItem moves past what follows an object member or an array element:
// a comma, when more follow, or the closing byte. next is -1 on anything
// else.
func afterItem(data []byte, pos int, closing byte) (next int, more bool) {
	pos = skipSpace(data, pos)
	if pos >= len(data) {
		return -1, false
	}
	switch data[pos] {
	case ',':
		return skipSpace(data, pos+1), true
	case closing:
		return pos + 1, false
	}
	return -1, false
}

// child returns the child of n that key, a raw member name, selects.
func (st *evalState) child(n *pathNode, key []byte, escaped, fanOut bool) *pathNode {
	if escaped {
		start := len(st.text)
		decoded, ok := event.AppendUnescaped(st.text, key)
		st.text = decoded[:start]
		if !ok {
			return nil
		}
		key = decoded[start:]
	}
	var c *pathNode
	if n.byKey != nil {
		c = n.byKey[string(key)]
	} else {
		for _, candidate := range n.children {
			if candidate.segment == string(key) {
				c = candidate
				break
			}
		}
	}
	if c == nil || (fanOut && !c.isNamed) {
		return nil
	}
	return c
}

// value reads the value at pos for node n: it records it when a path ends
// at n and descends into it for n's children.
func (st *evalState) value(n *pathNode, pos int) int {
	data := st.data
	if pos >= len(data) {
		return -1
	}
	switch data[pos] {
	case '{':
		at := st.add(n.slot, value{kind: kindObject, start: pos})
		end := skipContainer(data, pos+1, 1)
		if len(n.children) > 0 {
			end = st.object(n, pos, false, false)
		}
		st.setEnd(at, end)
		return end
	case '[':
		at := st.add(n.slot, value{kind: kindArray, start: pos})
		end := st.array(n, pos)
		st.setEnd(at, end)
		return end
	default:
		return st.scalar(n.slot, pos, false)
	}
}

// array reads the array at pos for node n: the elements n's index children
// select, each object element for n's named children, and each element
// when a path ends at n.
func (st *evalState) array(n *pathNode, pos int) int {
	data := st.data
	pos = skipSpace(data, pos+1)
	if pos < len(data) && data[pos] == ']' {
		return pos + 1
	}
	for i := 0; ; i++ {
		end := st.element(n, i, pos)
		if end < 0 {
			return -1
		}
		if i >= n.maxIndex && len(n.named) == 0 && n.slot < 0 {
			return skipContainer(data, end, 1)
		}

		var more bool
		if pos, more = afterItem(data, end, ']'); !more {
			return pos
		}
	}
}

// element reads element i of an array for node n.
func (st *evalState) element(n *pathNode, i, pos int) int {
	data := st.data
	if pos >= len(data) {
		return -1
	}
	end, read := 0, false
	for _, c := range n.indexed {
		if c.index == i {
			end, read = st.value(c, pos), true
		}
	}
	if len(n.named) > 0 && data[pos] == '{' {
		end, read = st.object(n, pos, true, false), true
	}
	if n.slot >= 0 && data[pos] != '{' && data[pos] != '[' {
		end, read = st.scalar(n.slot, pos, true), true
	}
	if !read {
		end = skipValue(data, pos)
	}
	return end
}

// scalar reads the string, number or literal at pos, recording it in slot
// unless slot is -1.
func (st *evalState) scalar(slot, pos int, elem bool) int {
	data := st.data
	if data[pos] == '"' {
		end, escaped := skipString(data, pos+1)
		if end < 0 || slot < 0 {
			return end
		}
		v := st.push(slot)
		v.kind, v.elem, v.start, v.end, v.str = kindString, elem, pos, end, data[pos+1:end-1]
		if escaped {
			start := len(st.text)
			var ok bool
			st.text, ok = event.AppendUnescaped(st.text, v.str)
			if !ok {
				return -1
			}
			v.str = st.text[start:len(st.text):len(st.text)]
		}
		return end
	}

	end := skipScalar(data, pos)
	if end < 0 || slot < 0 {
		return end
	}
	v := st.push(slot)
	v.elem, v.start, v.end = elem, pos, end
	switch lit := data[pos:end]; string(lit) {
	case "true", "false":
		v.kind, v.b = kindBool, lit[0] == 't'
	case "null":
		v.kind = kindNull
	default:
		v.kind = kindNumber
		if !v.num.parse(lit) {
			return -1
		}
	}
	return end
}

// add appends v to slot's values and returns its index; -1 and nothing
// added when slot is -1.
func (st *evalState) add(slot int, v value) int {
	if slot < 0 {
		return -1
	}
	p := st.push(slot)
	v.next = -1
	*p = v
	return st.tail[slot]
}

// push appends a zero value to slot's values and returns it to be filled
// in, before anything else is added.
func (st *evalState) push(slot int) *value {
	at := len(st.vals)
	st.vals = append(st.vals, value{})
	if st.tail[slot] < 0 {
		st.head[slot] = at
	} else {
		st.vals[st.tail[slot]].next = at
	}
	st.tail[slot] = at
	v := &st.vals[at]
	v.next = -1
	return v
}

// setEnd records where the object or array value at index at ends.
func (st *evalState) setEnd(at, end int) {
	if at >= 0 {
		st.vals[at].end = end
	}
}
