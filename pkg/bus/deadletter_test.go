package bus_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/bus"
)

// A message whose headers include names JetStream would refuse in a copy
// (a space, a byte outside ASCII) is still dead-lettered: those headers are
// left out and counted, the others and the payload kept.
func TestCopyToDeadLettersLeavesOutHeadersNATSCannotCarry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js := connect(t)
	if err := bus.EnsureStreams(ctx, js, bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}

	// The NATS Go client refuses to send such headers; other clients, and
	// the protocol itself, let them through.
	subject := bus.EventSubject("shop", "a.b")
	publishRaw(t, nc.ConnectedUrl(), subject, "ce-id: e-1\r\nce-ten ant: x\r\nce-t\u00e9nant: y\r\n", `{"n":1}`)
	consumer, err := js.CreateConsumer(ctx, bus.EventsStream, jetstream.ConsumerConfig{FilterSubject: subject})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := consumer.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("the published event never reached the stream: %v", err)
	}

	ack, err := bus.CopyToDeadLetters(ctx, js, msg, "zenith.dlq.events.invalid_extension", "event-dlq", errors.New("ce-ten ant: bad name"))
	if err != nil {
		t.Fatalf("CopyToDeadLetters: %v", err)
	}
	stream, err := js.Stream(ctx, ack.Stream)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Header.Get(bus.DroppedHeadersHeader); got != "2" {
		t.Errorf("%s = %q, want 2", bus.DroppedHeadersHeader, got)
	}
	if stored.Header.Get("ce-id") != "e-1" || string(stored.Data) != `{"n":1}` ||
		stored.Header.Get(action.DeadLetterReasonHeader) != "ce-ten ant: bad name" {
		t.Errorf("dead letter = %v %s, want the valid headers, the reason and the payload kept", stored.Header, stored.Data)
	}
}

// publishRaw publishes a message with the header lines given, as written,
// by speaking the NATS protocol on a connection of its own.
func publishRaw(t *testing.T, url, subject, headerLines, payload string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	header := "NATS/1.0\r\n" + headerLines + "\r\n"
	fmt.Fprintf(conn, "CONNECT {\"verbose\":false,\"headers\":true}\r\nHPUB %s %d %d\r\n%s%s\r\nPING\r\n",
		subject, len(header), len(header)+len(payload), header, payload)
	reader := bufio.NewReader(conn)
	for {
		line, err := reader.ReadString('\n')
		if err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
		if strings.HasPrefix(line, "PONG") {
			return
		}
		if strings.HasPrefix(line, "-ERR") {
			t.Fatalf("publish %s: %s", subject, line)
		}
	}
}
