-- The blob store the application writes today: one JSONB document per user (and,
-- because nothing enforced it, sometimes several rows per user).
create table user_app_state (
  id          bigserial primary key,
  user_id     text not null,
  updated_at  timestamptz not null default now(),
  state       jsonb
);
create index user_app_state_user_idx on user_app_state (user_id, updated_at desc);
