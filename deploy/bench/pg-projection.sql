-- The best peer a user would build instead: a maintained recency projection in PostgreSQL, one row per
-- contact, indexed on recency; the run decides the inactive slice and writes a durable report. Needs pg-data.sql first (it makes the data and the projection).
\set ON_ERROR_STOP on
DROP TABLE IF EXISTS report;
CREATE TABLE report (id bigint, outcome text);
\timing on
-- the run: decide every inactive contact and write the report (as Lethe writes its run items)
INSERT INTO report
  SELECT id, CASE WHEN balance < 0 THEN 'skip:debt' WHEN balance > 0 THEN 'skip:credit'
              WHEN active_sub THEN 'skip:active_subscription' WHEN legal_hold THEN 'skip:legal_hold'
              WHEN customer THEN 'anonymise' ELSE 'delete' END
  FROM proj WHERE recency < timestamptz '2023-11-23' AND role IN ('individual', 'relay');
SELECT outcome, count(*) FROM report GROUP BY outcome ORDER BY outcome;
