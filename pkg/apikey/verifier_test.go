package apikey_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

const revalidate = time.Minute

// verifierEnv is a Verifier reading keys from a real database, with a lookup
// counter and a clock the test moves.
type verifierEnv struct {
	st      *store.Store
	source  store.Source
	v       *apikey.Verifier
	lookups atomic.Int64
	now     atomic.Int64 // unix nanoseconds
}

func newVerifierEnv(t *testing.T) *verifierEnv {
	t.Helper()
	st, _ := testenv.Store(t)
	src, _, err := st.EnsureSource(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	env := &verifierEnv{st: st, source: src}
	env.now.Store(time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC).UnixNano())
	env.v = apikey.NewVerifier(func(ctx context.Context, id string) (apikey.Record, error) {
		env.lookups.Add(1)
		return st.LookupKey(ctx, id)
	}, revalidate)
	apikey.SetClock(env.v, func() time.Time { return time.Unix(0, env.now.Load()) })
	return env
}

func (env *verifierEnv) advance(d time.Duration) {
	env.now.Add(int64(d))
}

// addKey stores key for the shop source under name and returns its id.
func (env *verifierEnv) addKey(t *testing.T, key, name string) string {
	t.Helper()
	id, err := apikey.ID(key)
	if err != nil {
		t.Fatal(err)
	}
	hash, err := apikey.Hash(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.st.CreateKey(context.Background(), id, env.source.ID, name, hash); err != nil {
		t.Fatal(err)
	}
	return id
}

func (env *verifierEnv) revoke(t *testing.T, name string) {
	t.Helper()
	n, err := env.st.RevokeKeysNamed(context.Background(), env.source.ID, name, "")
	if err != nil || n != 1 {
		t.Fatalf("RevokeKeysNamed = %d, %v; want 1 key revoked", n, err)
	}
}

// expect verifies key and checks the outcome and the lookups it cost.
func (env *verifierEnv) expect(t *testing.T, key string, wantErr error, wantLookups int64) apikey.Principal {
	t.Helper()
	before := env.lookups.Load()
	p, err := env.v.Verify(context.Background(), key)
	if !errors.Is(err, wantErr) {
		t.Fatalf("Verify = %+v, %v; want error %v", p, err, wantErr)
	}
	if got := env.lookups.Load() - before; got != wantLookups {
		t.Errorf("Verify cost %d lookups, want %d", got, wantLookups)
	}
	return p
}

func TestVerifierCaches(t *testing.T) {
	env := newVerifierEnv(t)
	key, id, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env.addKey(t, key, "SHOP_API_KEY")

	p := env.expect(t, key, nil, 1)
	want := apikey.Principal{KeyID: id, SourceID: env.source.ID, SourceName: "shop"}
	if p != want {
		t.Errorf("principal = %+v, want %+v", p, want)
	}

	// Within the interval a known key costs neither a lookup nor bcrypt:
	// timing the calls would be flaky, so the lookups stand for both (bcrypt
	// only ever follows a lookup).
	env.advance(revalidate - time.Second)
	for range 100 {
		if got := env.expect(t, key, nil, 0); got != want {
			t.Fatalf("cached principal = %+v, want %+v", got, want)
		}
	}
}

// TestVerifierSharesConcurrentChecks sends a burst of first requests with
// one key, as producers do right after an ingestor starts: they share one
// lookup and one bcrypt instead of paying one each.
func TestVerifierSharesConcurrentChecks(t *testing.T) {
	env := newVerifierEnv(t)
	key, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env.addKey(t, key, "SHOP_API_KEY")

	const burst = 32
	start := make(chan struct{})
	errs := make(chan error, burst)
	for range burst {
		go func() {
			<-start
			_, err := env.v.Verify(context.Background(), key)
			errs <- err
		}()
	}
	close(start)
	for range burst {
		if err := <-errs; err != nil {
			t.Errorf("Verify = %v", err)
		}
	}
	// Calls that arrive after the shared check ended find the cache; none
	// runs a check of its own beside another.
	if got := env.lookups.Load(); got >= burst/2 {
		t.Errorf("%d concurrent first uses cost %d lookups, want them shared", burst, got)
	}
}

func TestVerifierFreeFormKey(t *testing.T) {
	env := newVerifierEnv(t)
	key := "operator-chosen-key-from-the-vault"
	id := env.addKey(t, key, "SHOP_API_KEY")

	p := env.expect(t, key, nil, 1)
	if p.KeyID != id || p.SourceName != "shop" {
		t.Errorf("principal = %+v, want key %s of shop", p, id)
	}
	env.expect(t, key, nil, 0)
	env.expect(t, key+"x", apikey.ErrUnauthenticated, 1) // another id: unknown
}

func TestVerifierRefusesWrongKeyWithSameID(t *testing.T) {
	env := newVerifierEnv(t)
	key, id, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env.addKey(t, key, "SHOP_API_KEY")
	forged := "zk_" + id + "_" + "abcdefghijklmnopqrstuvwxyz012345"
	if forgedID, _ := apikey.ID(forged); forgedID != id {
		t.Fatalf("forged key has id %q, want %q", forgedID, id)
	}

	// Before the real key is cached, and after: the cache must not vouch for
	// a key whose id alone matches.
	env.expect(t, forged, apikey.ErrUnauthenticated, 1)
	env.expect(t, key, nil, 1)
	env.expect(t, forged, apikey.ErrUnauthenticated, 1)
	env.expect(t, forged, apikey.ErrUnauthenticated, 1)
	// The failures did not evict the real key.
	env.expect(t, key, nil, 0)
}

func TestVerifierRefuses(t *testing.T) {
	env := newVerifierEnv(t)
	tests := []struct {
		name        string
		key         string
		wantLookups int64
	}{
		{"empty", "", 0},
		{"malformed", "short", 0},
		{"unknown generated", "zk_zzzzzzzzzzzz_abcdefghijklmnopqrstuvwxyz012345", 1},
		{"unknown free-form", "nobody-has-this-key-at-all", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env.expect(t, tt.key, apikey.ErrUnauthenticated, tt.wantLookups)
		})
	}
}

