package main

import (
	"context"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

// payloadSummaryRunes is how much of a dead-lettered event's payload the
// table shows; -o json shows all of it.
const payloadSummaryRunes = 40

// eventDeadLetterFilter holds the filter flags of the dlq events commands.
type eventDeadLetterFilter struct {
	filter       zenithv1.EventDeadLetterFilter
	since, until string
}

func (f *eventDeadLetterFilter) register(flags *pflag.FlagSet) {
	flags.StringVar(&f.filter.Source, "source", "", "only this source's events")
	flags.StringVar(&f.filter.EventId, "event-id", "", "only the events with this id")
	flags.StringVar(&f.filter.EventType, "type", "", "only the events of this type")
	flags.StringVar(&f.filter.Reason, "reason", "", "only those dead-lettered for this reason, such as invalid_id or actions_not_stored")
	flags.StringVar(&f.since, "since", "", "only those dead-lettered at or after this time (RFC 3339, or a duration back from now)")
	flags.StringVar(&f.until, "until", "", "only those dead-lettered before this time")
	flags.BoolVar(&f.filter.IncludeReplayed, "include-replayed", false, "also those replayed, or dead-lettered again since")
}

// empty reports whether no filter flag was given.
func (f *eventDeadLetterFilter) empty() bool {
	return f.filter.Source == "" && f.filter.EventId == "" && f.filter.EventType == "" && f.filter.Reason == "" &&
		f.since == "" && f.until == ""
}

func (f *eventDeadLetterFilter) build() (*zenithv1.EventDeadLetterFilter, error) {
	var err error
	if f.filter.Since, f.filter.Until, err = parseRange(f.since, f.until); err != nil {
		return nil, err
	}
	return &f.filter, nil
}

func eventDeadLettersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List dead-lettered events, replay them into the rule-engines or delete them",
		Long: `Dead-lettered events are those the rule-engines could not read (malformed
events published straight to NATS) or gave up on (poison events: their
actions could not be stored, their evaluation panicked, or they never
settled). They stay in the dead-letter stream until it ages them out.`,
	}
	cmd.AddCommand(listEventDeadLettersCommand(g), replayEventDeadLettersCommand(g), deleteEventDeadLettersCommand(g))
	return cmd
}

func listEventDeadLettersCommand(g *globals) *cobra.Command {
	var filter eventDeadLetterFilter
	var limit int32
	var token string
	cmd := &cobra.Command{
		Use: "list", Short: "List the dead-lettered events not yet replayed, oldest first", Args: args(0, "no arguments"),
		Long: `Lists the dead-lettered events not yet replayed, oldest first, a page at a
time. The table shows the start of each payload; -o json shows all of it,
with the reason's text and, for a malformed event, why it cannot be
replayed.`,
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListEventDeadLettersResponse], error) {
			f, err := filter.build()
			if err != nil {
				return nil, err
			}
			size, err := pageSize(limit)
			if err != nil {
				return nil, err
			}
			return c.ListEventDeadLetters(ctx, connect.NewRequest(&zenithv1.ListEventDeadLettersRequest{Filter: f, PageSize: size, PageToken: token}))
		}, func(p printer, msg *zenithv1.ListEventDeadLettersResponse, _ []string) error {
			rows := make([][]string, len(msg.GetDeadLetters()))
			for i, d := range msg.GetDeadLetters() {
				rows[i] = []string{strconv.FormatUint(d.GetSequence(), 10), when(d.GetDeadLetteredAt()), d.GetSource(),
					d.GetEventId(), d.GetEventType(), d.GetReason(), d.GetStatus(), strconv.Itoa(int(d.GetDeliveries())),
					payloadSummary(d)}
			}
			if err := p.table([]string{"SEQ", "TIME", "SOURCE", "EVENT", "TYPE", "REASON", "STATUS", "DELIVERIES", "PAYLOAD"}, rows); err != nil {
				return err
			}
			return nextPage(p, msg.GetNextPageToken())
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().Int32Var(&limit, "limit", 50, "dead-lettered events per page, at most 1000")
	cmd.Flags().StringVar(&token, "page-token", "", "the page to show, from the previous page")
	return cmd
}

// payloadSummary is the start of a dead-lettered event's payload, on one
// line: control characters are escaped.
func payloadSummary(d *zenithv1.EventDeadLetter) string {
	text := d.GetPayloadText()
	if d.GetPayload() != nil {
		text = compactJSON(d.GetPayload().AsInterface())
	}
	if runes := []rune(text); len(runes) > payloadSummaryRunes {
		text = string(runes[:payloadSummaryRunes-3]) + "..."
	}
	return printable(text)
}

func replayEventDeadLettersCommand(g *globals) *cobra.Command {
	var filter eventDeadLetterFilter
	var all bool
	cmd := &cobra.Command{
		Use:   "replay [SEQ...] [filters] [--all]",
		Short: "Replay dead-lettered events, by sequence or by filter, into the rule-engines",
		Long: `Replays dead-lettered events: those named by sequence, or every one the
filters select (without filters, --all is needed). Each is published again,
as it arrived, on the subject it came on, and the rule-engines evaluate it
again; an action of it already in the audit log is not delivered again.
Replaying a dead letter twice publishes it once. A malformed event cannot be
replayed: naming one by sequence fails, and a filter skips it.`,
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.ReplayEventDeadLettersResponse], error) {
			seqs, err := chosenSequences(a, filter.empty(), all, "choose the dead-lettered events to replay: sequences, filters (--source, --event-id, --type, --reason, --since, --until), or --all for every one")
			if err != nil {
				return nil, err
			}
			req := &zenithv1.ReplayEventDeadLettersRequest{All: all, Sequences: seqs}
			if req.Filter, err = filter.build(); err != nil {
				return nil, err
			}
			return c.ReplayEventDeadLetters(ctx, connect.NewRequest(req))
		}, func(p printer, msg *zenithv1.ReplayEventDeadLettersResponse, _ []string) error {
			lines := make([]replayLine, len(msg.GetOutcomes()))
			for i, o := range msg.GetOutcomes() {
				lines[i] = replayLine{o.GetSequence(), "event " + o.GetSource() + "/" + o.GetEventId(), o.GetReplayed(), o.GetSkipped()}
			}
			return printReplays(p, lines)
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().BoolVar(&all, "all", false, "with no filter, replay every dead-lettered event")
	return cmd
}

func deleteEventDeadLettersCommand(g *globals) *cobra.Command {
	var filter eventDeadLetterFilter
	var all bool
	cmd := &cobra.Command{
		Use:   "delete [SEQ...] [filters] [--all]",
		Short: "Delete dead-lettered events for good, by sequence or by filter",
		Long: `Deletes dead-lettered events from the dead-letter stream for good, malformed
ones included: those named by sequence, or every one the filters select
(without filters, --all is needed).`,
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.DeleteEventDeadLettersResponse], error) {
			seqs, err := chosenSequences(a, filter.empty(), all, "choose the dead-lettered events to delete: sequences, filters (--source, --event-id, --type, --reason, --since, --until), or --all for every one")
			if err != nil {
				return nil, err
			}
			req := &zenithv1.DeleteEventDeadLettersRequest{All: all, Sequences: seqs}
			if req.Filter, err = filter.build(); err != nil {
				return nil, err
			}
			return c.DeleteEventDeadLetters(ctx, connect.NewRequest(req))
		}, func(p printer, msg *zenithv1.DeleteEventDeadLettersResponse, _ []string) error {
			return printDeleted(p, msg.GetDeleted())
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().BoolVar(&all, "all", false, "with no filter, delete every dead-lettered event")
	return cmd
}
