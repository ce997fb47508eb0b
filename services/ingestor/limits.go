package ingestor

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/metrics"
)

// Reasons of refusals the ingestor finds itself, beside pkg/event's.
const (
	reasonUnsupportedEncoding = "unsupported_encoding"
	reasonUnsupportedMedia    = "unsupported_media_type"
	reasonRateLimited         = "rate_limited"
	reasonInvalidBatch        = "invalid_batch"
	reasonInvalidBody         = "invalid_body"
)

// checkMediaType refuses a REST request whose Content-Type says its body is
// not JSON: application/json, a structured CloudEvent
// (application/cloudevents+json) or any other application/*+json type is
// read, and so is a request without one. A form (what curl -d sends without
// -H) or text is refused rather than guessed at, and so is a request with
// two Content-Type headers, which could each be read differently.
func checkMediaType(r *http.Request) error {
	values := r.Header.Values("Content-Type")
	switch {
	case len(values) == 0 || len(values) == 1 && values[0] == "":
		return nil
	case len(values) > 1:
		return contentTypeTwice()
	}
	media, params, err := mime.ParseMediaType(values[0])
	if err == nil && isJSON(media) && isUTF8(params["charset"]) {
		return nil
	}
	return &event.FieldError{Field: "Content-Type", Code: reasonUnsupportedMedia,
		Problem: "must be application/json, application/cloudevents+json or another application/*+json type, in UTF-8, or be left out " +
			"(with curl -d, add -H 'Content-Type: application/json')"}
}

// contentTypeTwice is the refusal of a request with several Content-Type
// headers.
func contentTypeTwice() *event.FieldError {
	return &event.FieldError{Field: "Content-Type", Problem: "is given more than once", Code: reasonUnsupportedMedia}
}

// oneContentType refuses a Connect, gRPC or gRPC-Web request with several
// Content-Type headers, for the reason checkMediaType refuses a REST one:
// connect-go would read the first, and a proxy in front of Zenith could read
// another. connect-go keeps only the first before any option of its own
// sees the request, so the check stands in front of it. The answer is
// InvalidArgument, written by connect-go in the protocol the first header
// names: a Connect error, or gRPC and gRPC-Web status trailers, which each
// client reads. count, when not nil, counts each refusal by its reason.
func oneContentType(next http.Handler, count func(reason string)) http.Handler {
	errs := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.Header.Values("Content-Type")) <= 1 {
			next.ServeHTTP(w, r)
			return
		}
		if count != nil {
			count(reasonUnsupportedMedia)
		}
		_ = errs.Write(w, r, connect.NewError(connect.CodeInvalidArgument, contentTypeTwice()))
	})
}

// countRefusedRPC counts an RPC refused before its handler runs (its key
// unread, its event unknown) as received and rejected for reason, so that
// received stays accepted plus rejected.
func countRefusedRPC(reason string) {
	metrics.EventsReceived.WithLabelValues("rpc").Inc()
	metrics.EventsRejected.WithLabelValues("", reason).Inc()
}

func isJSON(media string) bool {
	subtype, ok := strings.CutPrefix(media, "application/")
	return ok && (subtype == "json" || len(subtype) > len("+json") && strings.HasSuffix(subtype, "+json"))
}

func isUTF8(charset string) bool {
	return charset == "" || strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "utf8")
}

// readBody reads a REST request's body, at most maxBody bytes as sent and
// maxDecompressed bytes once decompressed, decompressing gzip. It stops
// reading as soon as a limit is passed, so a gzip bomb costs at most
// maxDecompressed bytes of inflating. Errors are *event.FieldError values.
func readBody(w http.ResponseWriter, r *http.Request, maxBody, maxDecompressed int64) ([]byte, error) {
	sent := http.MaxBytesReader(w, r.Body, maxBody)
	var body io.Reader = sent
	switch encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); encoding {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(sent)
		if err != nil {
			return nil, bodyReadError(err, maxBody)
		}
		defer zr.Close()
		body = zr
	default:
		return nil, &event.FieldError{Field: "Content-Encoding", Problem: "must be gzip or identity", Code: reasonUnsupportedEncoding}
	}

	b, err := io.ReadAll(io.LimitReader(body, maxDecompressed+1))
	if err != nil {
		return nil, bodyReadError(err, maxBody)
	}
	if int64(len(b)) > maxDecompressed {
		return nil, tooLarge("must be at most %d bytes once decompressed", maxDecompressed)
	}
	return b, nil
}

