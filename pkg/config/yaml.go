package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/scanner"
	"github.com/goccy/go-yaml/token"
)

// Bounds of a configuration file, checked before the YAML parser sees it.
const (
	// MaxFileBytes bounds the size of a configuration file, and of a sink's
	// settings or a rule read from a file.
	MaxFileBytes = 1 << 20
	// MaxNesting bounds how deeply a file nests mappings and lists. A
	// rule's condition nests at most 16 levels, two YAML levels each when
	// written as blocks, and the file adds a few.
	MaxNesting = 100
	// maxExpanded bounds the JSON a file expands to through aliases
	// (*name), which may repeat an anchored value many times over.
	maxExpanded = 4 * MaxFileBytes
)

// ToJSON reads a YAML document (JSON is YAML too) and returns it as JSON,
// for the decoders of this package. Numbers keep the digits they were
// written with, whatever their size, so that a rule compares with exactly
// the value written; 1e3 is a number, not the string "1e3". A number
// beyond a 64-bit float's range, .nan and .inf are refused, naming the
// place, and so are keys given twice, merge keys (<<) and more than one
// document. Errors are *Error; a syntax error or a key given twice is
// named by its line and column, never by the file's text.
//
// The work is bounded before the parser runs: the file's size, then its
// nesting (see checkNesting), since the parser takes time and memory
// quadratic in the depth.
func ToJSON(b []byte) ([]byte, error) {
	if len(b) > MaxFileBytes {
		return nil, errorAt("file", "is %d bytes, more than the %d a file may hold", len(b), MaxFileBytes)
	}
	if err := checkNesting(string(b)); err != nil {
		return nil, err
	}
	// A key given twice is reported by jsonWriter.mapping, by its path.
	file, err := parser.ParseBytes(b, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(err)
	}
	body, err := onlyDocument(file)
	if err != nil {
		return nil, err
	}
	w := jsonWriter{anchors: map[string]ast.Node{}}
	if err := w.value(body, ""); err != nil {
		return nil, err
	}
	return w.buf.Bytes(), nil
}

// syntaxError reports a YAML syntax error by its line, column and problem
// alone. The library's own message quotes the lines around the mistake,
// and a configuration file's lines hold webhook URLs with tokens, signing
// secrets and other credentials, while this error goes to logs, to
// zenithctl's output and into the admin API's answers.
func syntaxError(err error) *Error {
	var yamlErr yaml.Error
	if !errors.As(err, &yamlErr) || yamlErr.GetToken() == nil {
		return errorAt("file", "is not valid YAML")
	}
	pos := yamlErr.GetToken().Position
	return &Error{Line: pos.Line, Column: pos.Column, Problem: withoutQuotes(yamlErr.GetMessage())}
}

// quoted matches what the YAML library's messages quote, as Go quotes: a
// character in single quotes ('@', ']'), or text in double quotes.
var quoted = regexp.MustCompile(`'(?:[^'\\]|\\.)+'|"(?:[^"\\]|\\.)*"`)

// withoutQuotes returns a message of the YAML library without the text it
// quotes from the file: a block scalar's header (`invalid header option:
// "..."`) may be a whole value. Only a single character that is neither a
// letter nor a digit, a piece of YAML's syntax such as ']' or '@', is kept,
// written as Go quotes it so that a tab reads '\t' and the message stays
// on one line.
func withoutQuotes(msg string) string {
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		r, size := utf8.DecodeRuneInString(q[1:])
		if q[0] == '\'' && size == len(q)-2 && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			return strconv.QuoteRune(r)
		}
		return ""
	})
	return strings.TrimRight(strings.Join(strings.Fields(msg), " "), ":")
}

// checkNesting refuses a document that may nest deeper than MaxNesting.
// It reads the tokens of the YAML library's own scanner, so it sees
// quotes, comments and block scalars exactly as the parser will, one chunk
// at a time, keeping none, and stops at the first token past the limit: a
// refusal costs about what reading MaxNesting tokens does.
func checkNesting(src string) error {
	var s scanner.Scanner
	s.Init(src)
	n := nesting{lines: lineCursor{src: src, line: 1}}
	for {
		// Like the parser's lexer, go on past a scanning error: the
		// parser reports it, after the tokens before it.
		tokens, err := s.Scan()
		if errors.Is(err, io.EOF) {
			return nil
		}
		for _, tk := range tokens {
			if n.add(tk) > MaxNesting {
				return errorAt("file", "nests deeper than %d levels at line %d", MaxNesting, tk.Position.Line)
			}
		}
	}
}

