package apikey

import "time"

// SetClock makes v read the time from now, so that tests can step past the
// revalidation interval without sleeping.
func SetClock(v *Verifier, now func() time.Time) {
	v.now = now
}
