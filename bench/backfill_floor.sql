-- The floor for bench/backfill_bench.sh: examples/backfill's job written by hand as
-- set-based SQL. Latest row per user, one INSERT … SELECT … jsonb_array_elements per
-- table, the same deterministic UUIDv5 ids belay computes (uuid-ossp), references
-- remapped by recomputing the parent's id. No audit, no per-user atomicity, no checks
-- for dangling references or bad types. Usage: psql -v ns="'<job namespace uuid>'" -f …
create extension if not exists "uuid-ossp";
create temporary view latest as
  select distinct on (user_id) user_id, state from user_app_state order by user_id, updated_at desc;
create function pg_temp.nid(u text, entity text, old text) returns uuid immutable language sql
  return uuid_generate_v5(:ns::uuid, u || chr(31) || entity || chr(31) || old);

insert into orgs (id, user_id, name, plan, created_at)
select pg_temp.nid(s.user_id, 'orgs', e->>'id'), s.user_id, e->>'name', coalesce(e->>'plan', 'free'),
       coalesce((e->>'createdAt')::timestamptz, now())
from latest s, jsonb_array_elements(s.state->'orgs') e;

insert into personas (id, user_id, org_id, name, tone, is_default)
select pg_temp.nid(s.user_id, 'personas', e->>'id'), s.user_id, pg_temp.nid(s.user_id, 'orgs', e->>'orgId'),
       e->>'name', e->>'tone', coalesce((e->>'isDefault')::boolean, false)
from latest s, jsonb_array_elements(s.state->'personas') e;

insert into contents (id, user_id, persona_id, title, body, word_count, published_at, meta)
select pg_temp.nid(s.user_id, 'contents', e->>'id'), s.user_id, pg_temp.nid(s.user_id, 'personas', e->>'personaId'),
       e->>'title', e->>'body', (e->>'wordCount')::integer, (e->>'publishedAt')::timestamptz, e->'meta'
from latest s, jsonb_array_elements(s.state->'contents') e;

insert into accounts (id, user_id, org_id, platform, handle, followers)
select pg_temp.nid(s.user_id, 'accounts', e->>'id'), s.user_id, pg_temp.nid(s.user_id, 'orgs', e->>'orgId'),
       e->>'platform', e->>'handle', (e->>'followers')::bigint
from latest s, jsonb_array_elements(s.state->'accounts') e;

insert into leads (id, user_id, account_id, name, email, score, stage)
select pg_temp.nid(s.user_id, 'leads', e->>'id'), s.user_id, pg_temp.nid(s.user_id, 'accounts', e->>'accountId'),
       e->>'name', e->>'email', (e->>'score')::numeric, coalesce(e->>'stage', 'new')
from latest s, jsonb_array_elements(s.state->'leads') e;

insert into "references" (id, user_id, content_id, url, title)
select pg_temp.nid(s.user_id, 'references', e->>'id'), s.user_id, pg_temp.nid(s.user_id, 'contents', e->>'contentId'),
       e->>'url', e->>'title'
from latest s, jsonb_array_elements(s.state->'references') e;

insert into inbox_items (id, user_id, lead_id, account_id, subject, received_at, is_read, payload)
select pg_temp.nid(s.user_id, 'inbox_items', e->>'id'), s.user_id, pg_temp.nid(s.user_id, 'leads', e->>'leadId'),
       pg_temp.nid(s.user_id, 'accounts', e->>'accountId'), e->>'subject', (e->>'receivedAt')::timestamptz,
       coalesce((e->>'read')::boolean, false), e->'payload'
from latest s, jsonb_array_elements(s.state->'inboxItems') e;
