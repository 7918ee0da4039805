DROP TABLE IF EXISTS connector_health;
DROP TABLE IF EXISTS connector_flags;
DROP TABLE IF EXISTS connector_jobs;
