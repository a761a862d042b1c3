-- A node's fence (PostgreSQL's 0043; docs/testing.md row 38). A cluster runs on PostgreSQL; SQLite keeps the same
-- schema so the two stores answer alike.
CREATE TABLE node_fences (
    node  TEXT    PRIMARY KEY,
    epoch INTEGER NOT NULL DEFAULT 0
);
