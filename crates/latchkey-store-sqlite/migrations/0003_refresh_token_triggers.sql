-- Index every current refresh-token digest inside the statement that stores
-- it, so `insert_family` and `rotate_family` are one statement each (a
-- statement is its own transaction: the family row and its index entry land
-- together or not at all). A digest already indexed aborts the statement
-- with a unique violation, as the separate insert did before.
CREATE TRIGGER refresh_families_index_inserted AFTER INSERT ON refresh_families
BEGIN
    INSERT INTO refresh_tokens (digest, family_id) VALUES (NEW.current_digest, NEW.id);
END;

CREATE TRIGGER refresh_families_index_rotated AFTER UPDATE OF current_digest ON refresh_families
BEGIN
    INSERT INTO refresh_tokens (digest, family_id) VALUES (NEW.current_digest, NEW.id);
END;
