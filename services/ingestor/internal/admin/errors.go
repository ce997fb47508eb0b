package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/zenith-hq/zenith/pkg/config"
	"github.com/zenith-hq/zenith/pkg/event"
	"github.com/zenith-hq/zenith/pkg/store"
)

// invalid is an InvalidArgument error naming the field and the problem.
func invalid(field, format string, args ...any) error {
	return &config.Error{Path: field, Problem: fmt.Sprintf(format, args...)}
}

// fieldInvalid turns the *event.FieldError of a check into the error of an
// invalid request, naming the same field and problem.
func fieldInvalid(err error) error {
	if fe, ok := event.AsFieldError(err); ok {
		return invalid(fe.Field, "%s", fe.Problem)
	}
	return err
}

// orNotFound names the item in a store.ErrNotFound, which the store returns
// bare, and returns any other error as it is.
func orNotFound(err error, kind, name string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s %q: %w", kind, name, store.ErrNotFound)
	}
	return err
}

// errorMapper turns the errors handlers return into Connect errors, once,
// at the edge. Errors the caller can act on keep their message, which names
// items and fields only; anything else is logged and answered as Internal
// without detail.
func errorMapper(log *slog.Logger) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			resp, err := next(ctx, req)
			if err == nil {
				return resp, nil
			}
			return nil, mapError(ctx, log, req.Spec().Procedure, err)
		}
	}
}

func mapError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	var connectErr *connect.Error
	var cfgErr *config.Error
	switch {
	case errors.As(err, &connectErr):
		return connectErr
	case errors.As(err, &cfgErr):
		return connect.NewError(connect.CodeInvalidArgument, errors.New(cfgErr.Error()))
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, errors.New(err.Error()))
	case errors.Is(err, store.ErrExists):
		return connect.NewError(connect.CodeAlreadyExists, errors.New(err.Error()))
	case errors.Is(err, store.ErrInUse):
		return connect.NewError(connect.CodeFailedPrecondition, errors.New(err.Error()))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, errors.New("the call was cancelled"))
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, errors.New("the call ran out of time"))
	}
	log.ErrorContext(ctx, "admin call failed", "procedure", procedure, "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error; the ingestor's log has the cause"))
}
