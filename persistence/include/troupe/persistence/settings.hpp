// settings: which plugin troupe::persistence uses and how, read from JSON.
//
//   {"plugin": "sqlite",                                  // or "postgresql", "in-memory"
//    "sqlite": {"path": "state/troupe.db", "max-batch": 1000},
//    "postgresql": {"connection": "host=/run/pg dbname=troupe", "pool-size": 4},
//    "snapshot-every": 1000}
//
// The PostgreSQL connection string may come from the environment instead of the file:
// TROUPE_PG_CONNECTION (or, when "connection-env" names another variable, that one); it is
// libpq's "key=value" or "postgresql://" form. Errors name the key and the expected value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "troupe/base/expected.hpp"
#include "troupe/actor/settings.hpp"
#include "troupe/persistence/store.hpp"

namespace troupe::persistence {

struct sqlite_settings {
  /// The database file (created with its tables on first use); WAL mode.
  std::string path = "troupe-persistence.db";
  /// At most this many atomic writes go into one transaction (group commit).
  std::size_t max_batch = 1000;
  /// How long a connection waits for a lock held by another process before `unavailable`.
  std::chrono::milliseconds busy_timeout{5000};
  /// PRAGMA synchronous: "full" (default: an acknowledged write survives power loss) or
  /// "normal" (survives a crash of the process, not of the machine; faster).
  std::string synchronous = "full";
};

struct postgres_settings {
  /// libpq connection string; empty: read from the variable `connection_env`.
  std::string connection;
  std::string connection_env = "TROUPE_PG_CONNECTION";
  /// Connections (each with its own thread) for writes and reads.
  std::size_t pool_size = 4;
  /// At most this many atomic writes go into one transaction (group commit).
  std::size_t max_batch = 1000;
  /// Table name prefix, so that several applications (or tests) share one database.
  std::string schema = "public";
};

struct persistence_settings {
  std::string plugin = "sqlite";  ///< "sqlite", "postgresql" or "in-memory"
  sqlite_settings sqlite;
  postgres_settings postgresql;
  /// An event-sourced actor saves a snapshot after every this many events (0: only when
  /// it calls save_snapshot).
  std::int64_t snapshot_every = 0;
  /// Events read per round trip while recovering.
  std::int64_t recovery_batch = 10'000;

  /// Reads `j`; an error names the key and what it expects.
  static expected<persistence_settings, config_error> parse(const nlohmann::json& j);
};

/// Opens the plugin `s.plugin` names (creating its tables on first use); an error says why
/// (unknown plugin, file cannot be opened, server unreachable, connection string missing).
expected<plugin, std::string> open_plugin(const persistence_settings& s);

/// The SQLite plugin (sqlite_store.cpp).
expected<plugin, std::string> open_sqlite_plugin(const sqlite_settings& s);
/// The PostgreSQL plugin (postgres_store.cpp).
expected<plugin, std::string> open_postgres_plugin(const postgres_settings& s);

}  // namespace troupe::persistence
