package outbox

// LockClass is the first key of the relay's session advisory locks; the second is the
// partition. In pg_locks a held partition shows as locktype 'advisory', classid = LockClass,
// objid = the partition.
const LockClass int32 = 0x6f627872 // "obxr"
