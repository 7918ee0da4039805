-- Foundation schema: tenants, stores, drivers, orders, assignments, the append-only audit log,
-- the transactional outbox, raw inbound webhooks and dead letters.
--
-- Roles (created once per cluster by scripts/bootstrap.sql, not here):
--   dispatchhub         runs these migrations and owns every object
--   dispatchhub_app     the service; owns nothing, NOBYPASSRLS, NOINHERIT
--   dispatchhub_system  narrow cross-tenant role the service enters with SET LOCAL ROLE for
--                       system workers (outbox relay, store lookup by id, ...)
-- Every tenant table has tenant_id, RLS enabled and FORCED (the owner is bound too), and a
-- policy keyed on app_tenant(), the transaction-local setting app.tenant_id.

DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT unnest(ARRAY['dispatchhub_app', 'dispatchhub_system']) AS name LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.name) THEN
            RAISE EXCEPTION 'role % does not exist: run scripts/bootstrap.sql as a superuser once per cluster', r.name;
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles
               WHERE rolname IN ('dispatchhub_app', 'dispatchhub_system') AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'dispatchhub_app and dispatchhub_system must be NOSUPERUSER NOBYPASSRLS (see scripts/bootstrap.sql)';
    END IF;
END
$$;

CREATE FUNCTION app_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$;

CREATE FUNCTION touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;

CREATE TABLE tenants (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    settings   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE stores (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id              text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    platform               text NOT NULL CHECK (platform ~ '^[a-z0-9][a-z0-9_-]{0,39}$'),
    name                   text NOT NULL DEFAULT '',
    external_id            text,
    secret_refs            text[] NOT NULL DEFAULT '{}',
    api_base               text,
    api_credential_ref     text,
    pickup_lat             double precision CHECK (pickup_lat BETWEEN -90 AND 90),
    pickup_lng             double precision CHECK (pickup_lng BETWEEN -180 AND 180),
    settings               jsonb NOT NULL DEFAULT '{}',
    enabled                boolean NOT NULL DEFAULT true,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((pickup_lat IS NULL) = (pickup_lng IS NULL))
);
CREATE INDEX stores_tenant_idx ON stores (tenant_id);
CREATE UNIQUE INDEX stores_external_uq ON stores (tenant_id, platform, external_id) WHERE external_id IS NOT NULL;

CREATE TABLE drivers (
    tenant_id    text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    id           text NOT NULL CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name         text NOT NULL DEFAULT '',
    on_duty      boolean NOT NULL DEFAULT true,
    capacity     integer NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 0 AND 100),
    last_seen_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE orders (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    store_id          uuid REFERENCES stores (id),
    source            text NOT NULL,
    external_ref      text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'offered', 'assigned', 'picked_up', 'delivered', 'failed', 'cancelled')),
    pickup_lat        double precision CHECK (pickup_lat BETWEEN -90 AND 90),
    pickup_lng        double precision CHECK (pickup_lng BETWEEN -180 AND 180),
    pickup_address    jsonb,
    dropoff_lat       double precision CHECK (dropoff_lat BETWEEN -90 AND 90),
    dropoff_lng       double precision CHECK (dropoff_lng BETWEEN -180 AND 180),
    dropoff_address   jsonb,
    contact           jsonb,
    items             jsonb NOT NULL DEFAULT '[]',
    totals            jsonb,
    source_updated_at timestamptz,
    source_version    bigint,
    version           bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One order per external reference of a store; orders from other channels (phone, console)
-- have no store and are unique per source.
CREATE UNIQUE INDEX orders_store_ref_uq ON orders (tenant_id, store_id, external_ref) WHERE store_id IS NOT NULL;
CREATE UNIQUE INDEX orders_source_ref_uq ON orders (tenant_id, source, external_ref) WHERE store_id IS NULL;
CREATE INDEX orders_tenant_updated_idx ON orders (tenant_id, updated_at, id);
CREATE INDEX orders_tenant_status_idx ON orders (tenant_id, status, updated_at);

CREATE TABLE assignments (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    order_id     uuid NOT NULL REFERENCES orders (id),
    driver_id    text NOT NULL,
    status       text NOT NULL DEFAULT 'offered'
                 CHECK (status IN ('offered', 'accepted', 'declined', 'expired', 'released', 'completed', 'cancelled')),
    offered_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    responded_at timestamptz,
    reason       text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, driver_id) REFERENCES drivers (tenant_id, id)
);
CREATE INDEX assignments_order_idx ON assignments (tenant_id, order_id);
CREATE INDEX assignments_driver_idx ON assignments (tenant_id, driver_id, status);
-- At most one accepted assignment per order: a driver can never be double-booked onto it.
CREATE UNIQUE INDEX assignments_one_accepted_uq ON assignments (order_id) WHERE status = 'accepted';

