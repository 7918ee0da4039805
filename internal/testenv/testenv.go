// Package testenv gives tests real dependencies: a fresh, migrated PostgreSQL database per test
// on the project-private cluster of scripts/services.sh, a Redis key space, free ports and a
// TCP proxy that can cut a dependency off. Tests fail (never skip) when a service is missing:
// `make test` starts them.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pilotx/dispatchhub/internal/store"
)

// Defaults match scripts/services.sh; override with DISPATCHHUB_TEST_POSTGRES_URL (a URL of the
// schema-owning role with CREATEDB) and DISPATCHHUB_TEST_REDIS_ADDR.
const (
	defaultOwnerURL  = "postgres://dispatchhub:dispatchhub@127.0.0.1:55432/dispatchhub?sslmode=disable"
	defaultAppUser   = "dispatchhub_app:dispatchhub_app"
	defaultRedisAddr = "127.0.0.1:56379"
)

// Database is a fresh database for one test.
type Database struct {
	Name     string
	OwnerURL string // the schema-owning role (migrations)
	AppURL   string // the service role (RLS applies)
}

// OwnerURL is the maintenance URL of the schema-owning role.
func OwnerURL() string {
	if v := os.Getenv("DISPATCHHUB_TEST_POSTGRES_URL"); v != "" {
		return v
	}
	return defaultOwnerURL
}

// PostgresAddr is the host:port of the test PostgreSQL (to put a Proxy in front of it).
func PostgresAddr() string {
	u, err := url.Parse(OwnerURL())
	if err != nil {
		panic(err)
	}
	return u.Host
}

// NewDatabase creates an empty database owned by the migration role and drops it when the test
// ends. With migrated, the embedded migrations are applied.
func NewDatabase(t testing.TB, migrated bool) Database {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := OwnerURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL is not reachable (%v); run `scripts/services.sh up` or `make test`", err)
	}
	defer conn.Close(context.Background())

	name := "dh_test_" + randomHex(6)
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		if _, lastErr = conn.Exec(ctx, "CREATE DATABASE "+name); lastErr == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("testenv: create database: %v", lastErr)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("testenv: drop database %s: %v", name, err)
			return
		}
		defer c.Close(context.Background())
		// FORCE ends the sessions the owner may end; the service role's sessions end with
		// their pools, which a test may close a moment after its cleanup runs: retry until
		// they are gone.
		var err2 error
		for attempt := 0; attempt < 40; attempt++ {
			if _, err2 = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err2 == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Errorf("testenv: drop database %s: %v", name, err2)
	})

	db := Database{Name: name, OwnerURL: withDatabase(admin, name, ""), AppURL: withDatabase(admin, name, appUser())}
	if migrated {
		m, err := store.NewMigrator(db.OwnerURL)
		if err != nil {
			t.Fatalf("testenv: migrator: %v", err)
		}
		defer m.Close()
		if err := m.Up(); err != nil {
			t.Fatalf("testenv: migrate: %v", err)
		}
	}
	return db
}

func appUser() string {
	if v := os.Getenv("DISPATCHHUB_TEST_APP_USER"); v != "" {
		return v
	}
	return defaultAppUser
}

// withDatabase returns raw with its database replaced and, when userinfo is set, its user.
func withDatabase(raw, db, userinfo string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + db
	if userinfo != "" {
		user, pass, _ := strings.Cut(userinfo, ":")
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}

// WithHost returns a PostgreSQL URL with its host:port replaced (to route it through a Proxy).
func WithHost(raw, hostport string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Host = hostport
	return u.String()
}

// RedisAddr is the address of the test Redis.
func RedisAddr() string {
	if v := os.Getenv("DISPATCHHUB_TEST_REDIS_ADDR"); v != "" {
		return v
	}
	return defaultRedisAddr
}

// Redis returns a client of the test Redis and a key prefix unique to this test; keys under the
// prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		t.Fatalf("testenv: Redis is not reachable at %s (%v); run `scripts/services.sh up` or `make test`", RedisAddr(), err)
	}
	prefix := "dhtest:" + randomHex(6) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond every 20 ms until it is true or the deadline passes.
func Eventually(t testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: not within %s: %s", within, fmt.Sprintf(format, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
