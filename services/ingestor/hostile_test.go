package ingestor_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/testenv"
	"github.com/zenith-hq/zenith/services/ingestor"
)

var update = flag.Bool("update", false, "rewrite the tables of docs/hostile-input.md from the tests")

// hostileDoc is the document whose table TestHostileInput proves.
const hostileDoc = "../../docs/hostile-input.md"

// hostileRow is one hostile request and the answer it must get. The rows
// are exactly the rows of the table in docs/hostile-input.md.
type hostileRow struct {
	input     string
	transport string // "REST" or "Connect"
	// body builds the request body; header sets request headers, and
	// second gives a header a second value beside the one it has.
	body           func() io.Reader
	header, second map[string]string
	status         int
	// code is the REST error or Connect code; message the error message,
	// or its start when it ends in "…".
	code, message string
	// reason is the zenith_events_rejected_total reason counted, empty for
	// an accepted event, whose data must then be stored as stored says.
	reason, stored string
	// events is how many events a refused batch holds, each counted; 0
	// means one.
	events int
}

// restEvent is a REST body of type a.b with data.
func restEvent(data string) func() io.Reader {
	return text(`{"type":"a.b","data":` + data + `}`)
}

// connectEvent is a Connect JSON Ingest request with the event's fields.
func connectEvent(fields string) func() io.Reader {
	return text(`{"event":{"type":"a.b",` + fields + `}}`)
}

func text(s string) func() io.Reader {
	return func() io.Reader { return strings.NewReader(s) }
}

// gzipBomb is a gzip stream that inflates to prefix, then size zeros or
// 'A's, then suffix, written as it is read so the test never holds it whole.
func gzipBomb(prefix string, fill byte, size int, suffix string) func() io.Reader {
	return func() io.Reader {
		pr, pw := io.Pipe()
		go func() {
			zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
			chunk := bytes.Repeat([]byte{fill}, 64<<10)
			_, err := zw.Write([]byte(prefix))
			for n := 0; err == nil && n < size; n += len(chunk) {
				_, err = zw.Write(chunk[:min(len(chunk), size-n)])
			}
			if err == nil {
				_, err = zw.Write([]byte(suffix))
			}
			if err == nil {
				err = zw.Close()
			}
			pw.CloseWithError(err)
		}()
		return pr
	}
}

func gzipped(s string) func() io.Reader {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(s))
	_ = zw.Close()
	return func() io.Reader { return bytes.NewReader(b.Bytes()) }
}