// bodyReadError explains why a body could not be read.
func bodyReadError(err error, maxBody int64) error {
	var limit *http.MaxBytesError
	switch {
	case errors.As(err, &limit):
		return tooLarge("must be at most %d bytes as sent", maxBody)
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum), errors.Is(err, io.ErrUnexpectedEOF):
		return &event.FieldError{Field: "body", Problem: "is not valid gzip"}
	}
	return &event.FieldError{Field: "body", Problem: "could not be read"}
}

func tooLarge(format string, args ...any) *event.FieldError {
	return &event.FieldError{Field: "body", Problem: fmt.Sprintf(format, args...), Code: event.ReasonTooLarge}
}

// limitBody bounds the bytes of a request body as sent, for the Connect
// handlers: connect-go answers ResourceExhausted when the limit is passed,
// and limitBody counts the refusal, which never reaches a handler.
func limitBody(maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = &countedLimit{ReadCloser: http.MaxBytesReader(w, r.Body, maxBody)}
		next.ServeHTTP(w, r)
	})
}

// countedLimit counts the first time its limited body is read past its
// limit.
type countedLimit struct {
	io.ReadCloser
	counted bool
}

func (c *countedLimit) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	var limit *http.MaxBytesError
	if err != nil && !c.counted && errors.As(err, &limit) {
		c.counted = true
		countRefusedRPC(event.ReasonTooLarge)
	}
	return n, err
}

// errDecompressedTooLarge stops a gzip stream at the decompressed limit.
var errDecompressedTooLarge = errors.New("decompressed message too large")

// boundedGzip decompresses a Connect or gRPC message and refuses to go on
// once its output passes limit. connect-go enforces WithReadMaxBytes by
// reading limit+1 bytes, but then inflates the rest of the stream to report
// its size: a bomb would be inflated whole. boundedGzip's error ends that,
// and counts the refusal.
type boundedGzip struct {
	gzip.Reader
	limit, read int64
}

// newBoundedGzip returns connect-go's constructor of boundedGzip readers.
func newBoundedGzip(limit int64) func() connect.Decompressor {
	return func() connect.Decompressor { return &boundedGzip{limit: limit} }
}

func (d *boundedGzip) Read(p []byte) (int, error) {
	if d.read > d.limit {
		countRefusedRPC(event.ReasonTooLarge)
		return 0, errDecompressedTooLarge
	}
	n, err := d.Reader.Read(p)
	d.read += int64(n)
	return n, err
}

func (d *boundedGzip) Reset(r io.Reader) error {
	d.read = 0
	return d.Reader.Reset(r)
}

// newGzipWriter is connect-go's gzip compressor, for answers.
func newGzipWriter() connect.Compressor {
	return gzip.NewWriter(nil)
}

// countingCodec decodes Connect and gRPC messages as connect-go's own
// codecs do, and counts the messages it cannot decode: connect-go answers
// those with InvalidArgument before any handler runs.
type countingCodec struct {
	name      string
	marshal   func(proto.Message) ([]byte, error)
	unmarshal func([]byte, proto.Message) error
}

// codecs are the Connect handlers' codecs: binary protobuf, and protobuf
// JSON under both names connect-go gives it. JSON fields the schema does
// not know are dropped, as connect-go does, so that newer clients work.
func codecs() []connect.HandlerOption {
	jsonIn := protojson.UnmarshalOptions{DiscardUnknown: true}
	list := []*countingCodec{
		{name: "proto", marshal: proto.Marshal, unmarshal: proto.Unmarshal},
		{name: "json", marshal: protojson.Marshal, unmarshal: jsonIn.Unmarshal},
		{name: "json; charset=utf-8", marshal: protojson.Marshal, unmarshal: jsonIn.Unmarshal},
	}
	opts := make([]connect.HandlerOption, len(list))
	for i, c := range list {
		opts[i] = connect.WithCodec(c)
	}
	return opts
}

func (c *countingCodec) Name() string { return c.name }

func (c *countingCodec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("marshal %T: not a protobuf message", v)
	}
	return c.marshal(m)
}

func (c *countingCodec) Unmarshal(b []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("unmarshal into %T: not a protobuf message", v)
	}
	if err := c.unmarshal(b, m); err != nil {
		countRefusedRPC(reasonInvalidBody)
		return err
	}
	return nil
}

// structData checks the data of an event sent as a google.protobuf.Struct.
var structData = event.StructCheck{Root: "data", Exact: "data_json", MaxDepth: event.MaxDepth}
