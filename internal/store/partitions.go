package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// partitionLockTimeout bounds each lock round trip: a lock connection that does not answer in
// time is treated as broken.
const partitionLockTimeout = 5 * time.Second

// PartitionLocks is the set of partitions 0..n-1 of one lock class that this process holds:
// session advisory locks (class, partition) on one dedicated pooled connection. A replica that
// dies frees its partitions with its session, and another replica's next Refresh takes them.
// Only its owner's goroutine uses it.
type PartitionLocks struct {
	db      *DB
	class   int32
	all     []int32
	session *AdvisoryLocks
	held    []int16   // ascending
	checked time.Time // last successful refresh
}

// NewPartitionLocks holds nothing until the first Refresh.
func NewPartitionLocks(db *DB, class int32, partitions int) *PartitionLocks {
	all := make([]int32, partitions)
	for i := range all {
		all[i] = int32(i)
	}
	return &PartitionLocks{db: db, class: class, all: all}
}

// Refresh takes the free partitions and confirms the held ones, in one round trip on the
// lock connection (acquiring it first when there is none). When the connection fails, every
// partition is dropped and the connection closed: its session, and so its locks, may be gone
// already and another replica may hold them now.
func (l *PartitionLocks) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, partitionLockTimeout)
	defer cancel()
	if l.session == nil {
		s, err := l.db.AdvisoryLocks(ctx)
		if err != nil {
			return err
		}
		l.session = s
	}
	got, err := l.session.TryLock(ctx, l.class, l.all)
	if err != nil {
		l.Release()
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

// Held is the partitions held after the last Refresh, ascending. The caller must not change it.
func (l *PartitionLocks) Held() []int16 { return l.held }

// Checked is when the last successful Refresh ended.
func (l *PartitionLocks) Checked() time.Time { return l.checked }

// Holds reports whether partition p is held.
func (l *PartitionLocks) Holds(p int16) bool {
	_, ok := slices.BinarySearch(l.held, p)
	return ok
}

// Release drops every partition: the locks are released and the connection returned (or
// closed when it cannot be cleaned).
func (l *PartitionLocks) Release() {
	if l.session != nil {
		l.session.Close()
		l.session = nil
	}
	l.held = nil
}
