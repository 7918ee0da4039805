package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/internal/store"
	"github.com/pilotx/dispatchhub/internal/testenv"
)

const testLockClass int32 = 4242

func openPool(t *testing.T, url string, maxConns int) *store.DB {
	t.Helper()
	db, err := store.Open(store.Config{URL: url, MaxConns: maxConns})
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return db
}

func TestAdvisoryLocksAreExclusiveIdempotentAndFreedOnClose(t *testing.T) {
	info := testenv.NewDatabase(t, true)
	ctx := context.Background()
	// One connection per pool: Close must hand it back clean for the next session to use.
	dbA, dbB := openPool(t, info.AppURL, 1), openPool(t, info.AppURL, 1)

	a, err := dbA.AdvisoryLocks(ctx)
	require.NoError(t, err)
	held, err := a.TryLock(ctx, testLockClass, []int32{0, 1, 2, 3})
	require.NoError(t, err)
	assert.Equal(t, []int32{0, 1, 2, 3}, held)

	b, err := dbB.AdvisoryLocks(ctx)
	require.NoError(t, err)
	defer b.Close()
	held, err = b.TryLock(ctx, testLockClass, []int32{5, 4, 3, 2, 1, 0})
	require.NoError(t, err)
	assert.Equal(t, []int32{5, 4}, held, "the keys A does not hold, in the order asked")
	held, err = b.TryLock(ctx, testLockClass+1, []int32{0})
	require.NoError(t, err)
	assert.Equal(t, []int32{0}, held, "another class is another lock")

	// Asking again does not stack: one Unlock frees a key for good.
	for range 3 {
		held, err = a.TryLock(ctx, testLockClass, []int32{0, 1, 2, 3, 4, 5})
		require.NoError(t, err)
		assert.Equal(t, []int32{0, 1, 2, 3}, held)
	}
	require.NoError(t, a.Unlock(ctx, testLockClass, 0))
	require.NoError(t, a.Unlock(ctx, testLockClass, 0), "unlocking a key not held is a no-op")
	held, err = b.TryLock(ctx, testLockClass, []int32{0, 1})
	require.NoError(t, err)
	assert.Equal(t, []int32{0}, held)

	// Close frees the rest, and the connection goes back to the pool without its locks.
	a.Close()
	a.Close() // idempotent
	held, err = b.TryLock(ctx, testLockClass, []int32{1, 2, 3})
	require.NoError(t, err)
	assert.Equal(t, []int32{1, 2, 3}, held)
	again, err := dbA.AdvisoryLocks(ctx)
	require.NoError(t, err)
	defer again.Close()
	held, err = again.TryLock(ctx, testLockClass, []int32{1, 2, 3, 6})
	require.NoError(t, err)
	assert.Equal(t, []int32{6}, held)
}

func TestAdvisoryLocksNegativeKeys(t *testing.T) {
	info := testenv.NewDatabase(t, true)
	ctx := context.Background()
	db := openPool(t, info.AppURL, 2)
	a, err := db.AdvisoryLocks(ctx)
	require.NoError(t, err)
	defer a.Close()
	b, err := db.AdvisoryLocks(ctx)
	require.NoError(t, err)
	defer b.Close()
	for range 2 {
		held, err := a.TryLock(ctx, -7, []int32{-1, -2147483648, 2147483647})
		require.NoError(t, err)
		assert.Equal(t, []int32{-1, -2147483648, 2147483647}, held)
	}
	held, err := b.TryLock(ctx, -7, []int32{-1, -2147483648, 2147483647, 1})
	require.NoError(t, err)
	assert.Equal(t, []int32{1}, held)
}

func TestAdvisoryLocksGoWithABrokenConnection(t *testing.T) {
	info := testenv.NewDatabase(t, true)
	ctx := context.Background()
	proxy := testenv.NewProxy(t, testenv.PostgresAddr())
	viaProxy := openPool(t, testenv.WithHost(info.AppURL, proxy.Addr()), 1)
	direct := openPool(t, info.AppURL, 1)

	a, err := viaProxy.AdvisoryLocks(ctx)
	require.NoError(t, err)
	held, err := a.TryLock(ctx, testLockClass, []int32{1, 2})
	require.NoError(t, err)
	require.Equal(t, []int32{1, 2}, held)

	proxy.Stop()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err = a.TryLock(qctx, testLockClass, []int32{1, 2})
	cancel()
	require.Error(t, err, "a broken session reports it")
	a.Close() // does not hang, and drops the dead connection

	b, err := direct.AdvisoryLocks(ctx)
	require.NoError(t, err)
	defer b.Close()
	testenv.Eventually(t, 10*time.Second, func() bool {
		held, err := b.TryLock(ctx, testLockClass, []int32{1, 2})
		return err == nil && len(held) == 2
	}, "the dead session's locks are free")

	proxy.Start()
	c, err := viaProxy.AdvisoryLocks(ctx)
	require.NoError(t, err)
	defer c.Close()
	held, err = c.TryLock(ctx, testLockClass, []int32{1, 2, 3})
	require.NoError(t, err)
	assert.Equal(t, []int32{3}, held, "the pool reconnects")
}
