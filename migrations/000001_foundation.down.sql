REVOKE ALL ON ALL TABLES IN SCHEMA public FROM dispatchhub_app, dispatchhub_system;
DROP TABLE IF EXISTS dead_letters, inbound_events, outbox, events, assignments, orders, drivers, stores, tenants;
DROP FUNCTION IF EXISTS events_append_only();
DROP FUNCTION IF EXISTS touch_updated_at();
DROP FUNCTION IF EXISTS app_tenant();
REVOKE USAGE ON SCHEMA public FROM dispatchhub_app, dispatchhub_system;
