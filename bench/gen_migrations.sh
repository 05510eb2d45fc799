#!/usr/bin/env bash
# Writes N small up/down migration pairs into DIR: tables, columns, indexes, policies,
# functions and triggers, in groups of six that build on each other.
set -euo pipefail
dir="$1"; n="${2:-500}"
mkdir -p "$dir"
for ((i = 1; i <= n; i++)); do
  g=$(( (i - 1) / 6 )); k=$(( (i - 1) % 6 )); v=$(printf '%05d' "$i"); t="bench_$g"
  case $k in
    0) up="create table $t (id bigint generated always as identity primary key, owner uuid, title text not null, created_at timestamptz not null default now());"
       down="drop table $t;"; name="create_$t" ;;
    1) up="alter table $t add column score integer not null default 0;"
       down="alter table $t drop column score;"; name="add_score_$t" ;;
    2) up="create index ${t}_owner_idx on $t (owner, created_at desc);"
       down="drop index ${t}_owner_idx;"; name="index_$t" ;;
    3) up="alter table $t enable row level security;
create policy ${t}_owner on $t for select using (owner = nullif(current_setting('app.user', true), '')::uuid);"
       down="drop policy ${t}_owner on $t;
alter table $t disable row level security;"; name="policy_$t" ;;
    4) up="create function ${t}_touch() returns trigger language plpgsql as \$\$
begin
  new.created_at := now();
  return new;
end;
\$\$;"
       down="drop function ${t}_touch();"; name="function_$t" ;;
    5) up="create trigger ${t}_touch before update on $t for each row execute function ${t}_touch();"
       down="drop trigger ${t}_touch on $t;"; name="trigger_$t" ;;
  esac
  printf '%s\n' "$up" > "$dir/${v}_${name}.sql"
  printf '%s\n' "$down" > "$dir/${v}_${name}.down.sql"
done