func TestVerifierNoticesRevocation(t *testing.T) {
	env := newVerifierEnv(t)
	key, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env.addKey(t, key, "SHOP_API_KEY")
	env.expect(t, key, nil, 1)

	// Revalidating a key that is still good re-reads its row once, then
	// trusts it for another interval.
	env.advance(revalidate)
	env.expect(t, key, nil, 1)
	env.advance(revalidate / 2)
	env.expect(t, key, nil, 0)

	env.revoke(t, "SHOP_API_KEY")
	// Until the interval ends the cache still answers: that is the bound the
	// Verifier promises, not better.
	env.advance(revalidate/2 - time.Nanosecond)
	env.expect(t, key, nil, 0)
	env.advance(time.Nanosecond)
	env.expect(t, key, apikey.ErrUnauthenticated, 1)
	// The entry is gone: every later try reads the row again.
	env.expect(t, key, apikey.ErrUnauthenticated, 1)
}

func TestVerifierInvalidate(t *testing.T) {
	env := newVerifierEnv(t)
	key, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env.addKey(t, key, "SHOP_API_KEY")
	env.expect(t, key, nil, 1)

	env.v.Invalidate()
	env.expect(t, key, nil, 1)
	env.expect(t, key, nil, 0)

	env.revoke(t, "SHOP_API_KEY")
	env.expect(t, key, nil, 0)
	env.v.Invalidate()
	env.expect(t, key, apikey.ErrUnauthenticated, 1)
}

// A database that cannot answer is not a wrong key: the caller must be able
// to tell the producer to retry rather than that its key is bad.
func TestVerifierLookupFailure(t *testing.T) {
	env := newVerifierEnv(t)
	key, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	env.addKey(t, key, "SHOP_API_KEY")
	env.expect(t, key, nil, 1)
	env.st.Close()

	other := "zk_zzzzzzzzzzzz_abcdefghijklmnopqrstuvwxyz012345"
	_, err = env.v.Verify(context.Background(), other)
	if err == nil || errors.Is(err, apikey.ErrUnauthenticated) {
		t.Errorf("Verify with the database closed = %v, want a lookup error", err)
	}
	env.advance(revalidate)
	_, err = env.v.Verify(context.Background(), key)
	if err == nil || errors.Is(err, apikey.ErrUnauthenticated) {
		t.Errorf("revalidating with the database closed = %v, want a lookup error", err)
	}
}

// The use recorder hears of a key when its row is read and it verifies: at
// its first use and at each revalidation, never for a wrong key.
func TestVerifierRecordsUse(t *testing.T) {
	env := newVerifierEnv(t)
	var used []string
	v := apikey.NewVerifier(env.st.LookupKey, revalidate, apikey.WithUseRecorder(func(_ context.Context, id string) {
		used = append(used, id)
	}))
	apikey.SetClock(v, func() time.Time { return time.Unix(0, env.now.Load()) })
	const key = "use-recorder-key-0123456789"
	id := env.addKey(t, key, "K")
	ctx := context.Background()

	if _, err := v.Verify(ctx, key+"x"); !errors.Is(err, apikey.ErrUnauthenticated) {
		t.Fatalf("wrong key: %v", err)
	}
	for range 3 {
		if _, err := v.Verify(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	env.advance(revalidate)
	if _, err := v.Verify(ctx, key); err != nil {
		t.Fatal(err)
	}
	if len(used) != 2 || used[0] != id || used[1] != id {
		t.Errorf("uses recorded = %v, want %s at the first use and at the revalidation", used, id)
	}
}
