// persistence_bench: troupe::persistence against the raw database doing the same writes.
//
//   persistence_bench persist_sqlite_events | sqlite_raw | persist_postgres_events | postgres_raw
//                     | persist_recovery_10k | persist_recovery_10k_snapshot | persist_latency_p99 [scale]
//
// The event workloads write events_per_actor events of payload_bytes each for `actors`
// persistent actors, each actor persisting its next event when the last is kept (so up to
// `actors` writes are in flight, which the plugin groups into transactions). The raw peers
// write the same rows through the C API directly, in transactions of raw_batch rows with
// one prepared insert: what a hand-written program gets from the database, with the same
// durability (SQLite: WAL, synchronous=FULL; PostgreSQL: the server's fsync, commit per
// transaction). PostgreSQL runs need TROUPE_PG_CONNECTION (run-all starts a server with
// test/persistence/postgres/pg-server). One JSON line per run (bench_common.hpp).
#include <sqlite3.h>
#include <libpq-fe.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

#include <troupe/actor.hpp>
#include <troupe/persistence.hpp>

#include "bench_common.hpp"

namespace tp = troupe::persistence;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t actors = 1'000;
constexpr std::int64_t events_per_actor = 100;
constexpr std::size_t payload_bytes = 100;
constexpr std::int64_t raw_batch = 1'000;
constexpr std::int64_t recovery_events = 10'000;
constexpr std::int64_t recovery_snapshot_at = 9'000;
constexpr double latency_rate = 10'000;  // events/s
constexpr double latency_seconds = 3;
constexpr std::int64_t latency_actors = 100;

struct event {
  std::string data;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(event, data)
struct counter_snapshot {
  std::int64_t n = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(counter_snapshot, n)

/// A payload of exactly payload_bytes once CBOR-encoded (a text string of that length
/// inside a one-key map costs 8 bytes of framing).
std::string payload_text() { return std::string(payload_bytes - 8, 'x'); }

struct go {
  std::int64_t events;
  std::int64_t per_write = 1;  ///< events per atomic write (persist_all when > 1)
};
struct write_one {
  bench::clock::time_point sent;
};
struct ping {};

/// What the writers report to: replaced between phases (before the messages of a phase
/// are sent, so each writer sees the new one).
struct phase {
  std::unique_ptr<bench::countdown> done;
  std::mutex mutex;
  std::vector<double> latencies_us;
  std::atomic<std::int64_t> recovered_events{0};  ///< the state recovered by the last pinged writer
};

/// Persists `go.events` events one after the other (or one per `write_one`), then counts down.
class writer final : public tp::persistent_actor {
 public:
  writer(std::string id, phase* p) : persistent_actor(std::move(id)), phase_(p) {}

  troupe::behavior receive_recover() override {
    return {[this](const event&) { ++n_; }, [this](const counter_snapshot& s) { n_ = s.n; }};
  }
  troupe::behavior receive_command() override {
    return {[this](const go& g) {
              left_ = g.events;
              per_write_ = g.per_write;
              next();
            },
            [this](const write_one& w) {
              persist(event{payload_text()}, [this, sent = w.sent](const event&) {
                ++n_;
                const double us = std::chrono::duration<double, std::micro>(bench::clock::now() - sent).count();
                {
                  std::lock_guard lock(phase_->mutex);
                  phase_->latencies_us.push_back(us);
                }
                phase_->done->hit();
              });
            },
            [this](const ping&) {
              phase_->recovered_events = n_;
              phase_->done->hit();
            }};
  }
  troupe::message snapshot_state() const override { return troupe::make_message(counter_snapshot{n_}); }

 private:
  void next() {
    if (left_ == 0) return phase_->done->hit();
    if (per_write_ == 1) {
      --left_;
      return persist(event{payload_text()}, [this](const event&) {
        ++n_;
        next();
      });
    }
    const std::int64_t k = std::min(left_, per_write_);
    left_ -= k;
    persist_all(std::vector<event>(std::size_t(k), event{payload_text()}), [this, k, seen = std::int64_t{0}](const event&) mutable {
      ++n_;
      if (++seen == k) next();
    });
  }

