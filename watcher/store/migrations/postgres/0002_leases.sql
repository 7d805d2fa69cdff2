-- version 2: work sharing between daemons on one store: leases, heartbeats, singleton jobs.
ALTER TABLE feeds ADD COLUMN lease_owner TEXT;             -- the daemon polling it now
ALTER TABLE feeds ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN lease_owner TEXT;            -- the daemon delivering it now
ALTER TABLE alerts ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0;
CREATE INDEX feeds_due ON feeds (next_poll_at);

CREATE TABLE daemons (
    owner           TEXT PRIMARY KEY,   -- e.g. host:pid:start
    info            TEXT NOT NULL DEFAULT '',
    started_at      DOUBLE PRECISION NOT NULL,
    last_heartbeat  DOUBLE PRECISION NOT NULL
);

CREATE TABLE jobs (                     -- cluster-wide singletons: digests, housekeeping
    job       TEXT PRIMARY KEY,
    owner     TEXT NOT NULL,
    last_run  DOUBLE PRECISION NOT NULL
);
