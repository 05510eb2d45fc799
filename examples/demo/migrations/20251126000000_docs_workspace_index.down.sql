drop index concurrently if exists public.gtm_docs_workspace_idx;
