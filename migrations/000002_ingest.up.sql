-- Webhook edge: stores announce their changes so every replica's store cache drops the entry,
-- and the relay finds committed-but-unpublished inbound events in order.

CREATE FUNCTION notify_store_change() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('dispatchhub_stores', coalesce(NEW.id, OLD.id)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER stores_notify AFTER INSERT OR UPDATE OR DELETE ON stores
    FOR EACH ROW EXECUTE FUNCTION notify_store_change();

DROP INDEX inbound_events_unpublished_idx;
CREATE INDEX inbound_events_unpublished_idx ON inbound_events (received_at, id) WHERE published_at IS NULL;
