-- Version 2: nulls stored once per run of buckets instead of once per bucket.
--
-- One run of a series' buckets that were all null: every bucket of the series' grid in
-- [start_s, end_s) (DAY buckets between local midnights in zone tz), `buckets` of them,
-- written by the fetch at fetched_us. It reads as a facts row with value NULL in each of
-- those buckets. A run shares no bucket with a facts row of its series, nor with another run.
CREATE TABLE IF NOT EXISTS null_runs (
  series_id  INTEGER NOT NULL,       -- series.series_id
  start_s    INTEGER NOT NULL,
  end_s      INTEGER NOT NULL,
  buckets    INTEGER NOT NULL,
  tz         TEXT NOT NULL,
  fetched_us INTEGER NOT NULL,
  PRIMARY KEY (series_id, start_s)
) WITHOUT ROWID;
