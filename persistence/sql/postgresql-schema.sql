-- The tables of troupe::persistence's PostgreSQL plugin (persistence/src/postgres_store.cpp).
--
-- The plugin creates them itself on first use: the build compiles this file in verbatim
-- (persistence/CMakeLists.txt generates internal/postgres_schema.hpp from it) and runs it,
-- under an advisory lock so that concurrent creators wait for each other, after
-- `CREATE SCHEMA IF NOT EXISTS <schema>` and `SET search_path TO <schema>`, where <schema>
-- is the setting "postgresql.schema" (default public). To create them by hand:
--
--   PGOPTIONS=--search_path=myschema psql -v ON_ERROR_STOP=1 -d mydb -f postgresql-schema.sql
--
-- Integers the plugin keeps as uint32 (serializer, version) are bigint here. Ids are text
-- (valid UTF-8 without NUL; the plugin calls other ids `invalid`) and compare bytewise
-- (COLLATE "C"), as std::string does: persistence_ids pages through them in that order.
-- Every other string is bytea, since it may hold any byte (NUL included), which text cannot.

-- The events, one row each. `delete_to` deletes the rows of an id up to a sequence number,
-- except the id's highest row, which it only marks `deleted` (and empties): so the highest
-- sequence number ever written is still max(sequence_nr), and a writer that recovers after
-- a delete continues the numbering. Reads skip deleted rows. The primary key is what makes
-- one writer per id: a second writer's first event collides with the first writer's.
CREATE TABLE IF NOT EXISTS journal (
  persistence_id text COLLATE "C" NOT NULL,
  sequence_nr bigint NOT NULL,
  serializer bigint NOT NULL,
  manifest bytea NOT NULL,
  version bigint NOT NULL,
  payload bytea NOT NULL,
  tags bytea NOT NULL,  -- each tag as a 4-byte big-endian length, then its bytes
  writer_uuid bytea NOT NULL,
  timestamp_ms bigint NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  PRIMARY KEY (persistence_id, sequence_nr)
);

-- One row per distinct tag of a tagged event. tag_offset grows in commit order, because every
-- transaction that inserts here holds one advisory lock (per schema) from before its first
-- insert until it commits: a reader that resumes after an offset never misses a later
-- commit with a smaller offset.
CREATE TABLE IF NOT EXISTS event_tag (
  tag_offset bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tag bytea NOT NULL,
  persistence_id text COLLATE "C" NOT NULL,
  sequence_nr bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS event_tag_by_tag ON event_tag (tag, tag_offset);
CREATE INDEX IF NOT EXISTS event_tag_by_event ON event_tag (persistence_id, sequence_nr);

-- The snapshots of event-sourced actors; saving one of the same id and sequence number
-- replaces it.
CREATE TABLE IF NOT EXISTS snapshot (
  persistence_id text COLLATE "C" NOT NULL,
  sequence_nr bigint NOT NULL,
  timestamp_ms bigint NOT NULL,
  serializer bigint NOT NULL,
  manifest bytea NOT NULL,
  version bigint NOT NULL,
  payload bytea NOT NULL,
  PRIMARY KEY (persistence_id, sequence_nr)
);

-- One current state per id. Revision r is written only over revision r - 1: an INSERT that
-- does nothing on conflict for r = 1, an UPDATE ... WHERE revision = r - 1 otherwise; no row
-- changed means another writer won (conflict).
CREATE TABLE IF NOT EXISTS durable_state (
  persistence_id text COLLATE "C" PRIMARY KEY,
  revision bigint NOT NULL,
  serializer bigint NOT NULL,
  manifest bytea NOT NULL,
  version bigint NOT NULL,
  payload bytea NOT NULL,
  tag bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS durable_state_by_tag ON durable_state (tag, persistence_id);