// nesting bounds the depth of the document from above, token by token.
// Flow collections ([...] and {...}) are counted exactly. A block level
// has its own column, deeper levels further right, and begins with a token
// at that column; so the columns of the tokens seen, less those a later
// line began left of, are at least as many as the open block levels.
type nesting struct {
	flow int
	// columns are the increasing columns of the block levels that may be
	// open.
	columns []int
	lines   lineCursor
}

// add takes the next token and returns the bound on the depth there.
func (n *nesting) add(tk *token.Token) int {
	if tk.Type == token.CommentType {
		return len(n.columns) + n.flow
	}
	if n.flow == 0 {
		n.block(tk.Position.Line, tk.Position.Column)
	}
	switch tk.Type {
	case token.SequenceStartType, token.MappingStartType:
		n.flow++
	case token.SequenceEndType, token.MappingEndType:
		n.flow = max(0, n.flow-1)
	}
	return len(n.columns) + n.flow
}

// block accounts for a token outside flow collections at line and column.
// Only a token that begins its line closes the levels right of it: one
// that follows the last line of a multi-line scalar does not.
func (n *nesting) block(line, column int) {
	if n.lines.beginsLine(line, column) {
		for len(n.columns) > 0 && n.columns[len(n.columns)-1] > column {
			n.columns = n.columns[:len(n.columns)-1]
		}
	}
	if len(n.columns) == 0 || n.columns[len(n.columns)-1] < column {
		n.columns = append(n.columns, column)
	}
}

// lineCursor walks the lines of a source forward, for tokens that come in
// line order.
type lineCursor struct {
	src string
	// start is the offset of line line in src.
	start int
	line  int
	// checked is the last line asked about.
	checked int
}

// beginsLine reports whether only blanks come before column (counted in
// characters from 1) on line, the first time line is asked about; any
// later token on that line follows another.
func (c *lineCursor) beginsLine(line, column int) bool {
	if line == c.checked {
		return false
	}
	c.checked = line
	for c.line < line {
		next := strings.IndexAny(c.src[c.start:], "\r\n")
		if next < 0 {
			return false
		}
		c.start += next + 1
		if c.src[c.start-1] == '\r' && c.start < len(c.src) && c.src[c.start] == '\n' {
			c.start++
		}
		c.line++
	}
	rest := c.src[c.start:]
	for i := 1; i < column; i++ {
		r, size := utf8.DecodeRuneInString(rest)
		if r != ' ' && r != '\t' {
			return false
		}
		rest = rest[size:]
	}
	return true
}

// onlyDocument returns the body of a file's one document; none is null.
func onlyDocument(file *ast.File) (ast.Node, error) {
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, errorAt("file", "holds more than one YAML document (---): put everything in one")
		}
		body = doc.Body
	}
	return body, nil
}

// jsonNumber is a number as JSON writes it.
var jsonNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// jsonWriter writes a YAML tree as JSON.
type jsonWriter struct {
	buf     bytes.Buffer
	anchors map[string]ast.Node
}

// value writes node, found at path.
func (w *jsonWriter) value(node ast.Node, path string) error {
	switch n := node.(type) {
	case nil, *ast.NullNode, *ast.CommentGroupNode, *ast.CommentNode:
		w.buf.WriteString("null")
	case *ast.BoolNode:
		w.buf.WriteString(strconv.FormatBool(n.Value))
	case *ast.IntegerNode:
		fmt.Fprint(&w.buf, n.Value)
	case *ast.FloatNode:
		return w.float(n, path)
	case *ast.InfinityNode, *ast.NanNode:
		return errorAt(path, "%s is not a number a rule can compare with", node.GetToken().Value)
	case *ast.StringNode:
		return w.str(n, path)
	case *ast.LiteralNode:
		w.string(n.Value.Value)
	case *ast.MappingNode:
		return w.mapping(n.Values, path)
	case *ast.MappingValueNode:
		return w.mapping([]*ast.MappingValueNode{n}, path)
	case *ast.SequenceNode:
		return w.sequence(n, path)
	case *ast.AnchorNode:
		return w.anchor(n, path)
	case *ast.AliasNode:
		return w.alias(n, path)
	case *ast.TagNode:
		return w.tagged(n, path)
	default:
		return errorAt(path, "holds YAML this file does not take (%s)", node.Type())
	}
	return nil
}

// float writes a float as written when JSON can hold it so.
func (w *jsonWriter) float(n *ast.FloatNode, path string) error {
	text := strings.ReplaceAll(strings.TrimPrefix(n.Token.Value, "+"), "_", "")
	switch {
	case jsonNumber.MatchString(text):
		w.buf.WriteString(text)
	case math.IsInf(n.Value, 0) || math.IsNaN(n.Value):
		return errorAt(path, "%s is not a number a rule can compare with", n.Token.Value)
	default:
		w.buf.WriteString(strconv.FormatFloat(n.Value, 'g', -1, 64))
	}
	return nil
}

