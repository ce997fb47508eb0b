package admin

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/trace"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
	"github.com/zenith-hq/zenith/pkg/store"
)

// Page sizes of the listing calls.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageSize checks a requested page size; 0 means the default.
func pageSize(requested int32) (int, error) {
	switch {
	case requested == 0:
		return defaultPageSize, nil
	case requested < 0 || requested > maxPageSize:
		return 0, invalid("page_size", "must be between 1 and %d", maxPageSize)
	}
	return int(requested), nil
}

// ListAudit pages through the audit log, newest first.
func (s *Server) ListAudit(ctx context.Context, req *connect.Request[zenithv1.ListAuditRequest]) (*connect.Response[zenithv1.ListAuditResponse], error) {
	msg := req.Msg
	size, err := pageSize(msg.GetPageSize())
	if err != nil {
		return nil, err
	}
	switch msg.GetStatus() {
	case "", store.StatusDelivered, store.StatusDeadLettered:
	default:
		return nil, invalid("status", "must be %s or %s", store.StatusDelivered, store.StatusDeadLettered)
	}
	// Trace ids are written in lower case; one copied from a tool that
	// shows them in upper case is the same id.
	traceID := strings.ToLower(msg.GetTraceId())
	if traceID != "" && !validTraceID(traceID) {
		return nil, invalid("trace_id", "must be 32 hex digits, as in a traceparent header")
	}
	after, err := decodeAuditToken(msg.GetPageToken())
	if err != nil {
		return nil, err
	}
	filter := store.AuditFilter{
		EventID: msg.GetEventId(), RuleName: msg.GetRule(), SinkName: msg.GetSink(), Status: msg.GetStatus(),
		TraceID: traceID,
	}
	if msg.GetSince() != nil {
		filter.Since = msg.GetSince().AsTime()
	}
	if msg.GetUntil() != nil {
		filter.Until = msg.GetUntil().AsTime()
	}

	// One row more than the page tells whether another page follows.
	rows, err := s.st.ListAudit(ctx, filter, after, size+1)
	if err != nil {
		return nil, err
	}
	resp := &zenithv1.ListAuditResponse{}
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		resp.NextPageToken = encodeAuditToken(store.AuditCursor{CreatedAt: last.CreatedAt, DispatchID: last.DispatchID})
	}
	for _, r := range rows {
		resp.Entries = append(resp.Entries, toAuditEntry(r))
	}
	return connect.NewResponse(resp), nil
}

// auditToken is what a page token of the audit listing holds.
type auditToken struct {
	CreatedAt  string `json:"t"`
	DispatchID string `json:"d"`
}

func encodeAuditToken(c store.AuditCursor) string {
	b, _ := json.Marshal(auditToken{CreatedAt: c.CreatedAt.Format(timeLayout), DispatchID: c.DispatchID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeAuditToken(token string) (*store.AuditCursor, error) {
	if token == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	var t auditToken
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.DispatchID == "" {
		return nil, invalid("page_token", "is not a token this listing returned")
	}
	createdAt, err := parseTime(t.CreatedAt)
	if err != nil {
		return nil, invalid("page_token", "is not a token this listing returned")
	}
	return &store.AuditCursor{CreatedAt: createdAt, DispatchID: t.DispatchID}, nil
}

func toAuditEntry(r store.AuditRecord) *zenithv1.AuditEntry {
	return &zenithv1.AuditEntry{
		DispatchId: r.DispatchID, EventId: r.EventID, Source: r.Source, EventType: r.EventType,
		Rule: r.RuleName, RuleVersion: r.RuleVersion, Sink: r.SinkName, SinkType: r.SinkType,
		Status: r.Status, Attempts: int32(r.Attempts), HttpStatus: int32(r.HTTPStatus),
		LatencyUs: r.Latency.Microseconds(), Error: r.Error,
		EventTime: timestamp(r.EventTime), MatchedAt: timestamp(r.MatchedAt), CreatedAt: timestamp(r.CreatedAt),
		UpdatedAt: timestamp(r.UpdatedAt), TraceId: r.TraceID,
	}
}

// validTraceID reports whether id is a W3C trace id as the audit log holds
// them: 32 lower-case hex digits, not all zero.
func validTraceID(id string) bool {
	tid, err := trace.TraceIDFromHex(id)
	return err == nil && tid.String() == id
}
