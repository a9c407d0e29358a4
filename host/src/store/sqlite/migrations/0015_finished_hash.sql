-- The lease hash of the claim that finished an item, so that the same finish sent again (its
-- answer lost) is recognised and answered alike instead of refused.
ALTER TABLE queue_items ADD COLUMN finished_hash BLOB;
