package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

// deadLetterFilter holds the filter flags of the dlq commands.
type deadLetterFilter struct {
	filter       zenithv1.DeadLetterFilter
	since, until string
}

func (f *deadLetterFilter) register(flags *pflag.FlagSet) {
	flags.StringVar(&f.filter.EventId, "event-id", "", "only this event's")
	flags.StringVar(&f.filter.Rule, "rule", "", "only this rule's")
	flags.StringVar(&f.filter.Sink, "sink", "", "only this sink's")
	flags.StringVar(&f.since, "since", "", "only those dead-lettered at or after this time (RFC 3339, or a duration back from now)")
	flags.StringVar(&f.until, "until", "", "only those dead-lettered before this time")
	flags.BoolVar(&f.filter.IncludeResolved, "include-resolved", false, "also those whose dispatch was since delivered")
}

// empty reports whether no filter flag was given.
func (f *deadLetterFilter) empty() bool {
	return f.filter.EventId == "" && f.filter.Rule == "" && f.filter.Sink == "" && f.since == "" && f.until == ""
}

func (f *deadLetterFilter) build() (*zenithv1.DeadLetterFilter, error) {
	var err error
	if f.filter.Since, f.filter.Until, err = parseRange(f.since, f.until); err != nil {
		return nil, err
	}
	return &f.filter, nil
}

func deadLettersCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List dead-lettered actions and events, replay or delete them",
		Long: `The dead-letter stream holds actions no sink took (dlq list, dlq replay,
dlq delete) and events the rule-engines could not read or evaluate (dlq
events list, dlq events replay, dlq events delete).`,
	}

	var listFilter deadLetterFilter
	var limit int32
	var token string
	list := &cobra.Command{
		Use: "list", Short: "List the dead-lettered actions not yet delivered, oldest first", Args: args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListDeadLettersResponse], error) {
			filter, err := listFilter.build()
			if err != nil {
				return nil, err
			}
			size, err := pageSize(limit)
			if err != nil {
				return nil, err
			}
			return c.ListDeadLetters(ctx, connect.NewRequest(&zenithv1.ListDeadLettersRequest{Filter: filter, PageSize: size, PageToken: token}))
		}, func(p printer, msg *zenithv1.ListDeadLettersResponse, _ []string) error {
			rows := make([][]string, len(msg.GetDeadLetters()))
			for i, d := range msg.GetDeadLetters() {
				rows[i] = []string{strconv.FormatUint(d.GetSequence(), 10), when(d.GetDeadLetteredAt()), d.GetEventId(),
					d.GetRule(), d.GetSink(), cmp.Or(d.GetAuditStatus(), "-"), strconv.Itoa(int(d.GetAttempts())), d.GetReason()}
			}
			if err := p.table([]string{"SEQ", "TIME", "EVENT", "RULE", "SINK", "STATUS", "ATTEMPTS", "REASON"}, rows); err != nil {
				return err
			}
			return nextPage(p, msg.GetNextPageToken())
		}),
	}
	listFilter.register(list.Flags())
	list.Flags().Int32Var(&limit, "limit", 50, "dead letters per page, at most 1000")
	list.Flags().StringVar(&token, "page-token", "", "the page to show, from the previous page")

	var replayFilter deadLetterFilter
	var all bool
	replay := &cobra.Command{
		Use:   "replay [SEQ...] [filters] [--all]",
		Short: "Replay dead-lettered actions, by sequence or by filter, into the dispatchers",
		Long: `Replays dead letters: those named by sequence, or every one the filters
select (without filters, --all is needed). Each goes back to the dispatchers,
which deliver it again and record the new outcome in its audit row; a dead
letter whose dispatch was since delivered is skipped.`,
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.ReplayDeadLettersResponse], error) {
			seqs, err := chosenSequences(a, replayFilter.empty(), all, "choose the dead letters to replay: sequences, filters (--event-id, --rule, --sink, --since, --until), or --all for every one")
			if err != nil {
				return nil, err
			}
			req := &zenithv1.ReplayDeadLettersRequest{All: all, Sequences: seqs}
			if req.Filter, err = replayFilter.build(); err != nil {
				return nil, err
			}
			return c.ReplayDeadLetters(ctx, connect.NewRequest(req))
		}, func(p printer, msg *zenithv1.ReplayDeadLettersResponse, _ []string) error {
			lines := make([]replayLine, len(msg.GetOutcomes()))
			for i, o := range msg.GetOutcomes() {
				lines[i] = replayLine{o.GetSequence(), "dispatch " + o.GetDispatchId(), o.GetReplayed(), o.GetSkipped()}
			}
			return printReplays(p, lines)
		}),
	}
	replayFilter.register(replay.Flags())
	replay.Flags().BoolVar(&all, "all", false, "with no filter, replay every dead letter")
	cmd.AddCommand(list, replay, deleteDeadLettersCommand(g), eventDeadLettersCommand(g))
	return cmd
}