  phase* phase_;
  std::int64_t left_ = 0;
  std::int64_t per_write_ = 1;
  std::int64_t n_ = 0;
};

tp::persistence_settings sqlite_settings(const std::filesystem::path& db) {
  tp::persistence_settings s;
  s.plugin = "sqlite";
  s.sqlite.path = db.string();
  return s;
}

tp::persistence_settings postgres_settings() {
  tp::persistence_settings s;
  s.plugin = "postgresql";
  s.postgresql.schema = "bench_" + std::to_string(::getpid());
  if (const char* pool = std::getenv("BENCH_PG_POOL")) s.postgresql.pool_size = std::strtoul(pool, nullptr, 10);
  return s;
}

/// A fresh database file in a directory of its own, removed at the end.
struct scratch_db {
  std::filesystem::path dir;
  scratch_db() {
    std::string name = (std::filesystem::temp_directory_path() / "troupe-persist-bench-XXXXXX").string();
    if (!::mkdtemp(name.data())) throw std::runtime_error("mkdtemp failed");
    dir = name;
  }
  ~scratch_db() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::filesystem::path file() const { return dir / "bench.db"; }
};

troupe::actor_system_settings system_settings() {
  troupe::actor_system_settings s;
  s.workers = bench::workers();
  return s;
}

/// A system with the plugin of `s` and `n` recovered writers.
struct fleet {
  troupe::actor_system sys{"bench", system_settings()};
  phase p;
  std::vector<troupe::actor_ref> writers;

  fleet(const tp::persistence_settings& s, std::int64_t n, const std::string& prefix = "writer-") {
    auto& ext = tp::persistence::get(sys);
    ext.register_type<event>("bench.event");
    ext.register_type<counter_snapshot>("bench.counter");
    if (auto err = ext.start(s)) throw std::runtime_error(*err);
    run_phase(n, [&] {
      for (std::int64_t i = 0; i < n; ++i) {
        writers.push_back(sys.spawn(troupe::props::of<writer>(prefix + std::to_string(i), &p)));
        writers.back().tell(ping{});  // answered once recovered
      }
    });
  }
  /// Installs a countdown of `hits`, runs `send`, waits for the hits; the seconds taken.
  template <class F>
  double run_phase(std::int64_t hits, F send) {
    if (hits == 0) return 0;
    p.done = std::make_unique<bench::countdown>(hits);
    const auto t0 = bench::clock::now();
    send();
    p.done->wait();
    return bench::seconds_since(t0);
  }
};

double persist_events(const tp::persistence_settings& s, double scale) {
  const std::int64_t n = bench::scaled(actors, scale);
  fleet f(s, n);
  const double secs = f.run_phase(n, [&] {
    for (auto& w : f.writers) w.tell(go{events_per_actor});
  });
  return double(n * events_per_actor) / secs;
}

// ---- the raw peers ----

void sqlite_ok(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
  }
}

double sqlite_raw(double scale) {
  scratch_db dir;
  sqlite3* db = nullptr;
  sqlite_ok(sqlite3_open(dir.file().c_str(), &db), db, "open");
  sqlite_ok(sqlite3_exec(db,
                         // The plugin's pragmas and journal layout (sqlite_schema.hpp), without
                         // its highest-sequence table, tags and per-write savepoints.
                         "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-65536;"
                         "PRAGMA wal_autocheckpoint=10000;"
                         "CREATE TABLE journal(ordering INTEGER PRIMARY KEY, persistence_id TEXT NOT NULL,"
                         " sequence_nr INTEGER NOT NULL, serializer INTEGER NOT NULL, manifest TEXT NOT NULL,"
                         " version INTEGER NOT NULL, payload BLOB NOT NULL, writer_uuid TEXT NOT NULL,"
                         " timestamp_ms INTEGER NOT NULL);"
                         "CREATE UNIQUE INDEX journal_by_id ON journal(persistence_id, sequence_nr);",
                         nullptr, nullptr, nullptr),
            db, "schema");
  sqlite3_stmt* insert = nullptr;
  sqlite_ok(sqlite3_prepare_v2(db, "INSERT INTO journal(persistence_id, sequence_nr, serializer, manifest, version, payload,"
                                " writer_uuid, timestamp_ms) VALUES(?,?,?,?,?,?,?,?)", -1, &insert, nullptr), db,
            "prepare");
  const std::int64_t n = bench::scaled(actors, scale);
  const auto payload = nlohmann::json::to_cbor(nlohmann::json(event{payload_text()}));
  std::vector<std::string> ids;
  for (std::int64_t i = 0; i < n; ++i) ids.push_back("writer-" + std::to_string(i));
  const auto t0 = bench::clock::now();
  std::int64_t in_tx = 0;
  // The same order the actors produce: every id's next event, round by round.
  for (std::int64_t seq = 1; seq <= events_per_actor; ++seq) {
    for (const auto& id : ids) {
      if (in_tx == 0) sqlite_ok(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr), db, "begin");
      sqlite3_bind_text(insert, 1, id.c_str(), int(id.size()), SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, seq);
      sqlite3_bind_int(insert, 3, 1);
      sqlite3_bind_text(insert, 4, "bench.event", -1, SQLITE_STATIC);
      sqlite3_bind_int(insert, 5, 1);
      sqlite3_bind_blob(insert, 6, payload.data(), int(payload.size()), SQLITE_STATIC);
      sqlite3_bind_text(insert, 7, "raw", -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 8, 0);
      sqlite_ok(sqlite3_step(insert), db, "insert");
      sqlite3_reset(insert);
      if (++in_tx == raw_batch) {
        sqlite_ok(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
        in_tx = 0;
      }
    }
  }
  if (in_tx) sqlite_ok(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), db, "commit");
  const double secs = bench::seconds_since(t0);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return double(n * events_per_actor) / secs;
}

