-- A gender the user declared for matching (issue 64; docs/privacy.md "Gender"): woman, man or non_binary, NULL when
-- not said; and when they consented to its use in matching, a consent of its own beside the privacy notice's. Set
-- together and cleared together (a withdrawal deletes the declaration); the row's purge takes both. Whom someone
-- wants to meet is never stored: it lives in the queue's entry for one find.
ALTER TABLE users ADD COLUMN gender TEXT CHECK (gender IN ('woman', 'man', 'non_binary'));
ALTER TABLE users ADD COLUMN gender_consent_at TEXT;
