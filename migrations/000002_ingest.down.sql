DROP INDEX IF EXISTS inbound_events_unpublished_idx;
CREATE INDEX inbound_events_unpublished_idx ON inbound_events (received_at) WHERE published_at IS NULL;
DROP TRIGGER IF EXISTS stores_notify ON stores;
DROP FUNCTION IF EXISTS notify_store_change();
