-- Whom you meet (issue 29, point 3): the ISO 3166-1 alpha-2 country of the account's phone number, which premium
-- finds may restrict matching to. Set at registration and at a phone change; empty: not known yet (an account made
-- before this migration, until its next sign-in: phone numbers are sealed, so no SQL can fill it). Never shown to
-- other users.
ALTER TABLE users ADD COLUMN country TEXT NOT NULL DEFAULT '';