// nestedData is a data object holding levels-1 nested arrays.
func nestedData(levels int) string {
	return `{"a":` + strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1) + `}`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func hostileRows() []hostileRow {
	const big = `{"order":123456789012345678901234567890,"amount":1e400}`
	deep := strings.Repeat("a.", event.MaxDepth)
	return []hostileRow{
		{input: "no API key", transport: "REST", body: restEvent(`{}`),
			header: map[string]string{ingestor.APIKeyHeader: ""},
			status: 401, code: "unauthenticated", message: "a valid API key is required in the X-Api-Key header", reason: "unauthenticated"},
		{input: "body over INGESTOR_MAX_BODY_BYTES (1 MiB)", transport: "REST",
			body:   text(`{"type":"a.b","data":{"s":"` + strings.Repeat("x", 1<<20) + `"}}`),
			status: 413, code: "too_large", message: "body: must be at most 1048576 bytes as sent", reason: "too_large"},
		{input: "gzip bomb inflating to 50 MB", transport: "REST",
			body:   gzipBomb(`{"type":"a.b","data":{"s":"`, 'x', 50<<20, `"}}`),
			header: map[string]string{"Content-Encoding": "gzip"},
			status: 413, code: "too_large", message: "body: must be at most 4194304 bytes once decompressed", reason: "too_large"},
		{input: "gzip body of a valid event", transport: "REST", body: gzipped(`{"type":"a.b","data":{"n":1}}`),
			header: map[string]string{"Content-Encoding": "gzip"}, status: 202, stored: `{"n":1}`},
		{input: "Content-Encoding: gzip on a body that is not gzip", transport: "REST", body: restEvent(`{}`),
			header: map[string]string{"Content-Encoding": "gzip"},
			status: 400, code: "invalid_argument", message: "body: is not valid gzip", reason: "invalid_body"},
		{input: "Content-Encoding: br", transport: "REST", body: restEvent(`{}`),
			header: map[string]string{"Content-Encoding": "br"},
			status: 415, code: "unsupported_encoding", message: "Content-Encoding: must be gzip or identity", reason: "unsupported_encoding"},
		{input: "Content-Type: application/x-www-form-urlencoded (curl -d without -H)", transport: "REST", body: restEvent(`{}`),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			status: 415, code: "unsupported_media_type", message: "Content-Type: must be application/json, application/cloudevents+json or another application/*+json type, in UTF-8, or be left out (with curl -d, add -H 'Content-Type: application/json')", reason: "unsupported_media_type"},
		{input: "Content-Type: application/json; charset=latin1", transport: "REST", body: restEvent(`{}`),
			header: map[string]string{"Content-Type": "application/json; charset=latin1"},
			status: 415, code: "unsupported_media_type", message: "Content-Type: must be application/json, application/cloudevents+json or another application/*+json type, in UTF-8, or be left out (with curl -d, add -H 'Content-Type: application/json')", reason: "unsupported_media_type"},
		{input: "Content-Type: application/+json", transport: "REST", body: restEvent(`{}`),
			header: map[string]string{"Content-Type": "application/+json"},
			status: 415, code: "unsupported_media_type", message: "Content-Type: must be application/json…", reason: "unsupported_media_type"},
		{input: "two Content-Type headers: application/json and text/plain", transport: "REST", body: restEvent(`{}`),
			second: map[string]string{"Content-Type": "text/plain"},
			status: 415, code: "unsupported_media_type", message: "Content-Type: is given more than once", reason: "unsupported_media_type"},
		{input: "Content-Type: application/json; charset=utf8", transport: "REST", body: restEvent(`{"n":3}`),
			header: map[string]string{"Content-Type": "application/json; charset=utf8"}, status: 202, stored: `{"n":3}`},
		{input: "Content-Type: application/cloudevents+json; charset=utf-8", transport: "REST", body: restEvent(`{"n":2}`),
			header: map[string]string{"Content-Type": "application/cloudevents+json; charset=utf-8"}, status: 202, stored: `{"n":2}`},
		{input: "a UTF-8 byte order mark before the body", transport: "REST", body: text("\uFEFF" + `{"type":"a.b","data":{}}`),
			status: 400, code: "invalid_argument", message: "body: must be a JSON object, without a byte order mark before it (RFC 8259)", reason: "invalid_body"},
		{input: "data over 256 KiB", transport: "REST",
			body:   restEvent(`{"l":["` + strings.Repeat(strings.Repeat("x", 1000)+`","`, 262) + `"]}`),
			status: 413, code: "too_large", message: "data: must be at most 262144 bytes", reason: "too_large"},
		{input: "data nested 10,000 levels deep", transport: "REST", body: restEvent(nestedData(10000)),
			status: 400, code: "invalid_argument", message: "data.a" + strings.Repeat("[0]", event.MaxDepth-1) + ": nests deeper than 32 levels", reason: "too_deep"},
		{input: "data nested 33 levels deep (objects)", transport: "REST",
			body:   restEvent(`{` + strings.Repeat(`"a":{`, event.MaxDepth) + `}` + strings.Repeat(`}`, event.MaxDepth)),
			status: 400, code: "invalid_argument", message: "data." + strings.TrimSuffix(deep, ".") + ": nests deeper than 32 levels", reason: "too_deep"},
		{input: "duplicate key at the top of data", transport: "REST", body: restEvent(`{"amount":1,"amount":900}`),
			status: 400, code: "invalid_argument", message: `data: has the key "amount" twice`, reason: "duplicate_key"},
		{input: "duplicate key in a nested object", transport: "REST", body: restEvent(`{"user":{"segment":"x","segment":"VIP"}}`),
			status: 400, code: "invalid_argument", message: `data.user: has the key "segment" twice`, reason: "duplicate_key"},
		{input: `duplicate key spelt "a" and "\u0061"`, transport: "REST", body: restEvent(`{"l":[{"a":1,"\u0061":2}]}`),
			status: 400, code: "invalid_argument", message: `data.l[0]: has the key "a" twice`, reason: "duplicate_key"},
		{input: "an attribute given twice", transport: "REST", body: text(`{"type":"a.b","source":"shop","source":"billing","data":{}}`),
			status: 400, code: "invalid_argument", message: "source: is given twice", reason: "duplicate_key"},
		{input: "invalid UTF-8 in a string", transport: "REST", body: restEvent("{\"name\":\"Zo\xeb\"}"),
			status: 400, code: "invalid_argument", message: "data.name: is not valid UTF-8", reason: "invalid_utf8"},
		{input: "invalid UTF-8 in a key", transport: "REST", body: restEvent("{\"n\xc3me\":1}"),
			status: 400, code: "invalid_argument", message: "data: has a key that is not valid UTF-8", reason: "invalid_utf8"},
		{input: `lone surrogate "\ud800"`, transport: "REST", body: restEvent(`{"s":"\ud800"}`),
			status: 400, code: "invalid_argument", message: `data.s: holds a lone surrogate \uD800`, reason: "invalid_utf8"},
		{input: "string over 64 KiB", transport: "REST", body: restEvent(`{"s":"` + strings.Repeat("x", 64<<10+1) + `"}`),
			status: 400, code: "invalid_argument", message: "data.s: is a string longer than 65536 bytes", reason: "too_long"},
		{input: "key over 256 bytes", transport: "REST", body: restEvent(`{"` + strings.Repeat("k", 257) + `":1}`),
			status: 400, code: "invalid_argument", message: "data: has a key longer than 256 bytes", reason: "too_long"},
		{input: "number of 129 digits", transport: "REST", body: restEvent(`{"n":` + strings.Repeat("9", 129) + `}`),
			status: 400, code: "invalid_argument", message: "data.n: is a number longer than 128 characters", reason: "too_long"},
		{input: "integer beyond 2^64 and 1e400", transport: "REST", body: restEvent(big), status: 202, stored: big},
		{input: "NaN", transport: "REST", body: restEvent(`{"n":NaN}`),
			status: 400, code: "invalid_argument", message: "body: is not valid JSON at byte 27", reason: "invalid_body"},
		{input: "a second JSON value after the event", transport: "REST", body: text(`{"type":"a.b","data":{}} {}`),
			status: 400, code: "invalid_argument", message: "body: must hold exactly one JSON object", reason: "invalid_body"},
		{input: "attribute name no extension may have", transport: "REST", body: text(`{"type":"a.b","data":{},"Tenant":"x"}`),
			status: 400, code: "invalid_argument", message: "Tenant: is not an attribute Zenith knows, and an extension attribute's name must be 1-64 lower-case letters and digits", reason: "unknown_attribute"},
		{input: "extension attributes", transport: "REST",
			body:   text(`{"type":"a.b","data":{"n":3},"tenant":"acme","sequence":42,"dataschema":"https://schemas.example.com/a.b.json"}`),
			status: 202, stored: `{"n":3}`},
		{input: "extension attribute with CR LF", transport: "REST", body: text(`{"type":"a.b","data":{},"tenant":"a\r\nce-source: billing"}`),
			status: 400, code: "invalid_argument", message: "tenant: must not contain control characters", reason: "invalid_extension"},
		{input: "extension attribute holding an object", transport: "REST", body: text(`{"type":"a.b","data":{},"tenant":{"id":1}}`),
			status: 400, code: "invalid_argument", message: "tenant: must be a string, a number or a boolean", reason: "invalid_extension"},
		{input: "dataschema not a URI", transport: "REST", body: text(`{"type":"a.b","data":{},"dataschema":"x"}`),
			status: 400, code: "invalid_argument", message: "dataschema: must be an absolute URI", reason: "invalid_extension"},
		{input: "binary data (data_base64)", transport: "REST", body: text(`{"type":"a.b","data_base64":"AAEC"}`),
			status: 400, code: "invalid_argument", message: "data_base64: binary data is not supported: send data as a JSON object", reason: "unknown_attribute"},
		{input: "source of another key", transport: "REST", body: text(`{"type":"a.b","source":"billing","data":{}}`),
			status: 400, code: "invalid_argument", message: `source: must be "shop", the source of the API key, or left out`, reason: "invalid_source"},
		{input: "source with a wildcard: shop.>", transport: "REST", body: text(`{"type":"a.b","source":"shop.>","data":{}}`),
			status: 400, code: "invalid_argument", message: `source: must be "shop", the source of the API key, or left out`, reason: "invalid_source"},
		{input: "type with a wildcard: purchase.*", transport: "REST", body: text(`{"type":"purchase.*","data":{}}`),
			status: 400, code: "invalid_argument", message: "type: must be dot-separated words of letters, digits, '-' or '_', at most 128 characters", reason: "invalid_type"},
		{input: "type reaching another source: ..billing.x", transport: "REST", body: text(`{"type":"..billing.x","data":{}}`),
			status: 400, code: "invalid_argument", message: "type: must be dot-separated words of letters, digits, '-' or '_', at most 128 characters", reason: "invalid_type"},
		{input: "type with a space", transport: "REST", body: text(`{"type":"purchase completed","data":{}}`),
			status: 400, code: "invalid_argument", message: "type: must be dot-separated words of letters, digits, '-' or '_', at most 128 characters", reason: "invalid_type"},
		{input: `empty id ("id":"")`, transport: "REST", body: text(`{"id":"","type":"a.b","data":{}}`),
			status: 400, code: "invalid_argument", message: "id: must not be empty; leave it out to have one assigned", reason: "invalid_id"},
		{input: "id with a space", transport: "REST", body: text(`{"id":"order 1","type":"a.b","data":{}}`),
			status: 400, code: "invalid_argument", message: "id: must be printable ASCII without spaces", reason: "invalid_id"},
		{input: "id with CR LF (header injection)", transport: "REST", body: text(`{"id":"x\r\nNats-Msg-Id: y","type":"a.b","data":{}}`),
			status: 400, code: "invalid_argument", message: "id: must be printable ASCII without spaces", reason: "invalid_id"},
		{input: "subject with CR LF", transport: "REST", body: text(`{"subject":"a\r\nce-source: billing","type":"a.b","data":{}}`),
			status: 400, code: "invalid_argument", message: "subject: must not contain control characters", reason: "invalid_subject"},
		{input: "subject naming another source's NATS subject", transport: "REST",
			body:   text(`{"subject":"zenith.events.billing.a.b","type":"a.b","data":{"n":2}}`),
			status: 202, stored: `{"n":2}`},
		{input: "two Content-Type headers: application/json and text/plain", transport: "Connect", body: connectEvent(`"dataJson":"e30="`),
			second: map[string]string{"Content-Type": "text/plain"},
			status: 400, code: "invalid_argument", message: "Content-Type: is given more than once", reason: "unsupported_media_type"},
		{input: "request without an event: {}", transport: "Connect", body: text(`{}`),
			status: 400, code: "invalid_argument", message: "event: is required", reason: "invalid_body"},
		{input: "source with a wildcard: shop.*", transport: "Connect", body: connectEvent(`"source":"shop.*","dataJson":"e30="`),
			status: 400, code: "invalid_argument", message: `event.source: must be "shop", the source of the API key, or left out`, reason: "invalid_source"},
		{input: "type with a wildcard: a.>", transport: "Connect", body: text(`{"event":{"type":"a.>","dataJson":"e30="}}`),
			status: 400, code: "invalid_argument", message: "event.type: must be dot-separated words of letters, digits, '-' or '_', at most 128 characters", reason: "invalid_type"},
		{input: "a field given twice in Connect JSON", transport: "Connect", body: connectEvent(`"type":"x.y","dataJson":"e30="`),
			status: 400, code: "invalid_argument", message: "unmarshal message: …", reason: "invalid_body"},
		{input: "integer beyond 2^53 in a Struct", transport: "Connect", body: connectEvent(`"data":{"id":9007199254740993}`),
			status: 400, code: "invalid_argument", message: "event.data.id: is 2^53 or beyond, where a google.protobuf.Struct's doubles round; send it as data_json to keep it exact", reason: "inexact_number"},
		{input: "integer beyond 2^64 in data_json", transport: "Connect", body: connectEvent(`"dataJson":"` + b64(big) + `"`), status: 200, stored: big},
		{input: "duplicate key in data_json", transport: "Connect", body: connectEvent(`"dataJson":"` + b64(`{"a":{"b":1,"b":2}}`) + `"`),
			status: 400, code: "invalid_argument", message: `event.data.a: has the key "b" twice`, reason: "duplicate_key"},
		{input: "Struct nested 33 levels deep", transport: "Connect",
			body:   connectEvent(`"data":` + nestedData(event.MaxDepth+1)),
			status: 400, code: "invalid_argument", message: "event.data.a" + strings.Repeat("[0]", event.MaxDepth-1) + ": nests deeper than 32 levels", reason: "too_deep"},
		{input: "gzip bomb inflating to 50 MB", transport: "Connect",
			body:   gzipBomb(`{"event":{"type":"a.b","dataJson":"`, 'A', 50<<20, `"}}`),
			header: map[string]string{"Content-Encoding": "gzip"},
			status: 429, code: "resource_exhausted", message: "message is larger than configured max 4194304 - unable to determine message size: decompressed message too large", reason: "too_large"},
		{input: "message over INGESTOR_MAX_BODY_BYTES (1 MiB)", transport: "Connect",
			body:   connectEvent(`"dataJson":"` + strings.Repeat("A", 1<<20) + `"`),
			status: 429, code: "resource_exhausted", message: "read first 1048576 bytes of message: exceeded 1048576 byte http.MaxBytesReader limit", reason: "too_large"},
		{input: "protobuf that does not decode", transport: "Connect", body: text("\xff\xff\xff\xff"),
			header: map[string]string{"Content-Type": "application/proto"},
			status: 400, code: "invalid_argument", message: "unmarshal message: …", reason: "invalid_body"},
		{input: "batch of 501 events", transport: "Connect",
			body:   text(`{"events":[` + strings.TrimSuffix(strings.Repeat(`{"type":"a.b","dataJson":"e30="},`, 501), ",") + `]}`),
			status: 400, code: "invalid_argument", message: "events: must hold 1 to 500 events, not 501", reason: "invalid_batch", events: 501},
		{input: "batch with one event of another source", transport: "Connect",
			body:   text(`{"events":[{"type":"a.b","dataJson":"e30="},{"type":"a.b","source":"billing","dataJson":"e30="}]}`),
			status: 400, code: "invalid_argument", message: `events[1].source: must be "shop", the source of the API key, or left out`, reason: "invalid_source", events: 2},
	}
}

