package dispatcher

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/zenith-hq/zenith/pkg/action"
	"github.com/zenith-hq/zenith/pkg/metrics"
	"github.com/zenith-hq/zenith/pkg/sinkconf"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/telemetry"
)

// errArchiveClosed is Add's answer once the archive is closed, which happens
// when its settings change: the action should be handed to the new one.
var errArchiveClosed = &DeliveryError{Retryable: true, Err: errors.New("archive closed")}

// archive is a Batcher writing actions to S3 as gzipped newline-delimited
// JSON, one object per batch and per partition (source, date and hour of the
// event). A batch is written when full (events or bytes) or old enough;
// each action's done function learns the outcome of the write holding it.
type archive struct {
	client     *s3.Client
	bucket     string
	prefix     string
	maxEvents  int
	maxBytes   int
	flushAfter time.Duration
	timeout    time.Duration
	policy     sinkconf.Policy

	mu      sync.Mutex
	open    map[string]*batch // by partition
	closed  bool
	sending sync.WaitGroup // Adds handing a full batch to run
	sealed  chan *batch
	stopCtx context.Context // set by Close, before stop is closed
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// batch is the events of one future object.
type batch struct {
	partition string
	opened    time.Time
	lines     bytes.Buffer
	done      []func(Result)
	// links are the dispatches of the events, which the write's span links
	// to: it belongs to as many traces as the batch has events.
	links []trace.Link
}

// NewArchiveFactory returns the BatcherFactory of S3 sinks. They reach S3
// through client, which should come from NewSinkClient. maxHeld bounds the
// events of one batch whatever the sink says: a batch's actions stay
// unacknowledged until it is written, and JetStream stops handing out
// actions once too many are unacknowledged.
func NewArchiveFactory(client *http.Client, maxHeld int) BatcherFactory {
	return func(s store.Sink) (Batcher, error) {
		cfg, err := sinkconf.ParseS3(s.Config)
		if err != nil {
			return nil, fmt.Errorf("s3 settings: %w", err)
		}
		s3client, err := newS3Client(cfg, client)
		if err != nil {
			return nil, err
		}
		flushAfter, _ := cfg.Flush()
		timeout, _ := cfg.AttemptTimeout()
		a := &archive{
			client:     s3client,
			bucket:     cfg.Bucket,
			prefix:     cfg.Prefix,
			maxEvents:  max(1, min(cfg.BatchEvents(), maxHeld)),
			maxBytes:   cfg.BatchBytes(),
			flushAfter: flushAfter,
			timeout:    timeout,
			policy:     cfg.Policy,
			open:       map[string]*batch{},
			sealed:     make(chan *batch, 1),
			stop:       make(chan struct{}),
			stopped:    make(chan struct{}),
		}
		go a.run()
		return a, nil
	}
}

// newS3Client builds the S3 client of cfg. Credentials come from cfg, or
// from the SDK's default chain; only the calls to S3 go through the egress
// guard's client, so that the chain can still reach the instance metadata
// service it may rely on.
func newS3Client(cfg sinkconf.S3, client *http.Client) (*s3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.BucketRegion())}
	if cfg.AccessKeyID != "" {
		creds := credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey.Value(), cfg.SessionToken.Value())
		opts = append(opts, awsconfig.WithCredentialsProvider(creds))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 settings: load AWS configuration: %w", err)
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.HTTPClient = client
		o.UsePathStyle = cfg.PathStyle
		// Stores other than AWS may not know the newer checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	}), nil
}

// Add takes a into the batch of its partition, and hands the batch to the
// writer once it is full; it waits while the writer is busy with an earlier
// full batch, which slows the sink's deliveries to what S3 takes.
func (a *archive) Add(ctx context.Context, act action.Action, done func(Result)) error {
	line, err := envelope(act)
	if err != nil {
		return finalError("encode archive line: %w", err)
	}

	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errArchiveClosed
	}
	key := partition(act)
	b, ok := a.open[key]
	if !ok {
		b = &batch{partition: key, opened: time.Now()}
		a.open[key] = b
	}
	b.lines.Write(line)
	b.lines.WriteByte('\n')
	b.done = append(b.done, done)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b.links = append(b.links, trace.Link{SpanContext: sc})
	}
	if len(b.done) < a.maxEvents && b.lines.Len() < a.maxBytes {
		a.mu.Unlock()
		return nil
	}
	delete(a.open, key)
	a.sending.Add(1)
	a.mu.Unlock()

	a.sealed <- b
	a.sending.Done()
	return nil
}

