package dispatcher

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// spans records the spans of this test binary. The package's tracer is
// bound to the first tracer provider set, so it is set once.
var spans = sync.OnceValue(func() *tracetest.SpanRecorder {
	recorder := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return recorder
})

// TestArchiveWriteLinksItsActions checks the trace of an archive batch: the
// write is a span of its own, linked to the dispatch of each action in the
// batch, and the request to S3 is its child, carrying its trace context.
func TestArchiveWriteLinksItsActions(t *testing.T) {
	recorder := spans()
	var mu sync.Mutex
	var sent []string
	backend := s3mem.New()
	if err := backend.CreateBucket("archive"); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			mu.Lock()
			sent = append(sent, r.Header.Get("traceparent"))
			mu.Unlock()
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	a := newTestArchive(t, fakeS3{url: srv.URL, bucket: "archive"}.config(`"max_events":2,"flush_after":"1h",`), 1000)
	res := make(results, 2)
	dispatches := make([]trace.SpanContext, 2)
	for i := range dispatches {
		dispatches[i] = spanContext(t, i)
		ctx := trace.ContextWithSpanContext(context.Background(), dispatches[i])
		if err := a.Add(ctx, testAction("r", "s", fmt.Sprintf("ev-%d", i)), res.done); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range res.wait(t, 2) {
		if r.Err != nil {
			t.Fatalf("write failed: %v", r.Err)
		}
	}

	write, put := archiveSpans(t, recorder)
	if write.Parent().IsValid() {
		t.Errorf("archive.write has parent %v, want a trace of its own", write.Parent())
	}
	links := write.Links()
	if len(links) != 2 || links[0].SpanContext.SpanID() != dispatches[0].SpanID() || links[1].SpanContext.SpanID() != dispatches[1].SpanID() {
		t.Errorf("archive.write links %v, want the two dispatches %v", links, dispatches)
	}
	if put.Parent().SpanID() != write.SpanContext().SpanID() || put.SpanKind() != trace.SpanKindClient {
		t.Errorf("PUT span: parent %s, kind %s; want archive.write's child, client", put.Parent().SpanID(), put.SpanKind())
	}
	want := fmt.Sprintf("00-%s-%s-01", put.SpanContext().TraceID(), put.SpanContext().SpanID())
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 1 || sent[0] != want {
		t.Errorf("S3 got traceparent %q, want [%s]", sent, want)
	}
}

// archiveSpans returns the archive.write span recorded, and the PUT span
// of its trace.
func archiveSpans(t *testing.T, recorder *tracetest.SpanRecorder) (write, put sdktrace.ReadOnlySpan) {
	t.Helper()
	for _, s := range recorder.Ended() {
		if s.Name() == "archive.write" {
			write = s
		}
	}
	if write == nil {
		t.Fatal("no archive.write span")
	}
	for _, s := range recorder.Ended() {
		if s.Name() == http.MethodPut && s.SpanContext().TraceID() == write.SpanContext().TraceID() {
			put = s
		}
	}
	if put == nil {
		t.Fatal("no PUT span in the archive.write trace")
	}
	return write, put
}

// spanContext is the sampled span context number i of a remote trace.
func spanContext(t *testing.T, i int) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(fmt.Sprintf("%032x", i+1))
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(fmt.Sprintf("%016x", i+1))
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
}
