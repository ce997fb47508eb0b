package apikey_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/zenith-hq/zenith/pkg/apikey"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestID(t *testing.T) {
	const (
		id     = "a1b2c3d4e5f6"
		secret = "0123456789abcdefghijklmnopqrstuv"
	)
	tests := []struct {
		name    string
		key     string
		want    string // "fingerprint": an h-prefixed digest
		wantErr bool
	}{
		{name: "generated", key: "zk_" + id + "_" + secret, want: id},
		{name: "generated form, id too short", key: "zk_a1b2c3d4e5_" + secret + "xx", want: "fingerprint"},
		{name: "generated form, secret too short", key: "zk_" + id + "_" + secret[:31], want: "fingerprint"},
		{name: "generated form, no separator", key: "zk_" + id + secret, want: "fingerprint"},
		{name: "free-form at the minimum", key: strings.Repeat("k", apikey.MinLength), want: "fingerprint"},
		{name: "free-form with punctuation", key: "s3cr3t!-shop-key-from-vault", want: "fingerprint"},
		{name: "free-form at the maximum", key: strings.Repeat("k", apikey.MaxLength), want: "fingerprint"},
		{name: "too short", key: strings.Repeat("k", apikey.MinLength-1), wantErr: true},
		{name: "too long", key: strings.Repeat("k", apikey.MaxLength+1), wantErr: true},
		{name: "empty", key: "", wantErr: true},
		{name: "space", key: "shop key with spaces in it", wantErr: true},
		{name: "newline", key: "shop-key-0123456789\n", wantErr: true},
		{name: "non-ASCII", key: "shop-key-0123456789-é", wantErr: true},
	}
	fingerprint := regexp.MustCompile(`^h[0-9a-f]{20}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := apikey.ID(tt.key)
			if tt.wantErr {
				if !errors.Is(err, apikey.ErrMalformed) {
					t.Errorf("ID() = %q, %v; want ErrMalformed", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ID: %v", err)
			}
			if tt.want == "fingerprint" {
				if !fingerprint.MatchString(got) {
					t.Errorf("ID() = %q, want a fingerprint like h + 20 hex digits", got)
				}
			} else if got != tt.want {
				t.Errorf("ID() = %q, want %q", got, tt.want)
			}
			if strings.Contains(tt.key, got) && tt.want == "fingerprint" {
				t.Errorf("fingerprint %q is part of the key", got)
			}
		})
	}
}

func TestIDFingerprintIsStableAndDistinct(t *testing.T) {
	a1, _ := apikey.ID("shop-key-aaaaaaaaaaaaaaaa")
	a2, _ := apikey.ID("shop-key-aaaaaaaaaaaaaaaa")
	b, _ := apikey.ID("shop-key-aaaaaaaaaaaaaaab")
	if a1 != a2 {
		t.Errorf("ID of the same key differs: %q and %q", a1, a2)
	}
	if a1 == b {
		t.Errorf("keys differing in the last byte share id %q", a1)
	}
}

func TestGenerate(t *testing.T) {
	shape := regexp.MustCompile(`^zk_([a-z0-9]{12})_[a-z0-9]{32}$`)
	seen := map[string]bool{}
	for range 50 {
		key, id, err := apikey.Generate()
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		m := shape.FindStringSubmatch(key)
		if m == nil {
			t.Fatalf("Generate() key %q does not look like zk_<12>_<32>", key)
		}
		if m[1] != id {
			t.Errorf("Generate() id = %q, but the key holds %q", id, m[1])
		}
		if got, err := apikey.ID(key); err != nil || got != id {
			t.Errorf("ID(generated key) = %q, %v; want %q", got, err, id)
		}
		if seen[key] {
			t.Fatalf("Generate returned %q twice", key)
		}
		seen[key] = true
	}
}

func TestHashMatches(t *testing.T) {
	key, _, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := apikey.Hash(key)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if strings.Contains(hash, key) {
		t.Fatal("hash contains the key")
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != apikey.Cost {
		t.Errorf("hash cost = %d, %v; want %d", cost, err, apikey.Cost)
	}
	again, err := apikey.Hash(key)
	if err != nil {
		t.Fatal(err)
	}
	if again == hash {
		t.Error("two hashes of one key are equal: no salt")
	}

	// bcrypt alone reads 72 bytes; keys differing after that must not match.
	long := strings.Repeat("k", 100)
	longHash, err := apikey.Hash(long)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		hash string
		key  string
		want bool
	}{
		{"same key", hash, key, true},
		{"second hash", again, key, true},
		{"other key", hash, key[:len(key)-1] + "x", false},
		{"empty key", hash, "", false},
		{"long key", longHash, long, true},
		{"long key differing past 72 bytes", longHash, long[:90] + "j" + long[91:], false},
		{"not a hash", "plain", key, false},
	}
	for _, tt := range tests {
		if got := apikey.Matches(tt.hash, tt.key); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}
