create table if not exists public.workspace_feature_flags (
  workspace_id uuid not null references public.workspaces (id) on delete cascade,
  feature_key  text not null,
  enabled      boolean not null default false,
  updated_at   timestamptz not null default now(),
  primary key (workspace_id, feature_key)
);

create or replace function public.touch_updated_at() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();  -- keep the audit column honest; ';' inside a body is fine
  return new;
end;
$$;

create trigger workspace_feature_flags_touch
  before update on public.workspace_feature_flags
  for each row execute function public.touch_updated_at();
