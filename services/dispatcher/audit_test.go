package dispatcher

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRowRefused(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"NUL in text", &pgconn.PgError{Code: "22021"}, true},
		{"value too long", &pgconn.PgError{Code: "22001"}, true},
		{"constraint broken", &pgconn.PgError{Code: "23502"}, true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, false},
		{"server starting", &pgconn.PgError{Code: "57P03"}, false},
		{"connection failure", &pgconn.PgError{Code: "08006"}, false},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, false},
		{"wrapped shutdown", fmt.Errorf("write 3 audit rows: %w", &pgconn.PgError{Code: "57P01"}), false},
		{"connection refused", errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"), false},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		if got := rowRefused(tt.err); got != tt.want {
			t.Errorf("%s: rowRefused(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
