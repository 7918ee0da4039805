package outbox

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pilotx/dispatchhub/internal/store"
)

// LockClass is the first key of the relay's session advisory locks; the second is the
// partition. In pg_locks a held partition shows as locktype 'advisory', classid = LockClass,
// objid = the partition.
const LockClass int32 = 0x6f627872 // "obxr"

// lockTimeout bounds each lock round trip: a lock connection that does not answer in time is
// treated as broken.
const lockTimeout = 5 * time.Second

// partitionLocks is the set of partitions a relay holds: session advisory locks on one
// dedicated pooled connection. Only the relay's own goroutine uses it.
type partitionLocks struct {
	db      *store.DB
	all     []int32
	session *store.AdvisoryLocks
	held    []int16   // ascending
	checked time.Time // last successful refresh
}

func newPartitionLocks(db *store.DB, partitions int) *partitionLocks {
	all := make([]int32, partitions)
	for i := range all {
		all[i] = int32(i)
	}
	return &partitionLocks{db: db, all: all}
}

// refresh takes the free partitions and confirms the held ones, in one round trip on the
// lock connection (acquiring it first when there is none). When the connection fails, every
// partition is dropped and the connection closed: its session, and so its locks, may be gone
// already and another replica may hold them now.
func (l *partitionLocks) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	if l.session == nil {
		s, err := l.db.AdvisoryLocks(ctx)
		if err != nil {
			return err
		}
		l.session = s
	}
	got, err := l.session.TryLock(ctx, LockClass, l.all)
	if err != nil {
		l.release()
		return fmt.Errorf("lock connection: %w", err)
	}
	held := make([]int16, len(got))
	for i, p := range got {
		held[i] = int16(p)
	}
	slices.Sort(held)
	l.held = held
	l.checked = time.Now()
	return nil
}

// holds reports whether partition p is held.
func (l *partitionLocks) holds(p int16) bool {
	_, ok := slices.BinarySearch(l.held, p)
	return ok
}

// release drops every partition: the locks are released and the connection returned (or
// closed when it cannot be cleaned).
func (l *partitionLocks) release() {
	if l.session != nil {
		l.session.Close()
		l.session = nil
	}
	l.held = nil
}
