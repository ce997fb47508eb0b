package sinkconf

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// S3 archives actions in an S3 bucket, or any S3-compatible store: the
// events are gathered in newline-delimited JSON objects, gzipped, under
// <prefix>source=<source>/date=<yyyy-mm-dd>/hour=<hh>/ by the event's time
// (UTC). An object is written when it holds MaxEvents events or MaxBytes
// bytes, or FlushAfter after its first event; an action is acknowledged only
// once the object holding it is stored.
type S3 struct {
	// Bucket is the bucket's name.
	Bucket string `json:"bucket"`
	// Prefix starts every object key, such as "zenith/".
	Prefix string `json:"prefix,omitempty"`
	// Region is the bucket's region; empty means us-east-1.
	Region string `json:"region,omitempty"`
	// Endpoint is the URL of an S3-compatible store; empty means AWS.
	Endpoint string `json:"endpoint,omitempty"`
	// PathStyle puts the bucket in the URL's path rather than its host
	// name, as most S3-compatible stores need.
	PathStyle bool `json:"path_style,omitempty"`
	// AccessKeyID and SecretAccessKey are static credentials; without them
	// the AWS SDK's default chain is used (environment, workload identity).
	AccessKeyID     string `json:"access_key_id,omitempty"`
	SecretAccessKey Secret `json:"secret_access_key,omitempty"`
	// SessionToken goes with temporary static credentials.
	SessionToken Secret `json:"session_token,omitempty"`

	// MaxEvents bounds the events of one object; 0 means DefaultMaxEvents.
	MaxEvents int `json:"max_events,omitempty"`
	// MaxBytes bounds the uncompressed size of one object; 0 means
	// DefaultMaxBytes.
	MaxBytes int `json:"max_bytes,omitempty"`
	// FlushAfter is how long an object gathers events before it is written,
	// as a Go duration; empty means DefaultFlushAfter.
	FlushAfter string `json:"flush_after,omitempty"`
	// Timeout bounds one write of an object; empty means DefaultTimeout.
	Timeout string `json:"timeout,omitempty"`
	// Policy says how failed writes are retried.
	Policy Policy `json:"policy,omitzero"`
}

// S3 defaults.
const (
	DefaultRegion     = "us-east-1"
	DefaultMaxEvents  = 5000
	DefaultMaxBytes   = 16 << 20
	DefaultFlushAfter = time.Minute
)

// Bounds of the S3 batching settings.
const (
	maxS3Events = 100000
	maxS3Bytes  = 1 << 30
)

// bucketPattern is the S3 bucket naming rule, loosely: stores other than AWS
// accept a little more, which is not worth refusing.
var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.\-_]{2,62}$`)

// ParseS3 reads and checks S3 settings.
func ParseS3(config json.RawMessage) (S3, error) {
	var s S3
	if err := decodeStrict(config, &s); err != nil {
		return S3{}, err
	}
	if err := s.check(); err != nil {
		return S3{}, err
	}
	return s, nil
}

func (s S3) check() error {
	switch {
	case !bucketPattern.MatchString(s.Bucket):
		return fieldErr("bucket", "must be a bucket name: 3 to 63 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit")
	case strings.HasPrefix(s.Prefix, "/") || strings.Contains(s.Prefix, ".."):
		return fieldErr("prefix", "must not start with '/' or hold '..'")
	case (s.AccessKeyID == "") != (s.SecretAccessKey == ""):
		return fieldErr("secret_access_key", "must be set with access_key_id, or neither")
	case s.SessionToken != "" && s.AccessKeyID == "":
		return fieldErr("session_token", "needs access_key_id and secret_access_key")
	case s.MaxEvents < 0 || s.MaxEvents > maxS3Events:
		return fieldErr("max_events", "must be between 1 and %d (0 for the default)", maxS3Events)
	case s.MaxBytes < 0 || s.MaxBytes > maxS3Bytes:
		return fieldErr("max_bytes", "must be between 1 and %d (0 for the default)", maxS3Bytes)
	}
	if err := s.checkCredentials(); err != nil {
		return err
	}
	if s.Endpoint != "" {
		if err := checkHTTPURL("endpoint", s.Endpoint); err != nil {
			return err
		}
	}
	if _, err := s.Flush(); err != nil {
		return err
	}
	if _, err := s.AttemptTimeout(); err != nil {
		return err
	}
	return s.Policy.check()
}

// checkCredentials checks the static credentials that travel in request
// headers: the key id (in Authorization) and the session token.
func (s S3) checkCredentials() error {
	if err := checkHeaderValue("access_key_id", s.AccessKeyID); err != nil {
		return err
	}
	return checkHeaderValue("session_token", s.SessionToken.Value())
}

// Flush returns how long an object gathers events before it is written.
func (s S3) Flush() (time.Duration, error) {
	return parseDuration("flush_after", s.FlushAfter, DefaultFlushAfter, time.Millisecond, time.Hour)
}

// AttemptTimeout returns the timeout of one object write.
func (s S3) AttemptTimeout() (time.Duration, error) {
	return attemptTimeout(s.Timeout)
}

// BatchEvents returns the most events of one object.
func (s S3) BatchEvents() int {
	if s.MaxEvents == 0 {
		return DefaultMaxEvents
	}
	return s.MaxEvents
}

// BatchBytes returns the most uncompressed bytes of one object.
func (s S3) BatchBytes() int {
	if s.MaxBytes == 0 {
		return DefaultMaxBytes
	}
	return s.MaxBytes
}

// BucketRegion returns the bucket's region.
func (s S3) BucketRegion() string {
	if s.Region == "" {
		return DefaultRegion
	}
	return s.Region
}

// LogValue logs the settings redacted.
func (s S3) LogValue() slog.Value {
	return redactedLogValue(s)
}

// DeliveryPolicy returns the sink's delivery policy.
func (s S3) DeliveryPolicy() Policy {
	return s.Policy
}

// Redacted returns a copy with the secret key and session token hidden.
func (s S3) Redacted() Settings {
	s.SecretAccessKey = s.SecretAccessKey.redact()
	s.SessionToken = s.SessionToken.redact()
	return s
}
