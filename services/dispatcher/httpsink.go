package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/zenith-hq/zenith/pkg/sinkconf"
)

// maxResponseBody is how much of an answer is read: enough for the error
// details chat APIs send, and to let the connection be reused. A longer
// body closes the connection instead.
const maxResponseBody = 64 << 10

// httpTarget sends the requests of one HTTP sink and judges the answers by
// the sink's policy.
type httpTarget struct {
	client *http.Client
	// kind names the sink in errors, such as "webhook"; never its URL.
	kind    string
	timeout time.Duration
	policy  sinkconf.Policy
}

// response is an answer of a destination.
type response struct {
	code   int
	header http.Header
	// body is the start of the body, at most maxResponseBody bytes.
	body []byte
}

// post sends body to rawURL with method and the headers set by header,
// within the sink's timeout. It returns the answer, and a *DeliveryError
// when there was none or its status is not 2xx.
func (t httpTarget) post(ctx context.Context, method, rawURL string, body []byte, header func(http.Header)) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		// The error would quote the URL.
		return response{}, finalError("build %s request: invalid url", t.kind)
	}
	header(req.Header)
	if err := t.checkHeaders(req.Header); err != nil {
		return response{}, err
	}

	resp, err := t.client.Do(req)
	if err != nil {
		return response{}, t.requestError(err)
	}
	defer resp.Body.Close()
	answer := response{code: resp.StatusCode, header: resp.Header}
	answer.body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil && answer.ok() {
		// A success whose body broke off is still a success.
		err = nil
	}
	return answer, t.judge(answer)
}

// checkHeaders refuses the headers net/http would refuse to send. Its
// refusal would not be a network error but the request's own, the same on
// every attempt: a final error, which the circuit breaker does not count.
// Header values may be secret, so the error names the header only.
func (t httpTarget) checkHeaders(h http.Header) error {
	for name, values := range h {
		if !httpguts.ValidHeaderFieldName(name) {
			return finalError("build %s request: header name %q is not valid", t.kind, name)
		}
		for _, value := range values {
			if !httpguts.ValidHeaderFieldValue(value) {
				return finalError("build %s request: header %s holds a control character", t.kind, name)
			}
		}
	}
	return nil
}

func (r response) ok() bool {
	return r.code >= 200 && r.code < 300
}

// requestError turns a failed request into a *DeliveryError. A refused
// address is final: trying again would be refused again.
func (t httpTarget) requestError(err error) error {
	var blocked *BlockedAddressError
	if errors.As(err, &blocked) {
		return &DeliveryError{Err: fmt.Errorf("%s request: %w", t.kind, blocked)}
	}
	return &DeliveryError{Retryable: true, Err: fmt.Errorf("%s request: %w", t.kind, scrubURL(err))}
}

// judge returns nil for a 2xx answer, else a *DeliveryError retryable as
// the policy says, carrying the wait Retry-After asks for.
func (t httpTarget) judge(r response) error {
	if r.ok() {
		return nil
	}
	return &DeliveryError{
		Retryable:  t.policy.Retryable(r.code),
		Code:       r.code,
		RetryAfter: parseRetryAfter(r.header.Get("Retry-After"), time.Now()),
		Err:        fmt.Errorf("%s answered %d", t.kind, r.code),
	}
}

// maxRetryAfterSeconds bounds a Retry-After read, before the dispatcher's
// own cap, so that a huge value cannot overflow a Duration.
const maxRetryAfterSeconds = 24 * 60 * 60

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date. It
// returns 0 when the value is missing, malformed or in the past.
func parseRetryAfter(value string, now time.Time) time.Duration {
	if value == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(value, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second
	}
	if at, err := http.ParseTime(value); err == nil && at.After(now) {
		return at.Sub(now)
	}
	return 0
}

// scrubURL drops the URL net/http puts in its errors: it may hold a token.
func scrubURL(err error) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err
	}
	return err
}
