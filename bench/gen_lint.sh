#!/usr/bin/env bash
# Writes N migration files of mixed, realistic content into DIR for the lint benchmark:
# about five statements each (2,000 files: ~10,000 statements) (tables with identity keys and RLS, policies, indexes built
# concurrently, column changes, functions with bodies, views, grants, data fixes), in
# groups of eight that build on each other.
set -euo pipefail
dir="$1"; n="${2:-2000}"
mkdir -p "$dir"
for ((i = 1; i <= n; i++)); do
  g=$(( (i - 1) / 8 )); k=$(( (i - 1) % 8 )); v=$(printf '%05d' "$i"); t="app_$g"
  case $k in
    0) body="create table if not exists public.$t (
  id bigint generated always as identity primary key,
  owner uuid not null default auth.uid(),
  title text not null,
  body text,
  created_at timestamptz not null default now()
);
alter table public.$t enable row level security;
create policy ${t}_read on public.$t for select to authenticated using ((select auth.uid()) = owner);
create policy ${t}_write on public.$t for insert to authenticated with check ((select auth.uid()) = owner);
comment on table public.$t is 'items of group $g';
comment on column public.$t.owner is 'auth.users id of the creator';" ;;
    1) body="alter table public.$t add column if not exists score integer not null default 0;
alter table public.$t add column if not exists tags text[];
alter table public.$t add column if not exists meta jsonb not null default '{}'::jsonb;
update public.$t set score = 1 where score = 0 and created_at < now() - interval '30 days';
alter table public.$t alter column score set default 1;
analyze public.$t;" ;;
    2) body="create index concurrently if not exists ${t}_owner_idx on public.$t (owner, created_at desc);
create index concurrently if not exists ${t}_tags_idx on public.$t using gin (tags);
comment on index public.${t}_owner_idx is 'lookups by owner, newest first';
comment on index public.${t}_tags_idx is 'tag search';" ;;
    3) body="create or replace function public.${t}_touch() returns trigger
language plpgsql set search_path = '' as \$\$
begin
  new.created_at := now();
  if new.score < 0 then
    raise exception 'negative score for %', new.id;
  end if;
  return new;
end;
\$\$;
drop trigger if exists ${t}_touch on public.$t;
create trigger ${t}_touch before update on public.$t for each row execute function public.${t}_touch();
revoke execute on function public.${t}_touch() from public, anon, authenticated;
comment on function public.${t}_touch() is 'keeps created_at';" ;;
    4) body="create or replace view public.${t}_recent with (security_invoker = true) as
  select id, owner, title, created_at from public.$t where created_at > now() - interval '7 days';
grant select on public.${t}_recent to authenticated;
grant select, insert, update on public.$t to authenticated;
comment on view public.${t}_recent is 'last week of group $g';" ;;
    5) body="alter table public.$t add constraint ${t}_score_check check (score >= 0) not valid;
alter table public.$t add constraint ${t}_title_len check (length(title) <= 500) not valid;
create table if not exists public.${t}_audit (id bigint generated always as identity primary key, item bigint, at timestamptz default now());
alter table public.${t}_audit enable row level security;
create policy ${t}_audit_insert on public.${t}_audit for insert to authenticated with check (false);" ;;
    6) body="alter table public.$t validate constraint ${t}_score_check;
alter table public.$t validate constraint ${t}_title_len;
insert into public.${t}_audit (item) select id from public.$t where score > 100;
delete from public.${t}_audit where at < now() - interval '1 year';
notify app_events, 'group $g validated';" ;;
    7) body="-- belay:ignore create-index-non-concurrently
create index if not exists ${t}_audit_item on public.${t}_audit (item);
alter table public.${t}_audit add constraint ${t}_audit_item_fk foreign key (item) references public.$t (id) not valid;
create policy ${t}_audit_read on public.${t}_audit for select to authenticated
  using (exists (select 1 from public.$t i where i.id = item and i.owner = (select auth.uid())));
select set_config('app.note', 'group $g done', true);
grant select on public.${t}_audit to authenticated;" ;;
  esac
  printf '%s\n' "$body" > "$dir/${v}_step${k}_$t.sql"
done
