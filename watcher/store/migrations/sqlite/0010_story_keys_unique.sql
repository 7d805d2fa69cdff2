-- version 10: a story holds each index key once (it was once per member item), so a probe
-- reads one row per story holding its key, not one per item, and "a key held by more
-- than COMMON stories" counts stories. The key's time is its story's newest member's, as
-- the window saw it before. Clustered by key (WITHOUT ROWID): a probe is one range read.
CREATE TABLE story_keys_unique (
    key         INTEGER NOT NULL,
    story_id    INTEGER NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (key, story_id)
) WITHOUT ROWID;
INSERT INTO story_keys_unique (key, story_id, created_at)
    SELECT key, story_id, MAX(created_at) FROM story_keys GROUP BY key, story_id;
DROP TABLE story_keys;
ALTER TABLE story_keys_unique RENAME TO story_keys;
CREATE INDEX story_keys_created ON story_keys (created_at);
-- the channels a story reached, read for every copy that joins it (was a scan of alerts)
CREATE INDEX alerts_story ON alerts (story_id);
-- items_seen_feed (seen_at, feed_url) serves every query by time seen: one index less to
-- write for each item stored
DROP INDEX items_seen;