std::string pg_connection() {
  const char* c = std::getenv("TROUPE_PG_CONNECTION");
  if (!c || !*c) throw std::runtime_error("TROUPE_PG_CONNECTION is not set (run-all starts a server)");
  return c;
}

void pg_ok(PGresult* r, PGconn* c, const char* what) {
  const auto st = PQresultStatus(r);
  const bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_PIPELINE_SYNC;
  PQclear(r);
  if (!ok) throw std::runtime_error(std::string(what) + ": " + PQerrorMessage(c));
}

double postgres_raw(double scale) {
  PGconn* c = PQconnectdb(pg_connection().c_str());
  if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(std::string("connect: ") + PQerrorMessage(c));
  const std::string table = "raw_journal_" + std::to_string(::getpid());
  pg_ok(PQexec(c, ("CREATE TABLE " + table +
                   "(persistence_id TEXT NOT NULL, sequence_nr BIGINT NOT NULL, serializer INTEGER NOT NULL,"
                   " manifest TEXT NOT NULL, version INTEGER NOT NULL, payload BYTEA NOT NULL,"
                   " writer_uuid TEXT NOT NULL, timestamp_ms BIGINT NOT NULL,"
                   " PRIMARY KEY(persistence_id, sequence_nr))")
                      .c_str()),
        c, "schema");
  pg_ok(PQprepare(c, "ins", ("INSERT INTO " + table + " VALUES($1,$2,1,'bench.event',1,$3,'raw',0)").c_str(), 3,
                  nullptr),
        c, "prepare");
  const std::int64_t n = bench::scaled(actors, scale);
  const auto payload = nlohmann::json::to_cbor(nlohmann::json(event{payload_text()}));
  const std::string payload_str(payload.begin(), payload.end());
  std::vector<std::string> ids;
  for (std::int64_t i = 0; i < n; ++i) ids.push_back("writer-" + std::to_string(i));
  // Pipelined: a transaction of raw_batch inserts goes out without waiting for answers.
  if (PQenterPipelineMode(c) != 1) throw std::runtime_error("pipeline mode refused");
  const auto t0 = bench::clock::now();
  std::int64_t queued = 0, transactions = 0;
  auto send = [&](const char* sql) {
    if (!PQsendQueryParams(c, sql, 0, nullptr, nullptr, nullptr, nullptr, 0))
      throw std::runtime_error(PQerrorMessage(c));
  };
  auto drain = [&] {  // the answers of one transaction: BEGIN, the inserts, COMMIT, sync
    PQpipelineSync(c);
    for (std::int64_t k = 0; k < queued + 2; ++k) {
      pg_ok(PQgetResult(c), c, "pipelined statement");
      PGresult* end = PQgetResult(c);  // the null that ends each statement's results
      if (end) PQclear(end);
    }
    pg_ok(PQgetResult(c), c, "sync");
    queued = 0;
    ++transactions;
  };
  for (std::int64_t seq = 1; seq <= events_per_actor; ++seq) {
    const std::string seq_text = std::to_string(seq);
    for (const auto& id : ids) {
      if (queued == 0) send("BEGIN");
      const char* values[3] = {id.c_str(), seq_text.c_str(), payload_str.data()};
      const int lengths[3] = {0, 0, int(payload_str.size())};
      const int formats[3] = {0, 0, 1};
      if (!PQsendQueryPrepared(c, "ins", 3, values, lengths, formats, 0)) throw std::runtime_error(PQerrorMessage(c));
      if (++queued == raw_batch) {
        send("COMMIT");
        drain();
      }
    }
  }
  if (queued) {
    send("COMMIT");
    drain();
  }
  const double secs = bench::seconds_since(t0);
  PQexitPipelineMode(c);
  pg_ok(PQexec(c, ("DROP TABLE " + table).c_str()), c, "drop");
  PQfinish(c);
  return double(n * events_per_actor) / secs;
}

