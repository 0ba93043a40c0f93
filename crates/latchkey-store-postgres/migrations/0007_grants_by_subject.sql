-- Removing a user revokes their grants (issue 10): the refresh families and
-- access tokens of one subject are found by index, not by scanning.
CREATE INDEX refresh_families_subject ON refresh_families (subject);
CREATE INDEX access_tokens_subject ON access_tokens (subject) WHERE subject IS NOT NULL;
