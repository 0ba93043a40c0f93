-- Issue 10: what is shown of a person who signs in through an identity
-- provider (display only; the user name `{provider}:{subject}` identifies
-- them). NULL provider: a local user with a password.
ALTER TABLE users ADD COLUMN upstream_provider TEXT;
ALTER TABLE users ADD COLUMN upstream_name TEXT;
ALTER TABLE users ADD COLUMN upstream_email TEXT;
