package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/bus"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

// setActionSizeLimit sets the largest action the actions stream stores; -1
// lifts the limit.
func setActionSizeLimit(t *testing.T, js jetstream.JetStream, limit int32) {
	t.Helper()
	ctx := context.Background()
	stream, err := js.Stream(ctx, bus.ActionsStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.CachedInfo().Config
	cfg.MaxMsgSize = limit
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// eventDeadLetters returns the sequence of each dead-lettered event
// zenithctl lists with args, by event id.
func (p *pipeline) eventDeadLetters(t *testing.T, args ...string) map[string]string {
	t.Helper()
	var list struct {
		DeadLetters []struct {
			Sequence string `json:"sequence"`
			EventID  string `json:"eventId"`
		} `json:"deadLetters"`
	}
	out := p.mustCtl(t, append([]string{"dlq", "events", "list", "-o", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("dlq events list -o json: %v:\n%s", err, out)
	}
	seqs := map[string]string{}
	for _, dl := range list.DeadLetters {
		seqs[dl.EventID] = dl.Sequence
	}
	return seqs
}

// TestEventDeadLetterReplay: a poison event, whose actions the actions
// stream refuses, and a malformed event published straight to NATS are
// dead-lettered by the rule-engine. zenithctl lists both; once the actions
// stream takes the action again, replaying the poison event delivers it to
// its sink, once however often it is replayed, and the malformed one is
// refused.
func TestEventDeadLetterReplay(t *testing.T) {
	t.Setenv("ENGINE_MAX_DELIVER", "2")
	t.Setenv("ENGINE_RETRY_DELAY", "100ms")
	p := startPipeline(t)
	path, _ := p.exampleFile(t)
	p.mustCtl(t, "apply", "-f", path)

	nc, err := nats.Connect(os.Getenv("NATS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	setActionSizeLimit(t, js, 4<<10)
	note := strings.Repeat("x", 8<<10)
	body := fmt.Sprintf(`{"id":"poison-1","type":"purchase.completed","data":{"amount":742.5,"user":{"segment":"VIP"},"note":%q}}`, note)
	if status := p.post(t, body); status != http.StatusAccepted {
		t.Fatalf("status %d", status)
	}
	bad := event.Event{ID: "bad id", Source: "shop", Type: "purchase.completed", Time: time.Now(), Data: []byte(`{"amount":1}`)}
	malformed := &nats.Msg{Subject: bus.EventSubject("shop", "purchase.completed"), Header: bad.Header(), Data: bad.Data}
	if _, err := js.PublishMsg(context.Background(), malformed); err != nil {
		t.Fatal(err)
	}

	var seqs map[string]string
	testenv.WaitFor(t, 15*time.Second, func() bool {
		seqs = p.eventDeadLetters(t)
		return seqs["poison-1"] != "" && seqs["bad id"] != ""
	})
	wantLines(t, "dlq events list", p.mustCtl(t, "dlq", "events", "list"),
		"SEQ", "PAYLOAD", "poison-1", "actions_not_stored", "dead_lettered", `{"amount":742.5,"note":"xxxxxxxxxxxxx...`,
		"bad id", "invalid_id")
	if filtered := p.eventDeadLetters(t, "--reason", "invalid_id"); len(filtered) != 1 || filtered["bad id"] == "" {
		t.Errorf("dead-lettered events for invalid_id = %v", filtered)
	}

	code, out, errOut := p.ctl(t, "dlq", "events", "replay", seqs["bad id"])
	if code != exitError || !strings.Contains(errOut, "failed_precondition: sequences[0]: dead-lettered event "+seqs["bad id"]+" is malformed") {
		t.Errorf("replay of the malformed event: exit %d, %s%s", code, out, errOut)
	}
	code, out, errOut = p.ctl(t, "dlq", "events", "replay")
	if code != exitUsage || !strings.Contains(errOut, "--all") {
		t.Errorf("replay without a filter: exit %d, %s%s", code, out, errOut)
	}

	setActionSizeLimit(t, js, -1)
	wantLines(t, "replay", p.mustCtl(t, "dlq", "events", "replay", seqs["poison-1"]), "replayed "+seqs["poison-1"]+" (event shop/poison-1)", "1 replayed, 0 skipped")
	testenv.WaitFor(t, 10*time.Second, func() bool { return p.recv.reached("/vip", "poison-1") })
	testenv.WaitFor(t, 5*time.Second, func() bool {
		_, out, _ := p.ctl(t, "audit", "--event-id", "poison-1", "--status", "delivered")
		return strings.Contains(out, "poison-1")
	})

	wantLines(t, "second replay", p.mustCtl(t, "dlq", "events", "replay", "--event-id", "poison-1", "--include-replayed"),
		"already replayed", "0 replayed, 1 skipped")
	if left := p.eventDeadLetters(t); left["poison-1"] != "" || left["bad id"] == "" {
		t.Errorf("dead-lettered events after the replay = %v, want only the malformed one", left)
	}
	wantLines(t, "replayed list", p.mustCtl(t, "dlq", "events", "list", "--include-replayed", "--event-id", "poison-1"), "replayed")
	var audit struct {
		Entries []struct {
			Status string `json:"status"`
		} `json:"entries"`
	}
	raw := p.mustCtl(t, "audit", "--event-id", "poison-1", "-o", "json")
	if err := json.Unmarshal([]byte(raw), &audit); err != nil || len(audit.Entries) != 1 {
		t.Errorf("audit of poison-1 = %s (%v), want one delivery", raw, err)
	}

	// The malformed one, which no replay can help, is deleted for good.
	wantLines(t, "delete", p.mustCtl(t, "dlq", "events", "delete", seqs["bad id"]), "deleted "+seqs["bad id"], "1 deleted")
	if left := p.eventDeadLetters(t); len(left) != 0 {
		t.Errorf("dead-lettered events after the deletion = %v, want none", left)
	}
}
