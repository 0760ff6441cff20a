// Package pgtest gives tests a PostgreSQL schema of their own on the test
// server: 127.0.0.1:5432 with trust auth for user postgres, or the server
// ACCESSBOT_TEST_POSTGRES_DSN names. Without a server, tests that ask for
// one are skipped, except in CI (CI set), where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultDSN is the test server when ACCESSBOT_TEST_POSTGRES_DSN is unset.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// DSN returns the DSN of the test server.
func DSN() string {
	if dsn := os.Getenv("ACCESSBOT_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// Admin connects to the test server for setting up and inspecting it, or
// skips tb (fails it in CI) when there is none. The connection is closed
// at cleanup.
func Admin(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DSN())
	if err != nil {
		msg := "no PostgreSQL server for this test: start PostgreSQL on 127.0.0.1:5432 (trust auth for user postgres) or set ACCESSBOT_TEST_POSTGRES_DSN"
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s: %v", msg, err)
		}
		tb.Skipf("%s: %v", msg, err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Schema creates an empty schema, dropped at cleanup (registered now, so
// it runs after the cleanups registered later, which close the stores
// using it), and returns a DSN whose connections work in it.
func Schema(tb testing.TB) (dsn, schema string) {
	tb.Helper()
	conn := Admin(tb)
	var b [6]byte
	rand.Read(b[:])
	schema = "accessbot_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(DSN())
	if err != nil {
		tb.Fatalf("ACCESSBOT_TEST_POSTGRES_DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), schema
}
