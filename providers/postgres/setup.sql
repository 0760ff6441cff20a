-- Least-privilege setup for accessbot's postgres provider.
--
-- Run once as a superuser (psql -f setup.sql), after replacing readonly
-- with the roles your policy's postgres resources name (one GRANT each).
-- The provider's role needs no SUPERUSER and no CREATEROLE (which, on 15,
-- would let it grant every role but the superuser ones): ADMIN OPTION on a
-- role is what lets a role grant it to, and revoke it from, others. It can
-- therefore hand out exactly the roles listed here and nothing else (and
-- never a superuser role: that needs superuser).
-- provider_test.go runs this file, with unique names, on every test run.

-- The login role accessbot connects as (ACCESSBOT_POSTGRES_DSN). NOINHERIT:
-- being a member of the roles it administers (PostgreSQL 15 makes every
-- holder of ADMIN OPTION a member) does not give it their privileges. On 15
-- it can still SET ROLE to them, so guard its credentials as you would the
-- roles' own (16 and later can take that away too: see below).
CREATE ROLE accessbot LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE
  NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 8;
COMMENT ON ROLE accessbot IS 'accessbot: grants and revokes the roles it holds ADMIN OPTION on';

-- Set its password interactively, so it lands in no shell history or log:
--   \password accessbot
-- (or use certificate authentication). The provider ends access with
-- REVOKE; it never relies on VALID UNTIL, which limits password logins only.

-- One line per role a resource names. PostgreSQL 15:
GRANT readonly TO accessbot WITH ADMIN OPTION;

-- PostgreSQL 16 and later: make the provider's own membership inert, so it
-- cannot even SET ROLE to what it administers:
--   GRANT readonly TO accessbot WITH ADMIN TRUE, INHERIT FALSE, SET FALSE;
-- On 16 and later a REVOKE removes only the memberships accessbot itself
-- granted; one a DBA granted by hand stays (and Holds reports it as held,
-- so accessbot refuses such a request as "already held").

-- If CONNECT on the database was revoked from PUBLIC:
--   GRANT CONNECT ON DATABASE postgres TO accessbot;
