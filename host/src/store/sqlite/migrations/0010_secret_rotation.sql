-- A rotated secret keeps the value it replaced (sealed the same way, under the same name) until
-- its overlap ends (`previous_until`, Unix ms): signatures are made with both until then.
ALTER TABLE secrets ADD COLUMN previous_nonce BLOB;
ALTER TABLE secrets ADD COLUMN previous_ciphertext BLOB;
ALTER TABLE secrets ADD COLUMN previous_until INTEGER;
