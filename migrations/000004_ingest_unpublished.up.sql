-- Inbound events not yet on INGEST are listed in a narrow table of their own: the relay marks
-- an event published by deleting its small row here, instead of writing a new version of the
-- whole inbound_events row (payload included) and of every one of its indexes.
CREATE TABLE inbound_unpublished (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL DEFAULT app_tenant(),
    received_at timestamptz NOT NULL
);
CREATE INDEX inbound_unpublished_received_idx ON inbound_unpublished (received_at, id);
ALTER TABLE inbound_unpublished ENABLE ROW LEVEL SECURITY;
ALTER TABLE inbound_unpublished FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON inbound_unpublished USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT, DELETE ON inbound_unpublished TO dispatchhub_app;
GRANT SELECT, DELETE ON inbound_unpublished TO dispatchhub_system;
CREATE POLICY system_relay ON inbound_unpublished FOR ALL TO dispatchhub_system USING (true) WITH CHECK (true);

INSERT INTO inbound_unpublished (id, tenant_id, received_at)
    SELECT id, tenant_id, received_at FROM inbound_events WHERE published_at IS NULL;

DROP INDEX inbound_events_unpublished_idx;
ALTER TABLE inbound_events DROP COLUMN published_at;
