-- The PostgreSQL peers' data (make bench: deploy/bench/pg-peer.sh), made once per database.
-- Data: :contacts contacts, 1 to 20 activities each (about 11M rows for 1M contacts); ~10% inactive for 36 months as of 2026-11-23.
\set ON_ERROR_STOP on
DROP TABLE IF EXISTS activities; DROP TABLE IF EXISTS contacts;
SELECT setseed(0.42);
CREATE TABLE contacts AS
SELECT id, CASE WHEN random() < 0.03 THEN 'structure' WHEN random() < 0.05 THEN 'relay' ELSE 'individual' END AS role,
       timestamptz '2015-01-01' + random() * interval '1500 days' AS created_at,
       CASE WHEN random() < 0.01 THEN -500 WHEN random() < 0.01 THEN 300 ELSE 0 END AS balance,
       random() < 0.005 AS legal_hold, random() < 0.01 AS active_sub,
       CASE WHEN random() < 0.10 THEN timestamptz '2019-01-01' + random() * interval '1700 days'
            ELSE timestamptz '2023-11-24' + random() * interval '1090 days' END AS last_active
FROM generate_series(1, :contacts) AS id;
CREATE TABLE activities AS
SELECT c.id AS contact_id,
       (ARRAY['order','order','option','waitlist','click','criterion','consent_yes','payment','payment','consent_no'])[1 + floor(random() * 10)::int] AS kind,
       c.created_at + random() * (c.last_active - c.created_at) AS at
FROM contacts c, LATERAL generate_series(0, floor(random() * 19)::int + (c.id * 0)) AS g;
-- the last activity itself, so the intended distribution holds
INSERT INTO activities SELECT id, 'click', last_active FROM contacts;
CREATE INDEX ON activities (contact_id);
ANALYZE contacts; ANALYZE activities;
-- The recency projection pg-projection.sql's run reads: what a team would maintain, one row per contact.
DROP TABLE IF EXISTS proj;
CREATE TABLE proj AS
  SELECT c.id, c.role, c.balance, c.legal_hold, c.active_sub,
         GREATEST(c.created_at, COALESCE(MAX(a.at) FILTER (WHERE a.kind NOT IN ('payment', 'consent_no')), c.created_at)) AS recency,
         COALESCE(BOOL_OR(a.kind = 'order'), false) AS customer
  FROM contacts c LEFT JOIN activities a ON a.contact_id = c.id
  GROUP BY c.id, c.role, c.balance, c.legal_hold, c.active_sub, c.created_at;
CREATE INDEX ON proj (recency);
ANALYZE proj;
DROP TABLE IF EXISTS bench_meta; CREATE TABLE bench_meta AS SELECT :contacts::int AS contacts;
