package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/zenith-hq/zenith/pkg/store"
	"github.com/zenith-hq/zenith/pkg/testenv"
)

func TestWaitForSchemaWaitsForTheMigrations(t *testing.T) {
	dsn := testenv.EmptyDatabase(t)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	want, err := store.LatestSchemaVersion()
	if err != nil || want < 1 {
		t.Fatalf("LatestSchemaVersion = %d, %v", want, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	waited := make(chan [2]uint, 10)
	done := make(chan error, 1)
	go func() {
		done <- st.WaitForSchema(ctx, func(have, want uint) { waited <- [2]uint{have, want} })
	}()

	// It reports that it waits, at version 0, before the migrations run.
	if got := <-waited; got != [2]uint{0, want} {
		t.Errorf("waiting(%d, %d), want waiting(0, %d)", got[0], got[1], want)
	}
	if err := store.Migrate(dsn); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("WaitForSchema after the migrations = %v", err)
	}
	if have, dirty, err := st.SchemaVersion(ctx); have != want || dirty || err != nil {
		t.Errorf("SchemaVersion = %d, %v, %v; want %d, false, nil", have, dirty, err, want)
	}
}

func TestWaitForSchemaRefusesADirtySchema(t *testing.T) {
	st, dsn := testenv.Store(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `UPDATE schema_migrations SET dirty = true`); err != nil {
		t.Fatal(err)
	}
	err = st.WaitForSchema(ctx, func(uint, uint) { t.Error("waited for a dirty schema") })
	if err == nil || !strings.Contains(err.Error(), "dirty") {
		t.Errorf("WaitForSchema on a dirty schema = %v, want an error saying it is dirty", err)
	}
}
