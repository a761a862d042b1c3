-- Whom you meet (issue 29): the topics a profile lists (ids of src/domain/interests.rs, joined by ',', at most 10)
-- and the languages its owner speaks (ISO 639-1 codes joined by ',', one to three). Empty: none chosen; languages
-- then read as the notification language (`locale`). Text, parsed where it is read: the vocabulary lives in code.
ALTER TABLE users ADD COLUMN interests TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN languages TEXT NOT NULL DEFAULT '';
