// Package migrations embeds Zenith's SQL schema migrations, numbered up/down
// pairs applied in order by golang-migrate (see the store package in pkg).
//
// Every file stays inside the SQL that both PostgreSQL and CockroachDB run:
// UUID keys from gen_random_uuid(), explicit BIGINT and INTEGER, no triggers,
// sequences, advisory locks or extensions.
package migrations

import "embed"

// FS holds the *.sql migration files.
//
//go:embed *.sql
var FS embed.FS
