// Package apikey creates, hashes and verifies the API keys producers send in
// the X-Api-Key header, and caches verified keys so that bcrypt is paid once
// per key rather than once per request.
//
// A key Zenith generates looks like zk_<id>_<secret>: the id is public and is
// how the key is found in the database; only a bcrypt hash of the whole key is
// stored. A key supplied by an operator (for example from an environment
// variable) may be any string of MinLength or more characters; its id is then
// derived from the key itself, so the same lookup works for both forms.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Length limits of a key.
const (
	MinLength = 20
	MaxLength = 256
)

// Cost is the bcrypt cost of stored hashes.
const Cost = bcrypt.DefaultCost

const (
	generatedPrefix = "zk_"
	idLength        = 12
	secretLength    = 32
	alphabet        = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// ErrMalformed means a string cannot be an API key at all.
var ErrMalformed = fmt.Errorf("malformed api key: a key is %d to %d printable ASCII characters without spaces", MinLength, MaxLength)

// ID returns the public id of key: the id part of a generated key, or a
// fingerprint of any other key. It returns ErrMalformed for a string that is
// too short or too long to be a key, or holds characters other than printable
// ASCII.
func ID(key string) (string, error) {
	if len(key) < MinLength || len(key) > MaxLength {
		return "", ErrMalformed
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] > '~' {
			return "", ErrMalformed
		}
	}
	if rest, ok := strings.CutPrefix(key, generatedPrefix); ok {
		if id, secret, ok := strings.Cut(rest, "_"); ok && len(id) == idLength && len(secret) == secretLength {
			return id, nil
		}
	}
	digest := sha256.Sum256([]byte(key))
	return "h" + hex.EncodeToString(digest[:10]), nil
}

// Generate returns a new random key in the zk_<id>_<secret> form and its id.
func Generate() (key, id string, err error) {
	id, err = randomString(idLength)
	if err != nil {
		return "", "", err
	}
	secret, err := randomString(secretLength)
	if err != nil {
		return "", "", err
	}
	return generatedPrefix + id + "_" + secret, id, nil
}

func randomString(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	for i, b := range buf {
		// 252 is the largest multiple of 36 below 256; rejection keeps the
		// characters uniform.
		for b >= 252 {
			var one [1]byte
			if _, err := rand.Read(one[:]); err != nil {
				return "", fmt.Errorf("generate api key: %w", err)
			}
			b = one[0]
		}
		buf[i] = alphabet[b%36]
	}
	return string(buf), nil
}

// Hash returns the bcrypt hash to store for key. bcrypt reads at most 72
// bytes, so the key's SHA-256 digest is hashed rather than the key itself:
// every byte of a long key counts.
func Hash(key string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(key), Cost)
	if err != nil {
		return "", fmt.Errorf("hash api key: %w", err)
	}
	return string(h), nil
}

// Matches reports whether key is the key hash was made from.
func Matches(hash, key string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), prehash(key)) == nil
}

func prehash(key string) []byte {
	digest := sha256.Sum256([]byte(key))
	return []byte(base64.StdEncoding.EncodeToString(digest[:]))
}

// Prefix returns the start of a generated key with public id id,
// zk_<id>_, by which a holder can recognise it; it is empty for the id of
// a key supplied whole, which has no public part.
func Prefix(id string) string {
	// A fingerprint id is longer than a generated one.
	if len(id) != idLength {
		return ""
	}
	return generatedPrefix + id + "_"
}
