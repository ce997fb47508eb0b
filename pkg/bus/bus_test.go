package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestSubjects(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{bus.EventSubject("shop", "purchase.completed"), "zenith.events.shop.purchase.completed"},
		{bus.EventSubject("ci", "build"), "zenith.events.ci.build"},
		{bus.ActionSubject("webhook"), "zenith.actions.webhook"},
		{bus.DeadLetterSubject("webhook"), "zenith.dlq.webhook"},
		{bus.EventDeadLetterSubject("invalid_id"), "zenith.dlq.events.invalid_id"},
		{bus.ActionDeadLetters, "zenith.dlq.*"},
		{bus.EventDeadLetters, "zenith.dlq.events.>"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("subject = %q, want %q", tt.got, tt.want)
		}
	}
}

func TestSourceFromEventSubject(t *testing.T) {
	tests := []struct {
		subject, source, eventType string
		ok                         bool
	}{
		{bus.EventSubject("shop", "purchase.completed"), "shop", "purchase.completed", true},
		{"zenith.events.ci.build", "ci", "build", true},
		{"zenith.events.shop", "shop", "", false},
		{"zenith.actions.webhook", "", "", false},
		{"zenith.eventsx.shop.a", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		source, eventType, ok := bus.SourceFromEventSubject(tt.subject)
		if source != tt.source || eventType != tt.eventType || ok != tt.ok {
			t.Errorf("SourceFromEventSubject(%q) = %q, %q, %v; want %q, %q, %v",
				tt.subject, source, eventType, ok, tt.source, tt.eventType, tt.ok)
		}
	}
}

func connect(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(testenv.NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func TestEnsureStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := connect(t)

	for i := range 2 {
		if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
			t.Fatalf("EnsureStreams, call %d: %v", i+1, err)
		}
	}

	tests := []struct {
		stream    string
		subjects  []string
		retention jetstream.RetentionPolicy
	}{
		{bus.EventsStream, []string{"zenith.events.>"}, jetstream.WorkQueuePolicy},
		{bus.ActionsStream, []string{"zenith.actions.>"}, jetstream.WorkQueuePolicy},
		{bus.DeadLetterStream, []string{"zenith.dlq.>"}, jetstream.LimitsPolicy},
	}
	for _, tt := range tests {
		s, err := js.Stream(ctx, tt.stream)
		if err != nil {
			t.Fatalf("stream %s: %v", tt.stream, err)
		}
		cfg := s.CachedInfo().Config
		if diff := cmp.Diff(tt.subjects, cfg.Subjects); diff != "" {
			t.Errorf("%s subjects (-want +got):\n%s", tt.stream, diff)
		}
		if cfg.Retention != tt.retention || cfg.Storage != jetstream.FileStorage || cfg.Discard != jetstream.DiscardNew {
			t.Errorf("%s retention %v, storage %v, discard %v; want %v, file, new",
				tt.stream, cfg.Retention, cfg.Storage, cfg.Discard, tt.retention)
		}
		if cfg.MaxAge != 7*24*time.Hour || cfg.MaxBytes != 1<<30 || cfg.Replicas != 1 || cfg.Duplicates != 10*time.Minute {
			t.Errorf("%s limits: max age %v, max bytes %d, replicas %d, duplicates %v; want the defaults",
				tt.stream, cfg.MaxAge, cfg.MaxBytes, cfg.Replicas, cfg.Duplicates)
		}
	}

	// A later call with other options updates the streams in place.
	opts := bus.StreamOptions{MaxAge: time.Hour, MaxBytes: 64 << 20, DuplicateWindow: time.Minute}
	if err := bus.EnsureStreams(ctx, js, opts); err != nil {
		t.Fatalf("EnsureStreams with new options: %v", err)
	}
	for _, tt := range tests {
		s, err := js.Stream(ctx, tt.stream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		if cfg.MaxAge != time.Hour || cfg.MaxBytes != 64<<20 || cfg.Duplicates != time.Minute {
			t.Errorf("%s after update: max age %v, max bytes %d, duplicates %v; want 1h, 64 MiB, 1m",
				tt.stream, cfg.MaxAge, cfg.MaxBytes, cfg.Duplicates)
		}
	}

	names := map[string]bool{}
	for name := range js.StreamNames(ctx).Name() {
		names[name] = true
	}
	if len(names) != 3 {
		t.Errorf("streams = %v, want exactly the three of Zenith", names)
	}
}

func TestDuplicateMessageIDDropped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := connect(t)
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}

	subject := bus.EventSubject("shop", "purchase.completed")
	publish := func(id, data string) *jetstream.PubAck {
		t.Helper()
		ack, err := js.PublishMsg(ctx, &nats.Msg{
			Subject: subject,
			Header:  nats.Header{jetstream.MsgIDHeader: {id}},
			Data:    []byte(data),
		})
		if err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
		return ack
	}
	first := publish("shop:evt-1", `{"n":1}`)
	again := publish("shop:evt-1", `{"n":2}`)
	other := publish("shop:evt-2", `{"n":3}`)

	if first.Duplicate || first.Stream != bus.EventsStream {
		t.Errorf("first publish ack = %+v, want a new message in %s", first, bus.EventsStream)
	}
	if !again.Duplicate || again.Sequence != first.Sequence {
		t.Errorf("repeat ack = %+v, want a duplicate of sequence %d", again, first.Sequence)
	}
	if other.Duplicate || other.Sequence != first.Sequence+1 {
		t.Errorf("other ack = %+v, want new sequence %d", other, first.Sequence+1)
	}

	s, err := js.Stream(ctx, bus.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d messages, want 2", info.State.Msgs)
	}
	msg, err := s.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != `{"n":1}` {
		t.Errorf("stored message = %s, want the first one", msg.Data)
	}
}

