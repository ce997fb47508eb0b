package ingestor

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/zenith-hq/zenith/pkg/event"
)

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// bomb returns a gzip stream of size zeros.
func bomb(t *testing.T, size int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for n := 0; n < size; n += len(chunk) {
		if _, err := zw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A gzip bomb is refused having inflated little more than the limit: the
// compressed bytes read show how far the inflating went.
func TestReadBodyStopsInflatingAtTheLimit(t *testing.T) {
	const limit = 256 << 10
	compressed := bomb(t, 64<<20)
	body := &countingReader{r: bytes.NewReader(compressed)}
	r := httptest.NewRequest(http.MethodPost, "/v1/events", body)
	r.Header.Set("Content-Encoding", "gzip")

	_, err := readBody(httptest.NewRecorder(), r, int64(len(compressed)), limit)
	fe, ok := event.AsFieldError(err)
	if !ok || fe.Reason() != event.ReasonTooLarge {
		t.Fatalf("readBody = %v, want a too_large refusal", err)
	}
	// Zeros inflate about 1000-fold: reading 256 KiB of output takes some
	// hundreds of compressed bytes plus the reader's 4 KiB buffer, not the
	// whole stream of some 64 KB.
	t.Logf("read %d of %d compressed bytes", body.n, len(compressed))
	if body.n > 8<<10 {
		t.Errorf("read %d of %d compressed bytes to refuse a %d-byte limit", body.n, len(compressed), limit)
	}
}

// boundedGzip refuses to inflate past its limit, where connect-go would
// otherwise inflate the rest of the stream to measure it.
func TestBoundedGzipStopsPastTheLimit(t *testing.T) {
	const limit = 1 << 20
	compressed := bomb(t, 64<<20)
	src := &countingReader{r: bytes.NewReader(compressed)}
	d := newBoundedGzip(limit)()
	if err := d.Reset(src); err != nil {
		t.Fatal(err)
	}

	got, err := io.Copy(io.Discard, io.LimitReader(d, limit+1))
	if err != nil || got != limit+1 {
		t.Fatalf("reading up to the limit: %d bytes, %v", got, err)
	}
	if _, err := io.Copy(io.Discard, d); !errors.Is(err, errDecompressedTooLarge) {
		t.Fatalf("reading on = %v, want %v", err, errDecompressedTooLarge)
	}
	if src.n >= len(compressed) {
		t.Errorf("read all %d compressed bytes", src.n)
	}

	// A pooled reader starts again from nothing.
	small := bomb(t, 1<<20)
	if err := d.Reset(bytes.NewReader(small)); err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, d); err != nil || n != 1<<20 {
		t.Errorf("after Reset: %d bytes, %v; want 1 MiB", n, err)
	}
}

func TestKeyLimiter(t *testing.T) {
	l := newKeyLimiter(10, 5)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	for i := range 5 {
		if _, ok := l.take("noisy", 1, now); !ok {
			t.Fatalf("event %d within the burst refused", i)
		}
	}
	wait, ok := l.take("noisy", 1, now)
	if ok || wait != 100*time.Millisecond {
		t.Errorf("sixth event: %v %v, want refused with a wait of 100ms (10/s)", ok, wait)
	}
	if retryAfter(wait) != "1" {
		t.Errorf("Retry-After of %v = %s, want 1", wait, retryAfter(wait))
	}
	if _, ok := l.take("quiet", 5, now); !ok {
		t.Error("another key's burst refused while the first key is empty")
	}
	if _, ok := l.take("noisy", 1, now.Add(100*time.Millisecond)); !ok {
		t.Error("an event refused after its token came back")
	}

	// Buckets unused for longer than idle are dropped at the next sweep.
	if got := l.size(); got != 2 {
		t.Fatalf("buckets = %d, want 2", got)
	}
	later := now.Add(l.idle + time.Second)
	l.take("third", 1, later.Add(-l.idle/2))
	l.take("third", 1, later)
	if got := l.size(); got != 1 {
		t.Errorf("buckets after the idle ones went = %d, want 1", got)
	}

	var off *keyLimiter = newKeyLimiter(0, 0)
	if _, ok := off.take("any", 1000, now); !ok {
		t.Error("a limiter with rate 0 refused")
	}
}

// FuzzCheckStruct reads random JSON as the Struct a Connect client sends:
// structData.Check refuses it or lets through data that the event validator
// finds neither too deep nor inexact; never a panic.
func FuzzCheckStruct(f *testing.F) {
	f.Add([]byte(`{"amount":742.5,"user":{"segment":"VIP","tags":["a",1,true,null]}}`))
	f.Add([]byte(`{"id":9007199254740993}`))
	f.Add([]byte(`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`))
	f.Add([]byte(`{"n":-1e308,"m":1e-300}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s structpb.Struct
		if protojson.Unmarshal(b, &s) != nil {
			return
		}
		if structData.Check(&s) != nil {
			return
		}
		data, err := protojson.Marshal(&s)
		if err != nil {
			t.Fatalf("a Struct the check accepts does not marshal: %v", err)
		}
		if fe, ok := event.AsFieldError(event.ValidateData(data)); ok {
			switch fe.Reason() {
			case event.ReasonTooDeep, event.ReasonDuplicateKey, event.ReasonInvalidUTF8, "invalid_data":
				t.Fatalf("the check accepted %s, which the validator refuses: %v", b, fe)
			}
		}
	})
}

// TestCheckMediaType covers more Content-Type headers than the table of
// docs/hostile-input.md sends: spellings, and several of them.
func TestCheckMediaType(t *testing.T) {
	for _, tt := range []struct {
		values []string
		ok     bool
	}{
		{nil, true},
		{[]string{""}, true},
		{[]string{"application/json"}, true},
		{[]string{"Application/JSON; Charset=UTF-8"}, true},
		{[]string{"application/vnd.shop.order+json"}, true},
		{[]string{"application/+json"}, false},
		{[]string{"application/json", "text/plain"}, false},
		{[]string{"application/json", "application/json"}, false},
		{[]string{"text/plain"}, false},
		{[]string{"application/json; charset=utf-16"}, false},
		{[]string{"application/json; charset"}, false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
		for _, v := range tt.values {
			r.Header.Add("Content-Type", v)
		}
		err := checkMediaType(r)
		if (err == nil) != tt.ok {
			t.Errorf("Content-Type %q: %v, want accepted %v", tt.values, err, tt.ok)
		}
		if fe, isField := event.AsFieldError(err); err != nil && (!isField || fe.Reason() != reasonUnsupportedMedia) {
			t.Errorf("Content-Type %q: %v, want an unsupported_media_type refusal", tt.values, err)
		}
	}
}

// Requests refused at the same moment each learn the same wait: one
// refusal's reservation is gone before the next request reserves, so none
// queues behind another and reports twice the wait.
func TestConcurrentRefusalsReportOneWait(t *testing.T) {
	l := newKeyLimiter(0.001, 1)
	now := time.Now()
	if _, ok := l.take("k", 1, now); !ok {
		t.Fatal("the first event was refused")
	}

	const requests = 200
	waits := make([]time.Duration, requests)
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			waits[i], _ = l.take("k", 1, now)
		})
	}
	wg.Wait()

	for i, wait := range waits {
		if wait <= 0 || wait > 1000*time.Second {
			t.Fatalf("refusal %d: wait %v, want at most 1000s, the time one token takes", i, wait)
		}
	}
}