// TestHostileInput sends every hostile request of docs/hostile-input.md to
// a running ingestor and checks the answer, the metric and what was stored;
// with -update it rewrites the document's table from the rows.
func TestHostileInput(t *testing.T) {
	h := startWith(t, func(cfg *ingestor.Config) {
		cfg.MaxBodyBytes, cfg.MaxDecompressedBytes = 1<<20, 4<<20
	})
	table := []string{
		testenv.TableRow("hostile input", "via", "answer", "error message", "reason"),
		testenv.TableRow("---", "---", "---", "---", "---"),
	}
	for _, row := range hostileRows() {
		t.Run(row.transport+" "+row.input, func(t *testing.T) {
			before, receivedBefore := rejected(row.reason), received(row.transport)
			stored := len(h.storedEvents(t))
			status, code, message := h.sendRow(t, row)

			if status != row.status || code != row.code || !matches(message, row.message) {
				t.Errorf("answer = %d %s %q, want %d %s %q", status, code, message, row.status, row.code, row.message)
			}
			// Every request counts as received, refused or not, so that
			// received is accepted plus rejected.
			if got, want := received(row.transport)-receivedBefore, float64(max(row.events, 1)); got != want {
				t.Errorf("zenith_events_received_total rose by %v, want %v", got, want)
			}
			if row.reason != "" {
				if got, want := rejected(row.reason)-before, float64(max(row.events, 1)); got != want {
					t.Errorf("zenith_events_rejected_total{reason=%q} rose by %v, want %v", row.reason, got, want)
				}
				if n := len(h.storedEvents(t)); n != stored {
					t.Errorf("the refused event was stored")
				}
				return
			}
			msgs := h.storedEvents(t)
			if len(msgs) != stored+1 || string(msgs[len(msgs)-1].Data) != row.stored {
				t.Fatalf("stored %d events, the last with data %s; want data %s", len(msgs)-stored, msgs[len(msgs)-1].Data, row.stored)
			}
			if want := "zenith.events.shop.a.b"; msgs[len(msgs)-1].Subject != want {
				t.Errorf("stored on %s, want %s", msgs[len(msgs)-1].Subject, want)
			}
		})
		table = append(table, docRow(row))
	}
	testenv.DocTable(t, hostileDoc, "ingestor", table, *update)
}

