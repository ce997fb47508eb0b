package apikey

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrUnauthenticated means a key is unknown, revoked or wrong. Callers must
// answer all three the same way, so that a caller learns nothing about which.
var ErrUnauthenticated = errors.New("unauthenticated")

// ErrNotFound is what a Lookup returns for an id no key has.
var ErrNotFound = errors.New("api key not found")

// Record is a stored key as the Verifier needs it.
type Record struct {
	ID         string
	SourceID   string
	SourceName string
	Hash       string
	Revoked    bool
}

// Principal is who a verified key speaks for.
type Principal struct {
	KeyID      string
	SourceID   string
	SourceName string
}

// Lookup finds the stored key with an id. It returns ErrNotFound when there is
// none.
type Lookup func(ctx context.Context, id string) (Record, error)

// Verifier checks API keys against their stored bcrypt hashes and caches
// the result: a key that verified once is afterwards checked by comparing its
// SHA-256 digest in constant time, and its stored row is read again (without
// bcrypt) once its cache entry is older than the revalidation interval, so a
// revoked key stops working within that interval. Invalidate forces that read
// at the next use of every key. A Verifier is safe for concurrent use.
type Verifier struct {
	lookup     Lookup
	revalidate time.Duration
	recordUse  func(ctx context.Context, keyID string)
	now        func() time.Time
	// generation grows on Invalidate; entries of an older generation are
	// re-read before use.
	generation atomic.Uint64

	mu    sync.RWMutex
	cache map[string]*cachedKey

	// checks lets concurrent requests with the same key share one check:
	// a burst of first requests after a start would otherwise pay bcrypt
	// once each.
	checks singleflight.Group
}

type cachedKey struct {
	digest     [sha256.Size]byte
	principal  Principal
	checkedAt  time.Time
	generation uint64
}

// maxCached bounds the cache. Only keys that verified are cached, so junk keys
// cannot fill it; past the bound the cache is cleared and refills on use.
const maxCached = 100_000

// VerifierOption tunes a Verifier.
type VerifierOption func(*Verifier)

// WithUseRecorder has the Verifier call record with a key's id each time it
// reads the key's row and the key verifies: at its first use and then at
// most once per revalidation interval, so that record may write to the
// database. record runs on the request's path and handles its own errors.
func WithUseRecorder(record func(ctx context.Context, keyID string)) VerifierOption {
	return func(v *Verifier) { v.recordUse = record }
}

// NewVerifier returns a Verifier reading keys with lookup and re-reading a
// cached key's row once it is older than revalidate.
func NewVerifier(lookup Lookup, revalidate time.Duration, opts ...VerifierOption) *Verifier {
	v := &Verifier{
		lookup:     lookup,
		revalidate: revalidate,
		now:        time.Now,
		cache:      make(map[string]*cachedKey),
		recordUse:  func(context.Context, string) {},
	}
	for _, opt := range opts {
		opt(v)
	}
	return v
}

// Verify returns the principal key speaks for. It returns ErrUnauthenticated
// for a malformed, unknown, revoked or wrong key, and another error only when
// the key could not be checked (the database is away, for instance).
func (v *Verifier) Verify(ctx context.Context, key string) (Principal, error) {
	id, err := ID(key)
	if err != nil {
		return Principal{}, ErrUnauthenticated
	}
	digest := sha256.Sum256([]byte(key))
	// Read before any lookup, so that an Invalidate racing with the lookup
	// leaves the new entry stale rather than trusted.
	gen := v.generation.Load()

	v.mu.RLock()
	cached := v.cache[id]
	v.mu.RUnlock()
	if cached != nil && subtle.ConstantTimeCompare(cached.digest[:], digest[:]) == 1 {
		if cached.generation == gen && v.now().Sub(cached.checkedAt) < v.revalidate {
			return cached.principal, nil
		}
		return v.shared("recheck", id, digest, func() (Principal, error) { return v.recheck(ctx, id, gen, cached) })
	}
	return v.shared("verify", id, digest, func() (Principal, error) { return v.verifySlow(ctx, id, key, gen, digest) })
}

// shared runs check once for all the concurrent callers presenting the
// same key, whose digest tells it apart from any other string with the
// same id.
func (v *Verifier) shared(kind, id string, digest [sha256.Size]byte, check func() (Principal, error)) (Principal, error) {
	p, err, _ := v.checks.Do(kind+"\x00"+id+"\x00"+string(digest[:]), func() (any, error) {
		return check()
	})
	principal, _ := p.(Principal)
	return principal, err
}

// recheck re-reads a cached key's row to notice a revocation, without bcrypt:
// the digest already matched.
func (v *Verifier) recheck(ctx context.Context, id string, gen uint64, cached *cachedKey) (Principal, error) {
	rec, err := v.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && (rec.Revoked || rec.SourceID != cached.principal.SourceID)) {
		v.forget(id)
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}

	fresh := v.entry(cached.digest, rec, gen)
	v.store(id, fresh)
	v.recordUse(ctx, id)
	return fresh.principal, nil
}

func (v *Verifier) verifySlow(ctx context.Context, id, key string, gen uint64, digest [sha256.Size]byte) (Principal, error) {
	rec, err := v.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	if rec.Revoked || !Matches(rec.Hash, key) {
		return Principal{}, ErrUnauthenticated
	}

	entry := v.entry(digest, rec, gen)
	v.store(id, entry)
	v.recordUse(ctx, id)
	return entry.principal, nil
}

// entry builds a cache entry of generation gen, read before the lookup that
// produced rec.
func (v *Verifier) entry(digest [sha256.Size]byte, rec Record, gen uint64) *cachedKey {
	return &cachedKey{
		digest:     digest,
		principal:  Principal{KeyID: rec.ID, SourceID: rec.SourceID, SourceName: rec.SourceName},
		checkedAt:  v.now(),
		generation: gen,
	}
}

func (v *Verifier) store(id string, entry *cachedKey) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= maxCached {
		clear(v.cache)
	}
	v.cache[id] = entry
}

func (v *Verifier) forget(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.cache, id)
}

// Invalidate makes the next use of every cached key re-read its row, so a
// revocation announced on the change subject applies at once.
func (v *Verifier) Invalidate() {
	v.generation.Add(1)
}