func TestAnnounceChange(t *testing.T) {
	nc, _ := connect(t)
	watcher, err := nats.Connect(nc.ConnectedUrl())
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	sub, err := watcher.SubscribeSync(bus.ChangesSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}

	if err := bus.AnnounceChange(nc); err != nil {
		t.Fatalf("AnnounceChange: %v", err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no announcement on %s: %v", bus.ChangesSubject, err)
	}
	if msg.Subject != bus.ChangesSubject {
		t.Errorf("announcement on %q, want %q", msg.Subject, bus.ChangesSubject)
	}

	nc.Close()
	if err := bus.AnnounceChange(nc); err == nil {
		t.Error("AnnounceChange on a closed connection succeeded")
	}
}

func TestStreamOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts bus.StreamOptions
		ok   bool
	}{
		{"zero value", bus.StreamOptions{}, true},
		{"three replicas", bus.StreamOptions{Replicas: 3}, true},
		{"six replicas", bus.StreamOptions{Replicas: 6}, false},
		{"negative size", bus.StreamOptions{MaxBytes: -1}, false},
		{"window beyond age", bus.StreamOptions{MaxAge: time.Minute, DuplicateWindow: time.Hour}, false},
	}
	for _, tt := range tests {
		if err := tt.opts.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestIsStreamFull(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, js := connect(t)
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{MaxBytes: 2 << 10}); err != nil {
		t.Fatal(err)
	}

	var err error
	for i := 0; err == nil; i++ {
		if i == 100 {
			t.Fatal("a 2 KiB stream took 100 messages")
		}
		_, err = js.Publish(ctx, bus.EventSubject("shop", "a"), make([]byte, 200))
	}
	if !bus.IsStreamFull(err) {
		t.Errorf("IsStreamFull(%v) = false for a full stream", err)
	}

	_, err = js.Publish(ctx, "zenith.nowhere", nil)
	if err == nil || bus.IsStreamFull(err) {
		t.Errorf("publish to no stream: err %v, IsStreamFull %v; want an error that is not a full stream", err, bus.IsStreamFull(err))
	}
}
