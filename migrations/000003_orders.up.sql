-- Order intake and the event backbone: the inbox that makes INGEST deliveries idempotent,
-- what the outbox relay needs (partitions, a wake-up notification) and order fields.

-- Messages a consumer has applied, committed in the same transaction as their effects: a
-- redelivered message finds its row and changes nothing.
CREATE TABLE inbox (
    tenant_id    text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    consumer     text NOT NULL,
    message_id   text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, consumer, message_id)
);
CREATE INDEX inbox_processed_idx ON inbox (processed_at);
ALTER TABLE inbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inbox USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT, DELETE ON inbox TO dispatchhub_app;
-- Pruning old inbox rows crosses tenants.
GRANT SELECT, DELETE ON inbox TO dispatchhub_system;
CREATE POLICY system_prune ON inbox FOR ALL TO dispatchhub_system USING (true) WITH CHECK (true);

-- Orders: why one was cancelled, and the inbound event that last changed it.
ALTER TABLE orders
    ADD COLUMN cancel_reason text,
    ADD COLUMN last_inbound_id uuid,
    ADD COLUMN note text;

-- Outbox: events of one aggregate always fall in the same partition, and one relay at a time
-- holds a partition (advisory lock), so each aggregate's events are published in order.
ALTER TABLE outbox
    ADD COLUMN partition smallint GENERATED ALWAYS AS ((abs(hashtext(aggregate_type || ':' || aggregate_id)) % 16)::smallint) STORED;
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (partition, seq) WHERE published_at IS NULL;

-- A committed outbox row wakes the relays (one notification per statement).
CREATE FUNCTION notify_outbox() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('dispatchhub_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION notify_outbox();

-- Dead letters are replayed by ops: the replay marks are written by the system role.
GRANT UPDATE (replayed_at, replay_count) ON dead_letters TO dispatchhub_system;
CREATE POLICY system_replay ON dead_letters FOR UPDATE TO dispatchhub_system USING (true) WITH CHECK (true);
