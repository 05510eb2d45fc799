drop table if exists public.gtm_docs;
drop table if exists public.workspaces;
