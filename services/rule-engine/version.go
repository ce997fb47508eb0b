package ruleengine

import (
	"hash/fnv"
	"slices"
	"strconv"

	"github.com/zenith-hq/zenith/pkg/store"
)

// rulesVersion is the zenith_rule_cache_version of the rules loaded from
// stored: a fingerprint of every rule's id and version, so that two
// replicas holding the same rules show the same number, and any edit,
// addition or removal changes it. It keeps 53 bits of a 64-bit FNV-1a hash,
// which a metric's float64 holds exactly.
func rulesVersion(stored []store.Rule) float64 {
	keys := make([]string, len(stored))
	for i, r := range stored {
		keys[i] = r.ID + "@" + strconv.FormatInt(r.Version, 10)
	}
	slices.Sort(keys)

	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
	}
	return float64(h.Sum64() >> 11)
}
