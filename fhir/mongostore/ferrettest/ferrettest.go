// Package ferrettest gives tests a MongoDB-compatible server without
// installing one: FerretDB v1 with its SQLite handler, run inside the test
// process. Every call to Start hands out a fresh database; setting
// MONGO_TEST_URI points the tests at a real MongoDB instead.
package ferrettest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// EnvURI names the environment variable that selects an external server.
const EnvURI = "MONGO_TEST_URI"

// Start returns a connection string whose path names a database no other
// test uses. Without MONGO_TEST_URI it starts FerretDB on 127.0.0.1:0 with
// its data in t.TempDir() and stops it when the test ends; with it, the
// database is dropped from that server when the test ends.
func Start(t testing.TB) (uri string) {
	t.Helper()
	db := "test_" + randomHex(8)
	if ext := os.Getenv(EnvURI); ext != "" {
		uri = WithDatabase(ext, db)
		t.Cleanup(func() { dropDatabase(t, uri, db) })
		ping(t, uri)
		return uri
	}

	// The data lives only as long as the test: SQLite need not sync it.
	dir := t.TempDir()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/?_pragma=synchronous(off)",
		Logger:    logger(),
	})
	if err != nil {
		t.Fatalf("ferrettest: start FerretDB: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx)
	}()
	// Registered before TempDir's own cleanup runs (cleanups run last in,
	// first out), so the server is stopped before its files are removed.
	t.Cleanup(func() {
		cancel()
		<-done
	})
	uri = WithDatabase(f.MongoDBURI(), db)
	ping(t, uri)
	return uri
}

// EnvLog names the environment variable that, set to any value, sends
// FerretDB's log to stderr at debug level; it is discarded otherwise.
const EnvLog = "FERRETTEST_LOG"

func logger() *slog.Logger {
	if os.Getenv(EnvLog) == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// WithDatabase returns uri with its path set to db, keeping hosts and
// options.
func WithDatabase(uri, db string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	query := ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query = rest[:i], rest[i:]
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	return scheme + "://" + rest + "/" + db + query
}

func ping(t testing.TB, uri string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("ferrettest: connect: %v", err)
	}
	defer c.Disconnect(context.Background())
	if err := c.Ping(ctx, nil); err != nil {
		t.Fatalf("ferrettest: ping: %v", err)
	}
}

func dropDatabase(t testing.TB, uri, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Logf("ferrettest: connect to drop %s: %v", db, err)
		return
	}
	defer c.Disconnect(context.Background())
	if err := c.Database(db).Drop(ctx); err != nil {
		t.Logf("ferrettest: drop %s: %v", db, err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
