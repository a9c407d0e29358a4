-- The Idempotency-Key of the claim that holds an item: the same claim sent again (its answer
-- lost) gets the same item back, with fresh tokens, instead of a second item.
ALTER TABLE queue_items ADD COLUMN claim_key TEXT;
