DROP POLICY IF EXISTS system_replay ON dead_letters;
REVOKE UPDATE (replayed_at, replay_count) ON dead_letters FROM dispatchhub_system;
DROP TRIGGER IF EXISTS outbox_notify ON outbox;
DROP FUNCTION IF EXISTS notify_outbox();
DROP INDEX IF EXISTS outbox_unpublished_idx;
ALTER TABLE outbox DROP COLUMN IF EXISTS partition;
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
ALTER TABLE orders DROP COLUMN IF EXISTS cancel_reason, DROP COLUMN IF EXISTS last_inbound_id, DROP COLUMN IF EXISTS note;
DROP TABLE IF EXISTS inbox;
