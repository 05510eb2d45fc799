drop trigger if exists workspace_feature_flags_touch on public.workspace_feature_flags;
drop function if exists public.touch_updated_at();
drop table if exists public.workspace_feature_flags;
