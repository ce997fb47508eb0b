package bus

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/zenith-hq/zenith/pkg/action"
)

// MalformedActionSubject is where the dispatcher keeps a message on the
// actions stream that is not an action it can read: one published there by
// something other than a rule-engine. It is outside ActionDeadLetters, since
// it names no sink and cannot be replayed.
const MalformedActionSubject = deadLetterPrefix + "actions.malformed"

// DroppedHeadersHeader counts the headers of a dead-lettered message that
// its copy could not carry (see CopyToDeadLetters).
const DroppedHeadersHeader = "Zenith-Dropped-Headers"

// validHeaderName reports whether name can name a header of a message
// JetStream stores: printable ASCII without spaces or colons.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// CopyToDeadLetters publishes msg's headers and payload on subject, with
// the subject it came on, why it was refused (cause) and how often it was
// delivered, and returns JetStream's acknowledgement. JetStream's own
// headers are left out, since an expectation the producer set could refuse
// the copy, and so are headers whose name a NATS header cannot carry (a
// space, a colon, a byte outside printable ASCII), which a publisher's
// client may let through but JetStream would refuse in the copy: how many
// were left out is in DroppedHeadersHeader. Its message id is idPrefix and
// the message's stream sequence, so a copy made again after a crash is
// dropped.
func CopyToDeadLetters(ctx context.Context, js jetstream.JetStream, msg jetstream.Msg, subject, idPrefix string, cause error) (*jetstream.PubAck, error) {
	header := nats.Header{}
	dropped := 0
	for k, v := range msg.Headers() {
		switch {
		case strings.HasPrefix(strings.ToLower(k), "nats-"):
		case !validHeaderName(k):
			dropped++
		default:
			header[k] = slices.Clone(v)
		}
	}
	if dropped > 0 {
		header.Set(DroppedHeadersHeader, strconv.Itoa(dropped))
	}
	header.Set(OriginalSubjectHeader, msg.Subject())
	header.Set(action.DeadLetterReasonHeader, HeaderText(cause.Error()))
	var opts []jetstream.PublishOpt
	if meta, err := msg.Metadata(); err == nil {
		header.Set(action.DeadLetterAttemptsHeader, strconv.FormatUint(meta.NumDelivered, 10))
		opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("%s.%d", idPrefix, meta.Sequence.Stream)))
	}
	ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Header: header, Data: msg.Data()}, opts...)
	if err != nil {
		return nil, fmt.Errorf("publish dead letter on %s: %w", subject, err)
	}
	return ack, nil
}
