-- Delivery claims the first pending action of each case, oldest due first:
-- indexes over the pending actions only (delivered ones pile up), by case
-- for "is an earlier one of its case still pending?" and by due instant for
-- the order of the claim.
CREATE INDEX outbox_pending_case ON outbox (case_id, due_ms, seq) WHERE state = 'pending';
CREATE INDEX outbox_pending_due ON outbox (due_ms) WHERE state = 'pending';
