DROP INDEX IF EXISTS assignments_open_idx;
DROP INDEX IF EXISTS assignments_open_offer_uq;
ALTER TABLE assignments DROP COLUMN IF EXISTS kind, DROP COLUMN IF EXISTS distance_m;
DROP TABLE IF EXISTS dispatch_decisions;
