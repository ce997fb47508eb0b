package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

func auditCommand(g *globals) *cobra.Command {
	var req zenithv1.ListAuditRequest
	var since, until string
	var limit int32
	cmd := &cobra.Command{
		Use:   "audit [--event-id ID] [--trace-id ID] [--rule NAME] [--sink NAME] [--status STATUS] [--since T] [--until T]",
		Short: "List dispatch outcomes, newest first",
		Long: `Lists dispatch outcomes, newest first, a page at a time. --since and --until
take an RFC 3339 time or a duration back from now (such as 1h); --since
cannot be in the future. UPDATED is when a replay of a dead letter last
replaced the outcome, "-" while it is the first. The TRACE column is the id
of the dispatch's trace, the event's own from the producer's request to the
sink: look it up in the tracing backend. When more entries follow, the last
line gives the --page-token of the next page.`,
		Args: args(0, "no arguments"),
		RunE: runner(g, func(ctx context.Context, c adminClient, _ []string) (*connect.Response[zenithv1.ListAuditResponse], error) {
			var err error
			if req.Since, req.Until, err = parseRange(since, until); err != nil {
				return nil, err
			}
			if req.PageSize, err = pageSize(limit); err != nil {
				return nil, err
			}
			return c.ListAudit(ctx, connect.NewRequest(&req))
		}, func(p printer, msg *zenithv1.ListAuditResponse, _ []string) error {
			rows := make([][]string, len(msg.GetEntries()))
			for i, e := range msg.GetEntries() {
				rows[i] = []string{when(e.GetCreatedAt()), when(e.GetUpdatedAt()), e.GetEventId(), e.GetRule() + " v" + strconv.FormatInt(e.GetRuleVersion(), 10),
					e.GetSink(), e.GetStatus(), strconv.Itoa(int(e.GetAttempts())), strconv.Itoa(int(e.GetHttpStatus())),
					cmp.Or(e.GetTraceId(), "-"), e.GetError()}
			}
			if err := p.table([]string{"TIME", "UPDATED", "EVENT", "RULE", "SINK", "STATUS", "ATTEMPTS", "HTTP", "TRACE", "ERROR"}, rows); err != nil {
				return err
			}
			return nextPage(p, msg.GetNextPageToken())
		}),
	}
	f := cmd.Flags()
	f.StringVar(&req.EventId, "event-id", "", "only this event's dispatches")
	f.StringVar(&req.TraceId, "trace-id", "", "only this trace's dispatches (32 hex digits)")
	f.StringVar(&req.Rule, "rule", "", "only this rule's")
	f.StringVar(&req.Sink, "sink", "", "only this sink's")
	f.StringVar(&req.Status, "status", "", "only delivered or dead_lettered")
	f.StringVar(&since, "since", "", "only entries at or after this time")
	f.StringVar(&until, "until", "", "only entries before this time")
	f.Int32Var(&limit, "limit", 50, "entries per page, at most 1000")
	f.StringVar(&req.PageToken, "page-token", "", "the page to show, from the previous page")
	return cmd
}

// maxPageSize is the most entries the admin API answers in one page.
const maxPageSize = 1000

// pageSize checks --limit, so that a wrong one is named as the flag given
// rather than as the API's page_size.
func pageSize(limit int32) (int32, error) {
	if limit < 1 || limit > maxPageSize {
		return 0, usagef("--limit: must be between 1 and %d, not %d", maxPageSize, limit)
	}
	return limit, nil
}

// parseWhen reads an RFC 3339 time or a duration back from now.
func parseWhen(flag, value string) (*timestamppb.Timestamp, error) {
	if value == "" {
		return nil, nil
	}
	if d, err := time.ParseDuration(value); err == nil {
		return timestamppb.New(time.Now().Add(-d)), nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return nil, usagef("--%s: want an RFC 3339 time or a duration such as 1h, not %q", flag, value)
	}
	return timestamppb.New(t), nil
}

// parseSince reads --since, which must not be in the future: nothing was
// recorded there, and a negative duration such as -1h is a slip.
func parseSince(value string) (*timestamppb.Timestamp, error) {
	since, err := parseWhen("since", value)
	if err != nil || since == nil {
		return since, err
	}
	if since.AsTime().After(time.Now()) {
		return nil, usagef("--since %s is in the future: give a time past, or a duration back from now such as 1h", value)
	}
	return since, nil
}

// parseRange reads --since and --until, which must not select an empty
// stretch of time.
func parseRange(since, until string) (*timestamppb.Timestamp, *timestamppb.Timestamp, error) {
	from, err := parseSince(since)
	if err != nil {
		return nil, nil, err
	}
	to, err := parseWhen("until", until)
	if err != nil {
		return nil, nil, err
	}
	if from != nil && to != nil && !from.AsTime().Before(to.AsTime()) {
		return nil, nil, usagef("--since %s is not before --until %s: nothing lies between them", since, until)
	}
	return from, to, nil
}

func nextPage(p printer, token string) error {
	if token == "" {
		return nil
	}
	_, err := fmt.Fprintf(p.out, "more: --page-token %s\n", token)
	return err
}
