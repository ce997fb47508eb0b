package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"connectrpc.com/connect"

	zenithv1 "github.com/zenith-hq/zenith/pkg/gen/zenith/v1"
)

// MinTokenLength is the shortest admin token accepted.
const MinTokenLength = 16

// Tokens are the bearer tokens the admin API accepts.
type Tokens struct {
	// Admin tokens may call everything.
	Admin []string
	// ReadOnly tokens may call only the calls free of side effects.
	ReadOnly []string
}

// Empty reports whether no token is configured; the admin API is then off.
func (t Tokens) Empty() bool {
	return len(t.Admin) == 0 && len(t.ReadOnly) == 0
}

// Validate checks that each token is long enough to resist guessing.
func (t Tokens) Validate() error {
	for _, list := range []struct {
		variable string
		tokens   []string
	}{{"ZENITH_ADMIN_TOKENS", t.Admin}, {"ZENITH_ADMIN_READONLY_TOKENS", t.ReadOnly}} {
		for i, token := range list.tokens {
			if len(token) < MinTokenLength {
				return fmt.Errorf("%s: token %d is shorter than %d characters", list.variable, i+1, MinTokenLength)
			}
		}
	}
	return nil
}

// access is what a request's token allows.
type access int

const (
	accessNone access = iota
	accessReadOnly
	accessAdmin
)

// check compares the presented token with every configured one, in
// constant time, without stopping at a match: the time taken says nothing
// about which token, or how much of one, matched.
func (t Tokens) check(presented string) access {
	digest := sha256.Sum256([]byte(presented))
	granted := accessNone
	for _, group := range []struct {
		list  []string
		grant access
	}{{t.ReadOnly, accessReadOnly}, {t.Admin, accessAdmin}} {
		for _, token := range group.list {
			want := sha256.Sum256([]byte(token))
			if subtle.ConstantTimeCompare(digest[:], want[:]) == 1 {
				granted = group.grant
			}
		}
	}
	return granted
}

var (
	errNoToken  = errors.New("an admin token is required: Authorization: Bearer <token>")
	errBadToken = errors.New("the admin token is not valid")
	errReadOnly = errors.New("this admin token is read-only")
)

// interceptor refuses a call without a valid token (Unauthenticated), and a
// call with side effects made with a read-only token (PermissionDenied).
func (t Tokens) interceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			presented, ok := bearerToken(req.Header().Get("Authorization"))
			if !ok {
				return nil, connect.NewError(connect.CodeUnauthenticated, errNoToken)
			}
			switch t.check(presented) {
			case accessNone:
				return nil, connect.NewError(connect.CodeUnauthenticated, errBadToken)
			case accessReadOnly:
				if !sideEffectFree(req) {
					return nil, connect.NewError(connect.CodePermissionDenied, errReadOnly)
				}
			}
			return next(ctx, req)
		}
	}
}

// bearerToken reads the token of an Authorization header. The scheme's
// name is case-insensitive (RFC 9110 §11.1): "bearer" is "Bearer".
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(token, " ")
	return token, token != ""
}

// sideEffectFree reports whether a call changes nothing: one declared free
// of side effects, or a dry run of Apply, which a CI check may make with a
// read-only token.
func sideEffectFree(req connect.AnyRequest) bool {
	if req.Spec().IdempotencyLevel == connect.IdempotencyNoSideEffects {
		return true
	}
	apply, ok := req.Any().(*zenithv1.ApplyRequest)
	return ok && apply.GetDryRun()
}
