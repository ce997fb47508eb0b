package apikey_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/zenith-hq/zenith/pkg/apikey"
)

// fingerprint is the id of a key supplied whole.
var fingerprint = regexp.MustCompile(`^h[0-9a-f]{20}$`)

// FuzzID parses random strings as API keys: a string is refused as
// malformed, or gets an id of one of the two forms, the same each time;
// never a panic. The id is what the database is searched by, so it must
// never carry what the key holds beyond its public part.
func FuzzID(f *testing.F) {
	f.Add("zk_abcdefghijkl_0123456789abcdefghijklmnopqrstuv")
	f.Add("zenith-demo-shop-key-0001")
	f.Add("zk_short_x")
	f.Add("key with spaces in it, long enough")
	f.Add(strings.Repeat("k", apikey.MaxLength+1))
	f.Add("zk_ABCDEFGHIJKL_0123456789abcdefghijklmnopqrstuv")
	f.Fuzz(func(t *testing.T, key string) {
		id, err := apikey.ID(key)
		if err != nil {
			if err != apikey.ErrMalformed {
				t.Fatalf("ID(%q) = %v, want ErrMalformed", key, err)
			}
			return
		}
		if len(key) < apikey.MinLength || len(key) > apikey.MaxLength {
			t.Fatalf("ID accepted a key of %d bytes", len(key))
		}
		again, _ := apikey.ID(key)
		if again != id {
			t.Fatalf("ID(%q) = %q, then %q", key, id, again)
		}
		if fingerprint.MatchString(id) {
			return
		}
		if !strings.HasPrefix(key, apikey.Prefix(id)) || apikey.Prefix(id) == "" {
			t.Fatalf("ID(%q) = %q, which is not the key's public part", key, id)
		}
	})
}
