-- When the redemption that consumed the code was refused
-- (`mark_redemption_failed`): nothing was issued from it, so presenting it
-- again is not the replay of a successful redemption.
ALTER TABLE codes ADD COLUMN failed_at INTEGER;
