-- When a replay revoked the code's grant (`revoke_code_grant`): the tombstone
-- that makes the first redemption's late inserts land revoked. Kept until
-- `CODE_TOMBSTONE_MARGIN` after the code's expiry.
ALTER TABLE codes ADD COLUMN revoked_at INTEGER;
