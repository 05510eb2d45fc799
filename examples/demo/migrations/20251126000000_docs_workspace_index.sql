-- belay:lock_timeout=5s
-- Built without blocking writers. CONCURRENTLY cannot run in a transaction, so belay
-- runs this file statement by statement and records progress after each one.
create index concurrently if not exists gtm_docs_workspace_idx
  on public.gtm_docs (workspace_id, updated_at desc);

comment on index public.gtm_docs_workspace_idx is 'docs list per workspace, newest first';
