-- dispatchhub cluster bootstrap: roles and database.
--
-- Production DBAs run this same file once per cluster, as a superuser (or a
-- role with CREATEROLE and CREATEDB), with their own passwords:
--
--   psql -X -v ON_ERROR_STOP=1 \
--        -v migrate_password='...' -v app_password='...' \
--        -d postgres -f scripts/bootstrap.sql
--
-- Without those variables the development passwords below are used, which is
-- what scripts/services.sh does for the project-private cluster. The file is
-- idempotent: re-running it creates nothing twice and re-asserts every role
-- attribute, so a role that drifted (say, someone granted it BYPASSRLS) is
-- put back. Note that re-running it also resets the two passwords.
--
-- Roles:
--   dispatchhub         migration role; owns the database and the schema.
--   dispatchhub_app     the service's login role; owns nothing, and does not
--                       inherit privileges (NOINHERIT).
--   dispatchhub_system  narrow cross-tenant role, NOLOGIN; the service may
--                       SET ROLE to it for the few cross-tenant operations.
--
-- Requires psql (it uses \if, \set and \gexec); PostgreSQL 15 or newer.

\set ON_ERROR_STOP on

\if :{?migrate_password}
\else
\set migrate_password 'dispatchhub'
\endif
\if :{?app_password}
\else
\set app_password 'dispatchhub_app'
\endif

-- Roles: create if missing (attributes are set below, on every run).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dispatchhub') THEN
        CREATE ROLE dispatchhub;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dispatchhub_app') THEN
        CREATE ROLE dispatchhub_app;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dispatchhub_system') THEN
        CREATE ROLE dispatchhub_system;
    END IF;
END
$$;

ALTER ROLE dispatchhub WITH LOGIN PASSWORD :'migrate_password'
    CREATEDB NOSUPERUSER NOCREATEROLE NOBYPASSRLS NOREPLICATION INHERIT
    CONNECTION LIMIT -1;

ALTER ROLE dispatchhub_app WITH LOGIN PASSWORD :'app_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION NOINHERIT
    CONNECTION LIMIT -1;

ALTER ROLE dispatchhub_system WITH NOLOGIN PASSWORD NULL
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION NOINHERIT;

-- Memberships: the app may SET ROLE dispatchhub_system, and must never be able
-- to become the owner role (owners bypass row-level security).
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_auth_members m
        JOIN pg_roles r ON r.oid = m.roleid
        JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = 'dispatchhub_system' AND u.rolname = 'dispatchhub_app'
    ) THEN
        GRANT dispatchhub_system TO dispatchhub_app;
    END IF;
    IF EXISTS (
        SELECT 1
        FROM pg_auth_members m
        JOIN pg_roles r ON r.oid = m.roleid
        JOIN pg_roles u ON u.oid = m.member
        WHERE r.rolname = 'dispatchhub' AND u.rolname = 'dispatchhub_app'
    ) THEN
        REVOKE dispatchhub FROM dispatchhub_app;
    END IF;
END
$$;

-- Database: CREATE DATABASE cannot run inside a DO block or a transaction,
-- hence \gexec, which runs the generated statement only when it is missing.
SELECT 'CREATE DATABASE dispatchhub OWNER dispatchhub'
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'dispatchhub')
\gexec

ALTER DATABASE dispatchhub OWNER TO dispatchhub;
GRANT CONNECT ON DATABASE dispatchhub TO dispatchhub_app;
