-- The peer a user would pick instead of Lethe: the ticketing vendor's style of batch, recomputing every
-- contact's recency from the raw activity history in PostgreSQL, then deciding outcomes. Needs pg-data.sql.
\set ON_ERROR_STOP on
\timing on
WITH r AS (
  SELECT c.id, c.role, c.balance, c.legal_hold, c.active_sub,
         GREATEST(c.created_at, COALESCE(MAX(a.at) FILTER (WHERE a.kind NOT IN ('payment', 'consent_no')), c.created_at)) AS recency,
         COALESCE(BOOL_OR(a.kind = 'order'), false) AS customer
  FROM contacts c LEFT JOIN activities a ON a.contact_id = c.id
  GROUP BY c.id, c.role, c.balance, c.legal_hold, c.active_sub, c.created_at)
SELECT outcome, count(*) FROM (
  SELECT CASE WHEN balance < 0 THEN 'skip:debt' WHEN balance > 0 THEN 'skip:credit'
              WHEN active_sub THEN 'skip:active_subscription' WHEN legal_hold THEN 'skip:legal_hold'
              WHEN customer THEN 'anonymise' ELSE 'delete' END AS outcome
  FROM r WHERE role IN ('individual', 'relay') AND recency < timestamptz '2023-11-23') x
GROUP BY outcome ORDER BY outcome;
