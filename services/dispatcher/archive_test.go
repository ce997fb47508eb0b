package dispatcher

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// fakeS3 is an S3-compatible server on loopback, holding one bucket.
type fakeS3 struct {
	url    string
	bucket string
}

func newFakeS3(t testing.TB) fakeS3 {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("archive"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	return fakeS3{url: srv.URL, bucket: "archive"}
}

// config returns the settings of an S3 sink on the fake server; extra holds
// more settings, each followed by a comma.
func (f fakeS3) config(extra string) string {
	return `{` + extra + `"bucket":"` + f.bucket + `","prefix":"zenith/","endpoint":"` + f.url +
		`","path_style":true,"access_key_id":"AKIDTEST","secret_access_key":"secret-test"}`
}

// client returns an S3 client reading the fake server.
func (f fakeS3) client(t testing.TB) *s3.Client {
	t.Helper()
	cfg, err := sinkconf.ParseS3([]byte(f.config("")))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newS3Client(cfg, testClient())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// objects returns the archived objects by key, each as its lines.
func (f fakeS3) objects(t testing.TB) map[string][]webhookBody {
	t.Helper()
	ctx := context.Background()
	c := f.client(t)
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(f.bucket)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]webhookBody{}
	for _, obj := range list.Contents {
		got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: obj.Key})
		if err != nil {
			t.Fatal(err)
		}
		out[*obj.Key] = readNDJSONGzip(t, got.Body)
		got.Body.Close()
	}
	return out
}

