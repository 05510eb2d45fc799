-- A few users for trying the job by hand (psql "$(belay db url)" -f sample_data.sql),
-- messy on purpose: an older row that must lose, a dangling reference, an element
-- without its id, numbers written as strings, a null array, an object where an array
-- belongs, and an empty document.
insert into user_app_state (user_id, updated_at, state) values
('alice', '2025-12-01', '{"orgs": [{"id": "o1", "name": "Old name"}]}'),
('alice', '2025-12-20', '{
  "orgs": [{"id": "o1", "name": "Acme", "plan": "pro", "createdAt": "2025-11-01T10:00:00Z"}],
  "personas": [{"id": "p1", "orgId": "o1", "name": "Founder", "isDefault": true},
               {"id": "p2", "orgId": "o9", "name": "Points nowhere"}],
  "contents": [{"id": "c1", "personaId": "p1", "title": "Launch", "wordCount": "420", "meta": {"tags": ["news"]}},
               {"title": "No id"}],
  "accounts": [{"id": "a1", "orgId": "o1", "platform": "linkedin", "followers": "1200"}],
  "leads": [{"id": 1, "accountId": "a1", "name": "Zoë", "score": "0.8"}],
  "references": [{"id": "r1", "contentId": "c1", "url": "https://example.com/launch"}],
  "inboxItems": [{"id": "i1", "leadId": 1, "accountId": "a1", "subject": "Hello", "read": false}]
}'),
('bob', '2025-12-21', '{"orgs": [{"id": "o1", "name": "Bob Co"}], "personas": null, "contents": []}'),
('carol', '2025-12-22', '{"orgs": {"id": "o1", "name": "an object, not an array"}}'),
('dave', '2025-12-23', '{}');
