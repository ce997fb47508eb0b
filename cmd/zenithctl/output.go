package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/zenith-hq/zenith/pkg/gen/zenith/v1/zenithv1connect"
)

// printer writes a command's answer: msg as JSON with -o json, or the table
// rows gives otherwise.
type printer struct {
	out    io.Writer
	format string
}

func (g *globals) printer(out io.Writer) printer {
	return printer{out: out, format: g.output}
}

// print writes msg as JSON, or as a table of header and rows.
func (p printer) print(msg proto.Message, header []string, rows [][]string) error {
	if p.format == "json" {
		return p.json(msg)
	}
	return p.table(header, rows)
}

// json writes msg as protojson does, with empty lists, zero numbers and
// empty strings written out, so that a script finds every field. Unset
// messages (an unset time) are left out.
func (p printer) json(msg proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  ", EmitDefaultValues: true}.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(p.out, string(b))
	return err
}

func (p printer) table(header []string, rows [][]string) error {
	w := tabwriter.NewWriter(p.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, row := range rows {
		cells := make([]string, len(row))
		for i, cell := range row {
			cells[i] = printable(cell)
		}
		fmt.Fprintln(w, strings.Join(cells, "\t"))
	}
	return w.Flush()
}

// printable escapes the control characters of text, such as a terminal's
// escape sequences in an event id that a NATS publisher made up, so that
// what zenithctl prints cannot drive the terminal or break a table's line.
func printable(text string) string {
	if !strings.ContainsFunc(text, unicode.IsControl) {
		return text
	}
	var b strings.Builder
	for _, r := range text {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// when shows a time for people, or "-" when unset.
func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().Local().Format(time.DateTime)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// runner makes a command's RunE: it calls the admin API with call and
// prints the answer, as JSON with -o json (the call's answer as it is) and
// with show otherwise.
func runner[Res any](
	g *globals,
	call func(ctx context.Context, c zenithv1connect.AdminServiceClient, args []string) (*connect.Response[Res], error),
	show func(p printer, msg *Res, args []string) error,
) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := g.client()
		if err != nil {
			return err
		}
		resp, err := call(cmd.Context(), c, args)
		if err != nil {
			return err
		}
		p := g.printer(cmd.OutOrStdout())
		if p.format == "json" {
			return p.json(any(resp.Msg).(proto.Message))
		}
		return show(p, resp.Msg, args)
	}
}

// done shows an answer as one line of text naming the command's first
// argument, such as "source shop deleted".
func done[Res any](format string) func(printer, *Res, []string) error {
	return func(p printer, _ *Res, args []string) error {
		_, err := fmt.Fprintf(p.out, format+"\n", args[0])
		return err
	}
}

// compactJSON writes v as one line of JSON, leaving <, > and & as they are
// for people to read.
func compactJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "?"
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// compactRawJSON writes JSON text as one line, numbers exactly as they are.
func compactRawJSON(text string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(text)); err != nil {
		return text
	}
	return b.String()
}