// partition is where the event of a is archived: its source, and the date
// and hour of the event in UTC.
func partition(a action.Action) string {
	t := a.Event.Time
	if t.IsZero() {
		t = a.MatchedAt
	}
	t = t.UTC()
	return fmt.Sprintf("source=%s/date=%s/hour=%02d", a.Event.Source, t.Format(time.DateOnly), t.Hour())
}

// Close writes every batch held, full or not, and stops the writer. Adds
// after Close return errArchiveClosed.
func (a *archive) Close(ctx context.Context) {
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.stopCtx = ctx
		a.mu.Unlock()
		close(a.stop)
	})
	<-a.stopped
}

// run writes full batches as they come, and batches older than flushAfter
// on each tick, until Close.
func (a *archive) run() {
	defer close(a.stopped)
	ticker := time.NewTicker(max(a.flushAfter/4, 5*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case b := <-a.sealed:
			a.write(context.Background(), b)
		case now := <-ticker.C:
			for _, b := range a.takeOlder(now.Add(-a.flushAfter)) {
				a.write(context.Background(), b)
			}
		case <-a.stop:
			a.drain()
			return
		}
	}
}

// takeOlder removes and returns the open batches opened before t.
func (a *archive) takeOlder(t time.Time) []*batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	var old []*batch
	for key, b := range a.open {
		if b.opened.Before(t) {
			old = append(old, b)
			delete(a.open, key)
		}
	}
	return old
}

// drain writes every batch left, once Close has stopped new ones: the open
// ones, and the full ones Adds are still handing over.
func (a *archive) drain() {
	ctx := a.stopCtx
	for _, b := range a.takeOlder(time.Now().Add(time.Hour)) {
		a.write(ctx, b)
	}
	handedOver := make(chan struct{})
	go func() {
		a.sending.Wait()
		close(handedOver)
	}()
	for {
		select {
		case b := <-a.sealed:
			a.write(ctx, b)
		case <-handedOver:
			select {
			case b := <-a.sealed:
				a.write(ctx, b)
			default:
				return
			}
		}
	}
}

// write stores b as one object and tells each of its actions the outcome.
// The write starts a trace of its own, linked to the dispatch of every
// event in the batch, as OpenTelemetry's conventions ask of batches; the
// request to S3 carries it.
func (a *archive) write(ctx context.Context, b *batch) {
	ctx, span := tracer.Start(ctx, "archive.write", trace.WithNewRoot(), trace.WithLinks(b.links...),
		trace.WithAttributes(attribute.Int("events", len(b.done))))
	key := a.objectKey(b)
	err := a.put(ctx, key, b)
	telemetry.EndSpan(span, err)
	result := a.result(key, err)
	if err == nil {
		metrics.ArchiveObjects.WithLabelValues("stored").Inc()
		metrics.ArchiveObjectEvents.Observe(float64(len(b.done)))
	} else {
		metrics.ArchiveObjects.WithLabelValues("failed").Inc()
	}
	for _, done := range b.done {
		done(result)
	}
}

// objectKey names the object of b: its partition, then the time it was
// opened and a random part, so that no two objects collide.
func (a *archive) objectKey(b *batch) string {
	return fmt.Sprintf("%s%s/%s-%s.ndjson.gz", a.prefix, b.partition,
		b.opened.UTC().Format("20060102T150405Z"), uuid.NewString())
}

func (a *archive) put(ctx context.Context, key string, b *batch) error {
	var body bytes.Buffer
	zw := gzip.NewWriter(&body)
	if _, err := zw.Write(b.lines.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	_, err := a.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:          aws.String(a.bucket),
		Key:             aws.String(key),
		Body:            bytes.NewReader(body.Bytes()),
		ContentLength:   aws.Int64(int64(body.Len())),
		ContentType:     aws.String("application/x-ndjson"),
		ContentEncoding: aws.String("gzip"),
	})
	return err
}

// result is the outcome of writing key for each action of its batch. An
// answer's status is retryable as the policy says; no answer is retryable.
func (a *archive) result(key string, err error) Result {
	if err == nil {
		return Result{Code: http.StatusOK}
	}
	code := 0
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		code = respErr.HTTPStatusCode()
	}
	return Result{Code: code, Err: &DeliveryError{
		Retryable: code == 0 || a.policy.Retryable(code),
		Code:      code,
		Err:       fmt.Errorf("write s3 object %s: %w", key, err),
	}}
}
