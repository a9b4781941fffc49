-- Instants: bucket bounds in unix seconds (`_s`, whole hours), every other instant in unix
-- microseconds (`_us`). Enum values are the API's wire names. '' in segmentation_type,
-- segment_value and metric_group means "none" (unsegmented; groups not echoed).

-- Accounts and their time zones (IANA names): DAY buckets run between local midnights.
CREATE TABLE IF NOT EXISTS accounts (
  account_id TEXT PRIMARY KEY,
  tz         TEXT NOT NULL,
  updated_us INTEGER NOT NULL
);

-- One series: an entity's metric leaf (`impressions`, `conversion_purchases.post_view`,
-- `mobile_conversion_installs.skan.post_view`) in one placement, segment and granularity.
CREATE TABLE IF NOT EXISTS series (
  series_id         INTEGER PRIMARY KEY,
  account_id        TEXT NOT NULL,
  entity_type       TEXT NOT NULL,
  entity_id         TEXT NOT NULL,
  placement         TEXT NOT NULL,
  granularity       TEXT NOT NULL,
  segmentation_type TEXT NOT NULL,
  segment_value     TEXT NOT NULL,
  segment_name      TEXT,            -- NULL when unsegmented
  metric            TEXT NOT NULL,
  UNIQUE (account_id, entity_type, entity_id, placement, granularity,
          segmentation_type, segment_value, metric)
);

-- One value of one series in one bucket. value NULL: the metric had no data in the whole
-- window it was fetched with (distinct from 0). fetched_us: the fetch that wrote this value
-- (a later fetch that confirms it is recorded in fetched_buckets, not here).
CREATE TABLE IF NOT EXISTS facts (
  series_id  INTEGER NOT NULL,       -- series.series_id
  start_s    INTEGER NOT NULL,
  end_s      INTEGER NOT NULL,
  value      INTEGER,
  fetched_us INTEGER NOT NULL,
  PRIMARY KEY (series_id, start_s, end_s)
) WITHOUT ROWID;

-- One request scope whose buckets are fetched together: an entity in one placement,
-- granularity, segmentation type and metric group.
CREATE TABLE IF NOT EXISTS fetch_scopes (
  scope_id          INTEGER PRIMARY KEY,
  account_id        TEXT NOT NULL,
  entity_type       TEXT NOT NULL,
  entity_id         TEXT NOT NULL,
  placement         TEXT NOT NULL,
  granularity       TEXT NOT NULL,
  segmentation_type TEXT NOT NULL,
  metric_group      TEXT NOT NULL,
  UNIQUE (account_id, entity_type, entity_id, placement, granularity,
          segmentation_type, metric_group)
);

-- The finality state of one fetched bucket of a scope: when it was last fetched (the newest
-- fetch ingested), and whether its metrics were final (0/1) and where spend stood
-- (0 estimate, 1 adjusting, 2 final) then.
CREATE TABLE IF NOT EXISTS fetched_buckets (
  scope_id      INTEGER NOT NULL,    -- fetch_scopes.scope_id
  start_s       INTEGER NOT NULL,
  end_s         INTEGER NOT NULL,
  fetched_us    INTEGER NOT NULL,
  metrics_final INTEGER NOT NULL,
  spend_stage   INTEGER NOT NULL,
  PRIMARY KEY (scope_id, start_s, end_s)
) WITHOUT ROWID;

-- Bookmarks per account and entity type (an instant each).
CREATE TABLE IF NOT EXISTS bookmarks (
  account_id  TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  name        TEXT NOT NULL,
  value_us    INTEGER NOT NULL,
  updated_us  INTEGER NOT NULL,
  PRIMARY KEY (account_id, entity_type, name)
) WITHOUT ROWID;

-- The asynchronous jobs the engine submitted. job_id: the decimal id_str; params: the request
-- parameters as a JSON array of [name, value] pairs; finished_us NULL while still to be polled.
CREATE TABLE IF NOT EXISTS jobs (
  account_id   TEXT NOT NULL,
  job_id       TEXT NOT NULL,
  request_key  TEXT NOT NULL,
  params       TEXT NOT NULL,
  status       TEXT NOT NULL,
  url          TEXT,
  submitted_us INTEGER NOT NULL,
  updated_us   INTEGER NOT NULL DEFAULT 0,
  attempts     INTEGER NOT NULL DEFAULT 1,
  finished_us  INTEGER,
  PRIMARY KEY (account_id, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_request ON jobs (account_id, request_key);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (account_id, submitted_us) WHERE finished_us IS NULL;

-- The planned requests completed (their results ingested).
CREATE TABLE IF NOT EXISTS completed_requests (
  account_id   TEXT NOT NULL,
  request_key  TEXT NOT NULL,
  completed_us INTEGER NOT NULL,
  PRIMARY KEY (account_id, request_key)
) WITHOUT ROWID;

-- One worker's exclusive right to sync an account, until expires_us.
CREATE TABLE IF NOT EXISTS leases (
  account_id  TEXT PRIMARY KEY,
  worker      TEXT NOT NULL,
  acquired_us INTEGER NOT NULL,
  expires_us  INTEGER NOT NULL
);
