-- Seed 003's normalized schema: seven tables with new UUID keys and foreign keys
-- between them. No ON DELETE CASCADE: deleting a parent never silently takes rows
-- someone else created with it.
create table orgs (
  id          uuid primary key,
  user_id     text not null,
  name        text not null,
  plan        text not null default 'free',
  created_at  timestamptz not null default now()
);
create index orgs_user_idx on orgs (user_id);

create table personas (
  id          uuid primary key,
  user_id     text not null,
  org_id      uuid references orgs (id),
  name        text not null,
  tone        text,
  is_default  boolean not null default false,
  created_at  timestamptz not null default now()
);
create index personas_user_idx on personas (user_id);
create index personas_org_idx on personas (org_id);

create table contents (
  id            uuid primary key,
  user_id       text not null,
  persona_id    uuid references personas (id),
  title         text,
  body          text,
  word_count    integer,
  published_at  timestamptz,
  meta          jsonb,
  created_at    timestamptz not null default now()
);
create index contents_user_idx on contents (user_id);
create index contents_persona_idx on contents (persona_id);

create table accounts (
  id          uuid primary key,
  user_id     text not null,
  org_id      uuid references orgs (id),
  platform    text not null,
  handle      text,
  followers   bigint,
  created_at  timestamptz not null default now()
);
create index accounts_user_idx on accounts (user_id);
create index accounts_org_idx on accounts (org_id);

create table leads (
  id          uuid primary key,
  user_id     text not null,
  account_id  uuid references accounts (id),
  name        text,
  email       text,
  score       numeric,
  stage       text not null default 'new',
  created_at  timestamptz not null default now()
);
create index leads_user_idx on leads (user_id);
create index leads_account_idx on leads (account_id);

create table "references" (
  id          uuid primary key,
  user_id     text not null,
  content_id  uuid references contents (id),
  url         text not null,
  title       text,
  created_at  timestamptz not null default now()
);
create index references_user_idx on "references" (user_id);
create index references_content_idx on "references" (content_id);

create table inbox_items (
  id           uuid primary key,
  user_id      text not null,
  lead_id      uuid references leads (id),
  account_id   uuid references accounts (id),
  subject      text,
  received_at  timestamptz,
  is_read      boolean not null default false,
  payload      jsonb,
  created_at   timestamptz not null default now()
);
create index inbox_items_user_idx on inbox_items (user_id);
create index inbox_items_lead_idx on inbox_items (lead_id);
create index inbox_items_account_idx on inbox_items (account_id);