// str writes a string; a plain one that JSON would read as a number is
// that number, which must fit a 64-bit float.
func (w *jsonWriter) str(n *ast.StringNode, path string) error {
	if n.Token.Type != token.StringType || !jsonNumber.MatchString(n.Value) {
		w.string(n.Value)
		return nil
	}
	if f, err := strconv.ParseFloat(n.Value, 64); err != nil && math.IsInf(f, 0) {
		return errorAt(path, "%s is out of range: a number must be within ±1.8e308 (a 64-bit float)", n.Value)
	}
	w.buf.WriteString(n.Value)
	return nil
}

func (w *jsonWriter) string(s string) {
	b, _ := json.Marshal(s)
	w.buf.Write(b)
}

func (w *jsonWriter) mapping(pairs []*ast.MappingValueNode, path string) error {
	w.buf.WriteByte('{')
	seen := make(map[string]*token.Token, len(pairs))
	for i, pair := range pairs {
		key, err := mappingKey(pair.Key, path)
		if err != nil {
			return err
		}
		at := join(path, pathKey(key))
		if first, ok := seen[key]; ok {
			return givenTwice(at, pair.Key.GetToken(), first)
		}
		seen[key] = pair.Key.GetToken()
		if i > 0 {
			w.buf.WriteByte(',')
		}
		w.string(key)
		w.buf.WriteByte(':')
		if err := w.value(pair.Value, at); err != nil {
			return err
		}
	}
	w.buf.WriteByte('}')
	return nil
}

// givenTwice reports the key at path, written at second after first: the
// place of each, never the values.
func givenTwice(path string, second, first *token.Token) *Error {
	err := errorAt(path, "is given twice")
	if second != nil && first != nil {
		err.Line, err.Column = second.Position.Line, second.Position.Column
		err.Problem += fmt.Sprintf(" (first at line %d, column %d)", first.Position.Line, first.Position.Column)
	}
	return err
}

// mappingKey returns the text of a mapping's key, which must be a scalar.
func mappingKey(key ast.MapKeyNode, path string) (string, error) {
	var node ast.Node = key
	if explicit, ok := key.(*ast.MappingKeyNode); ok {
		node = explicit.Value
	}
	switch n := node.(type) {
	case *ast.MergeKeyNode:
		return "", errorAt(join(path, "<<"), "merge keys are not supported: write the settings out")
	case *ast.StringNode:
		return n.Value, nil
	case ast.ScalarNode:
		if tk := n.GetToken(); tk != nil {
			return tk.Value, nil
		}
	}
	return "", errorAt(path, "has a key that is not a string")
}

func (w *jsonWriter) sequence(n *ast.SequenceNode, path string) error {
	w.buf.WriteByte('[')
	for i, item := range n.Values {
		if i > 0 {
			w.buf.WriteByte(',')
		}
		if err := w.value(item, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	w.buf.WriteByte(']')
	return nil
}

// anchor writes an anchored value and remembers it for aliases after it;
// an alias inside it cannot name it.
func (w *jsonWriter) anchor(n *ast.AnchorNode, path string) error {
	if err := w.value(n.Value, path); err != nil {
		return err
	}
	w.anchors[n.Name.GetToken().Value] = n.Value
	return nil
}

// alias writes the value its anchor holds, as long as the JSON stays
// within maxExpanded.
func (w *jsonWriter) alias(n *ast.AliasNode, path string) error {
	name := n.Value.GetToken().Value
	target, ok := w.anchors[name]
	if !ok {
		return errorAt(path, "*%s names no anchor (&%s) before it", pathKey(name), pathKey(name))
	}
	if w.buf.Len() > maxExpanded {
		return errorAt(path, "expands, through aliases, to more than %d bytes", maxExpanded)
	}
	return w.value(target, path)
}

// tagged writes a tagged value: !!str makes a scalar a string; other tags
// leave the value as it reads.
func (w *jsonWriter) tagged(n *ast.TagNode, path string) error {
	scalar, ok := n.Value.(ast.ScalarNode)
	if n.Start.Value != "!!str" || !ok || scalar.GetToken() == nil {
		return w.value(n.Value, path)
	}
	if s, ok := n.Value.(*ast.StringNode); ok {
		w.string(s.Value)
	} else {
		w.string(scalar.GetToken().Value)
	}
	return nil
}

// pathKey is a key as a path names it: as written, or quoted when it holds
// anything but letters, digits and the few marks names use, so that an
// error never carries a control character or a misleading dot.
func pathKey(key string) string {
	for _, r := range key {
		if !(r == '_' || r == '-' || r == '/' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return strconv.Quote(key)
		}
	}
	if key == "" {
		return `""`
	}
	return key
}
