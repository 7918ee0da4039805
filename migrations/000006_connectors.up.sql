-- Connectors: the status pushes to the stores, their per-tenant switches, and the health the
-- dispatchers' banner shows.

-- One row per job on OUTBOUND (the domain event it comes from is its id): how far it got.
-- A job whose row is done is never pushed again, whether the bus delivers it twice or an
-- operator replays its dead letter.
CREATE TABLE connector_jobs (
    tenant_id        text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    id               text NOT NULL,
    platform         text NOT NULL,
    store_id         uuid NOT NULL,
    order_id         uuid NOT NULL,
    status           text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status      integer,
    last_error       text,
    occurred_at      timestamptz NOT NULL,
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    done_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
-- The backlog of a tenant's platform: what is pending, oldest first.
CREATE INDEX connector_jobs_pending_idx ON connector_jobs (tenant_id, platform, occurred_at) WHERE state = 'pending';
CREATE INDEX connector_jobs_finished_idx ON connector_jobs ((coalesce(done_at, last_attempt_at, created_at))) WHERE state <> 'pending';
ALTER TABLE connector_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE connector_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connector_jobs USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON connector_jobs TO dispatchhub_app;

-- A tenant's switch for one platform's connector: on or off, and the share of its orders
-- synced (a canary). Without a row the configured defaults apply.
CREATE TABLE connector_flags (
    tenant_id      text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    platform       text NOT NULL CHECK (platform ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    enabled        boolean NOT NULL,
    canary_percent integer NOT NULL CHECK (canary_percent BETWEEN 0 AND 100),
    updated_by     text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, platform)
);
ALTER TABLE connector_flags ENABLE ROW LEVEL SECURITY;
ALTER TABLE connector_flags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connector_flags USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT, UPDATE, DELETE ON connector_flags TO dispatchhub_app;

-- Whether a tenant's sync with a platform is delayed, and since when. Shared by every replica:
-- a state change is written once, with its ConnectorDegraded or ConnectorRecovered event.
CREATE TABLE connector_health (
    tenant_id     text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    platform      text NOT NULL,
    state         text NOT NULL CHECK (state IN ('healthy', 'degraded')),
    delayed_since timestamptz,
    reason        text NOT NULL DEFAULT '',
    version       bigint NOT NULL DEFAULT 1,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, platform)
);
ALTER TABLE connector_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE connector_health FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON connector_health USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT, UPDATE ON connector_health TO dispatchhub_app;

-- The system role watches every tenant's backlog and health, and prunes finished jobs once
-- they are older than OUTBOUND keeps messages (a redelivery can no longer happen).
GRANT SELECT, DELETE ON connector_jobs TO dispatchhub_system;
CREATE POLICY system_maintain ON connector_jobs FOR ALL TO dispatchhub_system USING (true) WITH CHECK (true);
GRANT SELECT ON connector_health TO dispatchhub_system;
CREATE POLICY system_read ON connector_health FOR SELECT TO dispatchhub_system USING (true);

-- An order's statuses go in the order they happened: a job waits for an older pending one, and
-- a status older than one already pushed is superseded, not pushed.
CREATE INDEX connector_jobs_order_idx ON connector_jobs (tenant_id, order_id, platform, occurred_at) WHERE state <> 'dead';
