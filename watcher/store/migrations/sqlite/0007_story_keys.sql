-- version 7: the story index. Each item of a story stores the keys of its print
-- (watcher/storyindex.py) under its story's id; a new item looks its probes up here and is
-- compared only with the members of the stories found, never with every recent story.
CREATE TABLE story_keys (
    key         INTEGER NOT NULL,       -- 63-bit key of a print
    story_id    INTEGER NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX story_keys_key ON story_keys (key, created_at);
CREATE INDEX story_keys_created ON story_keys (created_at);
CREATE INDEX items_story ON items (story_id);