// ---- recovery and latency ----

/// Seconds from spawn to recovered, for one actor with recovery_events events (and a
/// snapshot at recovery_snapshot_at when `with_snapshot`), on SQLite.
double recovery(bool with_snapshot, std::int64_t& recovered);
double recovery(bool with_snapshot) {
  std::int64_t recovered = 0;
  const double secs = recovery(with_snapshot, recovered);
  if (recovered != recovery_events) {
    throw std::runtime_error("recovered a count of " + std::to_string(recovered) + ", expected " +
                             std::to_string(recovery_events));
  }
  return secs;
}

double recovery(bool with_snapshot, std::int64_t& recovered) {
  scratch_db dir;
  auto s = sqlite_settings(dir.file());
  s.snapshot_every = with_snapshot ? recovery_snapshot_at : 0;
  {
    fleet f(s, 1, "recovering-");
    f.run_phase(1, [&] { f.writers[0].tell(go{recovery_events, 1'000}); });
  }
  fleet again(s, 0);
  const double secs = again.run_phase(1, [&] {
    again.writers.push_back(again.sys.spawn(troupe::props::of<writer>("recovering-0", &again.p)));
    again.writers.back().tell(ping{});
  });
  recovered = again.p.recovered_events;
  return secs;
}

/// The p99 of persist-to-handler in milliseconds, at latency_rate events/s over
/// latency_actors actors, on SQLite.
double latency_p99(double scale) {
  scratch_db dir;
  fleet f(sqlite_settings(dir.file()), latency_actors);
  const auto total = bench::scaled(std::int64_t(latency_rate * latency_seconds), scale);
  constexpr std::int64_t per_tick = 10;  // 10 events every ms: 10,000 events/s
  f.run_phase(total, [&] {
    auto next = bench::clock::now();
    for (std::int64_t sent = 0; sent < total;) {
      for (std::int64_t k = 0; k < per_tick && sent < total; ++k, ++sent) {
        f.writers[std::size_t(sent % latency_actors)].tell(write_one{bench::clock::now()});
      }
      next += 1ms;
      std::this_thread::sleep_until(next);  // pacing the load, not waiting for an effect
    }
  });
  auto& l = f.p.latencies_us;
  std::sort(l.begin(), l.end());
  return l[std::size_t(double(l.size() - 1) * 0.99)] / 1000.0;
}

int usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s persist_sqlite_events|sqlite_raw|persist_postgres_events|postgres_raw|\n"
               "          persist_recovery_10k|persist_recovery_10k_snapshot|persist_latency_p99 [scale]\n"
               "  runs the workload once and prints one JSON line; PostgreSQL needs TROUPE_PG_CONNECTION.\n",
               prog);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) return usage(argv[0]);
  const std::string_view w = argv[1];
  const double scale = argc == 3 ? std::strtod(argv[2], nullptr) : 1.0;
  const std::int64_t events = bench::scaled(actors, scale) * events_per_actor;
  try {
    if (w == "persist_sqlite_events") {
      scratch_db dir;
      bench::report(w, "troupe", "events/s", persist_events(sqlite_settings(dir.file()), scale), events);
    } else if (w == "sqlite_raw") {
      bench::report(w, "sqlite-raw", "events/s", sqlite_raw(scale), events);
    } else if (w == "persist_postgres_events") {
      bench::report(w, "troupe", "events/s", persist_events(postgres_settings(), scale), events);
    } else if (w == "postgres_raw") {
      bench::report(w, "postgres-raw", "events/s", postgres_raw(scale), events);
    } else if (w == "persist_recovery_10k") {
      bench::report(w, "troupe", "s", recovery(false), recovery_events);
    } else if (w == "persist_recovery_10k_snapshot") {
      bench::report(w, "troupe", "s", recovery(true), recovery_events);
    } else if (w == "persist_latency_p99") {
      bench::report(w, "troupe", "ms", latency_p99(scale), 0);
    } else {
      return usage(argv[0]);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "persistence_bench %s: %s\n", argv[1], e.what());
    return 1;
  }
  return 0;
}