func readNDJSONGzip(t testing.TB, r io.Reader) []webhookBody {
	t.Helper()
	zr, err := gzip.NewReader(r)
	if err != nil {
		t.Fatalf("object is not gzip: %v", err)
	}
	var lines []webhookBody
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line webhookBody
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func newTestArchive(t testing.TB, config string, maxHeld int) *archive {
	t.Helper()
	b, err := NewArchiveFactory(testClient(), maxHeld)(storeSink("s3", config))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b.(*archive)
}

// results collects the outcomes archives report.
type results chan Result

func (r results) done(res Result) { r <- res }

func (r results) wait(t testing.TB, n int) []Result {
	t.Helper()
	var got []Result
	timeout := time.After(waitTimeout)
	for len(got) < n {
		select {
		case res := <-r:
			got = append(got, res)
		case <-timeout:
			t.Fatalf("got %d outcomes, want %d", len(got), n)
		}
	}
	return got
}

var objectKeyPattern = regexp.MustCompile(`^zenith/source=shop/date=2026-03-01/hour=12/\d{8}T\d{6}Z-[0-9a-f-]{36}\.ndjson\.gz$`)

func TestArchiveWritesFullBatch(t *testing.T) {
	s3srv := newFakeS3(t)
	a := newTestArchive(t, s3srv.config(`"max_events":3,"flush_after":"1h",`), 1000)
	res := make(results, 10)

	for _, id := range []string{"ev-1", "ev-2"} {
		if err := a.Add(context.Background(), testAction("r", "s", id), res.done); err != nil {
			t.Fatal(err)
		}
	}
	if len(res) != 0 || len(s3srv.objects(t)) != 0 {
		t.Fatalf("%d outcomes and %d objects before the batch is full, want none", len(res), len(s3srv.objects(t)))
	}

	if err := a.Add(context.Background(), testAction("r", "s", "ev-3"), res.done); err != nil {
		t.Fatal(err)
	}
	for _, r := range res.wait(t, 3) {
		if r.Err != nil || r.Code != http.StatusOK {
			t.Errorf("outcome %+v, want stored", r)
		}
	}
	objects := s3srv.objects(t)
	if len(objects) != 1 {
		t.Fatalf("%d objects, want 1", len(objects))
	}
	for key, lines := range objects {
		if !objectKeyPattern.MatchString(key) {
			t.Errorf("object key %q, want zenith/source=shop/date=2026-03-01/hour=12/<time>-<uuid>.ndjson.gz", key)
		}
		var ids []string
		for _, l := range lines {
			ids = append(ids, l.Event.ID)
			if string(l.Event.Data) != `{"amount":742.5,"user":{"segment":"VIP"}}` || l.DispatchID == "" || l.Rule.Name != "vip-purchase" {
				t.Errorf("line %+v, want the envelope of the purchase", l)
			}
		}
		if fmt.Sprint(ids) != "[ev-1 ev-2 ev-3]" {
			t.Errorf("object holds events %v, want [ev-1 ev-2 ev-3]", ids)
		}
	}
}

func TestArchivePartitionsByHourAndFlushesByAge(t *testing.T) {
	s3srv := newFakeS3(t)
	a := newTestArchive(t, s3srv.config(`"flush_after":"20ms",`), 1000)
	res := make(results, 10)

	early, late := testAction("r", "s", "ev-1"), testAction("r", "s", "ev-2")
	late.Event.Time = late.Event.Time.Add(time.Hour)
	if err := a.Add(context.Background(), early, res.done); err != nil {
		t.Fatal(err)
	}
	if err := a.Add(context.Background(), late, res.done); err != nil {
		t.Fatal(err)
	}
	res.wait(t, 2)

	var keys []string
	for key := range s3srv.objects(t) {
		keys = append(keys, key[:len("zenith/source=shop/date=2026-03-01/hour=12")])
	}
	sort.Strings(keys)
	if fmt.Sprint(keys) != "[zenith/source=shop/date=2026-03-01/hour=12 zenith/source=shop/date=2026-03-01/hour=13]" {
		t.Errorf("objects in %v, want one per hour", keys)
	}
}

func TestArchiveCloseWritesWhatItHolds(t *testing.T) {
	s3srv := newFakeS3(t)
	a := newTestArchive(t, s3srv.config(`"flush_after":"1h",`), 1000)
	res := make(results, 10)
	for _, id := range []string{"ev-1", "ev-2"} {
		if err := a.Add(context.Background(), testAction("r", "s", id), res.done); err != nil {
			t.Fatal(err)
		}
	}

	a.Close(context.Background())
	for _, r := range res.wait(t, 2) {
		if r.Err != nil {
			t.Errorf("outcome %v, want stored", r.Err)
		}
	}
	if n := len(s3srv.objects(t)); n != 1 {
		t.Errorf("%d objects after Close, want 1", n)
	}
	if err := a.Add(context.Background(), testAction("r", "s", "ev-3"), res.done); !errors.Is(err, errArchiveClosed) {
		t.Errorf("Add after Close = %v, want errArchiveClosed", err)
	}
}

func TestArchiveWriteFailures(t *testing.T) {
	s3srv := newFakeS3(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := "http://" + ln.Addr().String()
	ln.Close()

	cases := []struct {
		name, config string
		code         int
		retryable    bool
	}{
		{"no such bucket", `{"bucket":"missing","endpoint":"` + s3srv.url + `","path_style":true,"access_key_id":"A","secret_access_key":"S","max_events":1}`,
			http.StatusNotFound, false},
		{"store down", `{"bucket":"archive","endpoint":"` + closedPort + `","path_style":true,"access_key_id":"A","secret_access_key":"S","max_events":1,"timeout":"2s"}`,
			0, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := newTestArchive(t, c.config, 1000)
			res := make(results, 1)
			if err := a.Add(context.Background(), testAction("r", "s", "ev-1"), res.done); err != nil {
				t.Fatal(err)
			}
			r := res.wait(t, 1)[0]
			var de *DeliveryError
			if !errors.As(r.Err, &de) || r.Code != c.code || de.Retryable != c.retryable {
				t.Errorf("outcome %d, %v; want code %d, retryable %v", r.Code, r.Err, c.code, c.retryable)
			}
		})
	}
}

func TestArchiveBatchesManyEventsIntoFewObjects(t *testing.T) {
	s3srv := newFakeS3(t)
	a := newTestArchive(t, s3srv.config(`"flush_after":"1h",`), 10000)
	const events = 20000
	res := make(results, events)
	for i := range events {
		if err := a.Add(context.Background(), testAction("r", "s", fmt.Sprintf("ev-%d", i)), res.done); err != nil {
			t.Fatal(err)
		}
	}
	res.wait(t, events)

	objects := s3srv.objects(t)
	seen := map[string]bool{}
	for _, lines := range objects {
		for _, l := range lines {
			seen[l.Event.ID] = true
		}
	}
	if len(objects) != events/sinkconf.DefaultMaxEvents || len(seen) != events {
		t.Errorf("%d events in %d objects, want %d in %d", len(seen), len(objects), events, events/sinkconf.DefaultMaxEvents)
	}
}

func TestArchiveBatchBoundedByHeldActions(t *testing.T) {
	a := newTestArchive(t, newFakeS3(t).config(""), 7)
	if a.maxEvents != 7 {
		t.Errorf("batch of %d events, want 7: at most what may be held unacknowledged", a.maxEvents)
	}
}
