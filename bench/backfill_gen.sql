-- Generates seed 003's user_app_state blobs: :users users, 29 array elements each
-- (2 orgs, 3 personas, 8 contents, 3 accounts, 5 leads, 4 references, 4 inbox items),
-- references between them by old id, and for every tenth user an older row that a
-- backfill must ignore (latest per user wins). Usage: psql -v users=20000 -f backfill_gen.sql
insert into user_app_state (user_id, updated_at, state)
select 'user-' || lpad(u::text, 6, '0'),
       timestamptz '2025-12-01' + u * interval '1 second',
       jsonb_build_object(
         'orgs', (select jsonb_agg(jsonb_build_object('id', 'o' || i, 'name', 'Org ' || i || ' of ' || u,
                                                     'plan', (array['free','pro','team'])[1 + (u + i) % 3],
                                                     'createdAt', '2025-11-0' || i || 'T10:00:00Z'))
                  from generate_series(1, 2) i),
         'personas', (select jsonb_agg(jsonb_build_object('id', 'p' || i, 'orgId', 'o' || (1 + i % 2),
                                                         'name', 'Persona ' || i, 'tone', 'friendly',
                                                         'isDefault', i = 1))
                      from generate_series(1, 3) i),
         'contents', (select jsonb_agg(jsonb_build_object('id', 'c' || i, 'personaId', 'p' || (1 + i % 3),
                                                         'title', 'Post ' || i || ' by ' || u,
                                                         'body', repeat('Lorem ipsum dolor sit amet. ', 8 + i),
                                                         'wordCount', 40 + i * 5,
                                                         'publishedAt', '2025-11-1' || (i % 10) || 'T08:30:00Z',
                                                         'meta', jsonb_build_object('tags', jsonb_build_array('a', 'b'), 'v', i)))
                      from generate_series(1, 8) i),
         'accounts', (select jsonb_agg(jsonb_build_object('id', 'a' || i, 'orgId', 'o' || (1 + i % 2),
                                                         'platform', (array['linkedin','x','email'])[i],
                                                         'handle', '@u' || u || '_' || i, 'followers', u * 7 + i))
                      from generate_series(1, 3) i),
         'leads', (select jsonb_agg(jsonb_build_object('id', i, 'accountId', 'a' || (1 + i % 3),
                                                      'name', 'Lead ' || i, 'email', 'lead' || i || '@example.com',
                                                      'score', round((i * 0.17)::numeric, 2), 'stage', 'new'))
                   from generate_series(1, 5) i),
         'references', (select jsonb_agg(jsonb_build_object('id', 'r' || i, 'contentId', 'c' || (1 + i % 8),
                                                           'url', 'https://example.com/' || u || '/' || i,
                                                           'title', 'Ref ' || i))
                        from generate_series(1, 4) i),
         'inboxItems', (select jsonb_agg(jsonb_build_object('id', 'i' || i, 'leadId', 1 + i % 5,
                                                           'accountId', 'a' || (1 + i % 3),
                                                           'subject', 'Re: hello ' || i,
                                                           'receivedAt', '2025-12-0' || i || 'T09:00:00Z',
                                                           'read', i % 2 = 0,
                                                           'payload', jsonb_build_object('from', 'x@example.com', 'n', i)))
                        from generate_series(1, 4) i))
from generate_series(1, :users) u;

-- Older rows for every tenth user: stale copies that must lose to the latest.
insert into user_app_state (user_id, updated_at, state)
select 'user-' || lpad(u::text, 6, '0'), timestamptz '2025-01-01',
       jsonb_build_object('orgs', jsonb_build_array(jsonb_build_object('id', 'stale', 'name', 'stale org')))
from generate_series(1, :users, 10) u;
analyze user_app_state;
