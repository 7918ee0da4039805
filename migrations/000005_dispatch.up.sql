-- Dispatch engine: every decision it makes with its explanation, and what offers need.

-- One row per decision about an order: an offer made (and to whom, among which candidates),
-- no driver available, an offer expired, a driver lost, a dispatcher's assignment by hand.
-- Append-only like events: served at GET /v1/orders/{id}/decisions.
CREATE TABLE dispatch_decisions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     text NOT NULL DEFAULT app_tenant() REFERENCES tenants (id),
    order_id      uuid NOT NULL REFERENCES orders (id),
    strategy      text NOT NULL,
    outcome       text NOT NULL,
    driver_id     text,
    assignment_id uuid,
    distance_m    double precision,
    reason        text NOT NULL,
    candidates    jsonb NOT NULL DEFAULT '[]',
    actor         text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatch_decisions_order_idx ON dispatch_decisions (tenant_id, order_id, created_at);
ALTER TABLE dispatch_decisions ENABLE ROW LEVEL SECURITY;
ALTER TABLE dispatch_decisions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON dispatch_decisions USING (tenant_id = app_tenant()) WITH CHECK (tenant_id = app_tenant());
GRANT SELECT, INSERT ON dispatch_decisions TO dispatchhub_app;

-- An offer's distance from the driver to the pickup when it was made, and how it was made.
ALTER TABLE assignments
    ADD COLUMN distance_m double precision,
    ADD COLUMN kind text NOT NULL DEFAULT 'offer' CHECK (kind IN ('offer', 'broadcast', 'manual'));
-- A driver holds at most one open offer for an order.
CREATE UNIQUE INDEX assignments_open_offer_uq ON assignments (order_id, driver_id) WHERE status = 'offered';
-- The engine reads the open assignments of a tenant on every round.
CREATE INDEX assignments_open_idx ON assignments (tenant_id, status) WHERE status IN ('offered', 'accepted');
