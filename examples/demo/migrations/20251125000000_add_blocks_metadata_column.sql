-- migrate:up
-- Seed 000: structured blocks live in a JSONB column with an empty default.
alter table public.gtm_docs
  add column if not exists blocks_metadata jsonb not null default '{}'::jsonb;

-- migrate:down
alter table public.gtm_docs drop column if exists blocks_metadata;