// received reads zenith_events_received_total for the transport of a row.
func received(transport string) float64 {
	label := "rpc"
	if transport == "REST" {
		label = "http"
	}
	return testutil.ToFloat64(metrics.EventsReceived.WithLabelValues(label))
}

// docRow is row as the document's table shows it.
func docRow(row hostileRow) string {
	answer := fmt.Sprintf("%d %s", row.status, row.code)
	message, reason := "`"+row.message+"`", "`"+row.reason+"`"
	if row.reason == "" {
		answer, message, reason = fmt.Sprintf("%d accepted", row.status), "data stored byte for byte", "none"
	}
	if row.code == "resource_exhausted" || row.transport == "Connect" && row.reason != "" {
		answer = fmt.Sprintf("`%s` (HTTP %d)", row.code, row.status)
	}
	return testenv.TableRow(row.input, row.transport, answer, message, reason)
}

func matches(got, want string) bool {
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == want
}

// rejected sums zenith_events_rejected_total for reason over the sources
// the rows use: none (refused before the key is known) and shop.
func rejected(reason string) float64 {
	return testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("", reason)) +
		testutil.ToFloat64(metrics.EventsRejected.WithLabelValues("shop", reason))
}

// sendRow sends row's request with the shop key and returns the status,
// the REST error or Connect code, and the message of the answer.
func (h *harness) sendRow(t *testing.T, row hostileRow) (int, string, string) {
	t.Helper()
	url, contentType := h.url+"/v1/events", "application/json"
	if row.transport == "Connect" {
		url = h.url + "/zenith.v1.IngestorService/Ingest"
		if strings.HasPrefix(row.input, "batch") {
			url = h.url + "/zenith.v1.IngestorService/IngestBatch"
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, row.body())
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(ingestor.APIKeyHeader, shopKey)
	for k, v := range row.header {
		req.Header.Set(k, v)
	}
	for k, v := range row.second {
		req.Header.Add(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct{ Error, Code, Message string }
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, answer.Error + answer.Code, answer.Message
}
