-- watcher state store, version 1.
CREATE TABLE feeds (
    url                  TEXT PRIMARY KEY,   -- as configured: the feed's identity
    current_url          TEXT,               -- after permanent redirects
    title                TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    body_hash            TEXT,
    first_polled_at      REAL,
    last_poll_at         REAL,
    last_success_at      REAL,
    last_status          TEXT,
    last_error           TEXT,
    error_kind           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    next_poll_at         REAL NOT NULL DEFAULT 0,
    items_total          INTEGER NOT NULL DEFAULT 0,
    last_new_item_at     REAL,
    gone                 INTEGER NOT NULL DEFAULT 0,
    health_reported      INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE items (
    id             INTEGER PRIMARY KEY,
    feed_url       TEXT NOT NULL,
    item_key       TEXT NOT NULL,
    canonical_url  TEXT,
    content_hash   TEXT NOT NULL,
    feed_name      TEXT NOT NULL DEFAULT '',
    title          TEXT NOT NULL DEFAULT '',
    link           TEXT,
    summary        TEXT NOT NULL DEFAULT '',   -- plain text, for backtest
    content        TEXT NOT NULL DEFAULT '',
    author         TEXT NOT NULL DEFAULT '',
    categories     TEXT NOT NULL DEFAULT '[]', -- JSON list
    published_at   REAL,
    seen_at        REAL NOT NULL,
    matched        TEXT NOT NULL DEFAULT '[]', -- JSON list of profile names that matched
    story_id       INTEGER,
    signature      TEXT,                       -- story signature, for items in a story
    UNIQUE (feed_url, item_key)
);
CREATE INDEX items_canonical ON items (canonical_url);
CREATE INDEX items_hash ON items (content_hash);
CREATE INDEX items_seen ON items (seen_at);

CREATE TABLE stories (
    id          INTEGER PRIMARY KEY,
    signature   TEXT NOT NULL,
    item_id     INTEGER NOT NULL,
    created_at  REAL NOT NULL
);
CREATE INDEX stories_created ON stories (created_at);

CREATE TABLE alerts (
    id           INTEGER PRIMARY KEY,
    channel      TEXT NOT NULL,
    dedupe_key   TEXT NOT NULL,         -- one alert per story (or update) per channel
    kind         TEXT NOT NULL,
    story_id     INTEGER,
    item_id      INTEGER,
    profiles     TEXT NOT NULL,         -- JSON list
    urgent       INTEGER NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL,         -- JSON: what the renderers need
    created_at   REAL NOT NULL,
    not_before   REAL NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | folded
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    sent_at      REAL,
    sent_as      TEXT,                  -- alert | summary | digest | reply
    remote_id    TEXT,                  -- Slack ts of the message
    UNIQUE (channel, dedupe_key)
);
CREATE INDEX alerts_pending ON alerts (status, channel, not_before);
CREATE INDEX alerts_created ON alerts (created_at);

CREATE TABLE channel_state (
    channel     TEXT PRIMARY KEY,
    error       TEXT,
    error_at    REAL,
    last_sent_at REAL
);

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