-- The audit log: append-only. The service may insert and read; nobody may change a row.
CREATE TABLE events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    type        text NOT NULL,
    entity_type text NOT NULL,
    entity_id   text NOT NULL,
    version     bigint,
    actor       text,
    payload     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_entity_idx ON events (tenant_id, entity_type, entity_id, created_at);

CREATE FUNCTION events_append_only() RETURNS trigger
    LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION 'events is append-only: % refused', TG_OP; END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

-- The transactional outbox: a business write and its domain event commit together; a relay
-- publishes rows to the EVENTS stream with Nats-Msg-Id = id, in seq order per aggregate.
CREATE TABLE outbox (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             uuid NOT NULL UNIQUE,
    tenant_id      text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    event_type     text NOT NULL CHECK (event_type ~ '^[A-Z][A-Za-z0-9]{0,63}$'),
    aggregate_type text NOT NULL,
    aggregate_id   text NOT NULL,
    version        bigint NOT NULL DEFAULT 0,
    payload        jsonb NOT NULL,
    headers        jsonb NOT NULL DEFAULT '{}',
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz
);
CREATE INDEX outbox_unpublished_idx ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Raw store webhooks, durably stored before the 200; de-duplicated on (platform, store_id, event_id).
CREATE TABLE inbound_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    store_id        uuid NOT NULL REFERENCES stores (id),
    platform        text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL DEFAULT '',
    checksum        bytea NOT NULL,
    headers         jsonb NOT NULL DEFAULT '{}',
    payload         bytea,
    payload_ref     text,
    payload_size    integer NOT NULL,
    authenticated   boolean NOT NULL DEFAULT true,
    normalized      jsonb,
    normalize_error text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    UNIQUE (platform, store_id, event_id),
    CHECK ((payload IS NULL) <> (payload_ref IS NULL))
);
CREATE INDEX inbound_events_unpublished_idx ON inbound_events (received_at) WHERE published_at IS NULL;
CREATE INDEX inbound_events_tenant_idx ON inbound_events (tenant_id, received_at);

-- Messages that could not be processed after bounded retries, with what is needed to replay them.
CREATE TABLE dead_letters (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    source           text NOT NULL CHECK (source IN ('ingest', 'outbound')),
    platform         text NOT NULL,
    subject          text NOT NULL,
    message_id       text NOT NULL,
    payload          bytea NOT NULL,
    headers          jsonb NOT NULL DEFAULT '{}',
    error            text NOT NULL,
    attempts         integer NOT NULL,
    last_status      integer,
    response_excerpt text,
    first_failed_at  timestamptz NOT NULL,
    last_failed_at   timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    replayed_at      timestamptz,
    replay_count     integer NOT NULL DEFAULT 0
);
CREATE INDEX dead_letters_filter_idx ON dead_letters (tenant_id, platform, created_at);
CREATE INDEX dead_letters_created_idx ON dead_letters (created_at);

CREATE TRIGGER tenants_touch BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER stores_touch BEFORE UPDATE ON stores FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER drivers_touch BEFORE UPDATE ON drivers FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE TRIGGER assignments_touch BEFORE UPDATE ON assignments FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

-- Row-level security: every tenant table, forced, keyed on the transaction's tenant.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (id = app_tenant()) WITH CHECK (id = app_tenant());

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['stores', 'drivers', 'orders', 'assignments', 'events', 'outbox', 'inbound_events', 'dead_letters'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant())', t);
    END LOOP;
END
$$;

-- The service role: plain DML under RLS, nothing more; events is insert-only.
GRANT USAGE ON SCHEMA public TO dispatchhub_app, dispatchhub_system;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, stores, drivers, orders, assignments, outbox, inbound_events, dead_letters
    TO dispatchhub_app;
GRANT SELECT, INSERT ON events TO dispatchhub_app;

-- The system role: only what cross-tenant workers need, each with its own policy.
GRANT SELECT ON tenants, stores TO dispatchhub_system;
CREATE POLICY system_read ON tenants FOR SELECT TO dispatchhub_system USING (true);
CREATE POLICY system_read ON stores FOR SELECT TO dispatchhub_system USING (true);
GRANT SELECT, DELETE ON outbox TO dispatchhub_system;
GRANT SELECT ON inbound_events TO dispatchhub_system;
GRANT UPDATE (published_at) ON outbox, inbound_events TO dispatchhub_system;
CREATE POLICY system_relay ON outbox FOR ALL TO dispatchhub_system USING (true) WITH CHECK (true);
CREATE POLICY system_relay ON inbound_events FOR ALL TO dispatchhub_system USING (true) WITH CHECK (true);
GRANT SELECT ON dead_letters TO dispatchhub_system;
CREATE POLICY system_read ON dead_letters FOR SELECT TO dispatchhub_system USING (true);
