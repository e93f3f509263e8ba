-- Roles of a team warehouse on PostgreSQL (README: "Running for a team").
--
-- Run once per database, as a superuser or a role with CREATEROLE, after `createdb`:
--     createdb pilotmonitor
--     psql -d pilotmonitor -f deploy/postgres/roles.sql
-- It is idempotent: run it again after an upgrade. No password is set here; give each login
-- role one with \password (or certificates), and keep it in ~/.pgpass, never in the repo.
--
-- pilotmonitor_pipeline    LOGIN: the pipeline's service account. Owns the database and every
--                          schema and table, writes everything (raw, warehouse, results).
-- pilotmonitor_steward     group: data stewards. Read and correct the raw layer (delivery
--                          register, quarantine) and read pipeline health and data quality.
-- pilotmonitor_researcher  group: researchers. Read the schema `published` and nothing else:
--                          row-level data outside the published marts stays out of reach.
-- pilotmonitor_report_reader  group: policymaker output. Reads nothing in the database (not even
--                          CONNECT): policymakers get the generated reports, which are files.
-- People are login roles in a group, e.g.
--     create role ann login in role pilotmonitor_researcher;

\set ON_ERROR_STOP on

do $$
declare
    name text;
begin
    foreach name in array array['pilotmonitor_pipeline', 'pilotmonitor_steward',
                                'pilotmonitor_researcher', 'pilotmonitor_report_reader'] loop
        if not exists (select from pg_roles where rolname = name) then
            execute format('create role %I', name);
        end if;
    end loop;
end
$$;
alter role pilotmonitor_pipeline login;

-- Only the roles below may connect; nothing is granted to PUBLIC (every role).
alter database :"DBNAME" owner to pilotmonitor_pipeline;
revoke all on database :"DBNAME" from public;
grant connect on database :"DBNAME" to pilotmonitor_steward, pilotmonitor_researcher;
revoke all on schema public from public;

-- The pipeline's schemas exist from the start, owned by the pipeline, so grants and default
-- privileges can name them (the pipeline's own `create schema if not exists` then does nothing).
create schema if not exists raw authorization pilotmonitor_pipeline;
create schema if not exists reference authorization pilotmonitor_pipeline;
create schema if not exists staging authorization pilotmonitor_pipeline;
create schema if not exists intermediate authorization pilotmonitor_pipeline;
create schema if not exists marts authorization pilotmonitor_pipeline;
create schema if not exists published authorization pilotmonitor_pipeline;
create schema if not exists results authorization pilotmonitor_pipeline;
create schema if not exists rounds authorization pilotmonitor_pipeline;
create schema if not exists quality authorization pilotmonitor_pipeline;
create schema if not exists pipeline authorization pilotmonitor_pipeline;

-- Researchers: published only, today's tables and every table the pipeline publishes later.
grant usage on schema published to pilotmonitor_researcher;
grant select on all tables in schema published to pilotmonitor_researcher;
alter default privileges for role pilotmonitor_pipeline in schema published
    grant select on tables to pilotmonitor_researcher;

-- Stewards: the raw layer (read and correct), pipeline health and data quality (read).
grant usage on schema raw, quality, pipeline to pilotmonitor_steward;
grant select, insert, update, delete on all tables in schema raw to pilotmonitor_steward;
alter default privileges for role pilotmonitor_pipeline in schema raw
    grant select, insert, update, delete on tables to pilotmonitor_steward;
grant select on all tables in schema quality, pipeline to pilotmonitor_steward;
alter default privileges for role pilotmonitor_pipeline in schema quality, pipeline
    grant select on tables to pilotmonitor_steward;
