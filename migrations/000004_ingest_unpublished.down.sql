ALTER TABLE inbound_events ADD COLUMN published_at timestamptz;
UPDATE inbound_events e SET published_at = now()
    WHERE NOT EXISTS (SELECT 1 FROM inbound_unpublished u WHERE u.id = e.id);
CREATE INDEX inbound_events_unpublished_idx ON inbound_events (received_at, id) WHERE published_at IS NULL;
GRANT UPDATE (published_at) ON inbound_events TO dispatchhub_system;
DROP TABLE inbound_unpublished;