func deleteDeadLettersCommand(g *globals) *cobra.Command {
	var filter deadLetterFilter
	var all bool
	cmd := &cobra.Command{
		Use:   "delete [SEQ...] [filters] [--all]",
		Short: "Delete dead-lettered actions for good, by sequence or by filter",
		Long: `Deletes dead letters from the dead-letter stream for good: those named by
sequence, or every one the filters select (without filters, --all is
needed). Use it for dead letters dealt with some other way, or whose sink
is gone; their audit rows keep their outcome.`,
		RunE: runner(g, func(ctx context.Context, c adminClient, a []string) (*connect.Response[zenithv1.DeleteDeadLettersResponse], error) {
			seqs, err := chosenSequences(a, filter.empty(), all, "choose the dead letters to delete: sequences, filters (--event-id, --rule, --sink, --since, --until), or --all for every one")
			if err != nil {
				return nil, err
			}
			req := &zenithv1.DeleteDeadLettersRequest{All: all, Sequences: seqs}
			if req.Filter, err = filter.build(); err != nil {
				return nil, err
			}
			return c.DeleteDeadLetters(ctx, connect.NewRequest(req))
		}, func(p printer, msg *zenithv1.DeleteDeadLettersResponse, _ []string) error {
			return printDeleted(p, msg.GetDeleted())
		}),
	}
	filter.register(cmd.Flags())
	cmd.Flags().BoolVar(&all, "all", false, "with no filter, delete every dead letter")
	return cmd
}

// chosenSequences reads the sequences args name for a replay or a deletion,
// refusing them mixed with filters or --all, which the server would settle
// by ignoring the filters, and refusing a command that names nothing, with
// none as the message.
func chosenSequences(args []string, filterEmpty, all bool, none string) ([]uint64, error) {
	seqs, err := sequences(args)
	switch {
	case err != nil:
		return nil, err
	case len(seqs) > 0 && (!filterEmpty || all):
		return nil, usagef("name dead letters by sequence or by filters (or --all), not both")
	case len(seqs) == 0 && filterEmpty && !all:
		return nil, usagef("%s", none)
	}
	return seqs, nil
}

// printDeleted writes one line per dead letter deleted, then the count.
func printDeleted(p printer, seqs []uint64) error {
	for _, seq := range seqs {
		fmt.Fprintf(p.out, "deleted %d\n", seq)
	}
	_, err := fmt.Fprintf(p.out, "%d deleted\n", len(seqs))
	return err
}

// sequences reads the dead-letter sequences a replay command names.
func sequences(args []string) ([]uint64, error) {
	var seqs []uint64
	for _, arg := range args {
		seq, err := strconv.ParseUint(arg, 10, 64)
		if err != nil {
			return nil, usagef("%q is not a dead letter's sequence", arg)
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

// replayLine is what a replay did with one dead letter, for people.
type replayLine struct {
	sequence uint64
	// item names what the dead letter holds, such as "dispatch d-1".
	item     string
	replayed bool
	// skipped says why it was not replayed.
	skipped string
}

// printReplays writes one line per dead letter of a replay, then the count
// of each outcome.
func printReplays(p printer, lines []replayLine) error {
	replayed := 0
	for _, l := range lines {
		if l.replayed {
			replayed++
			fmt.Fprintf(p.out, "replayed %d (%s)\n", l.sequence, printable(l.item))
		} else {
			fmt.Fprintf(p.out, "skipped %d (%s): %s\n", l.sequence, printable(l.item), printable(l.skipped))
		}
	}
	_, err := fmt.Fprintf(p.out, "%d replayed, %d skipped\n", replayed, len(lines)-replayed)
	return err
}
