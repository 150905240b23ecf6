#include "durable_store.hpp"

#include <sqlite3.h>

namespace troupe::ddata::detail {

expected<std::unique_ptr<durable_store>, std::string> durable_store::open(const std::string& path, bool full_sync) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return unexpected<std::string>{"ddata: cannot open the durable store \"" + path + "\": " + why};
  }
  std::unique_ptr<durable_store> s(new durable_store(db, path));
  sqlite3_busy_timeout(db, 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL", full_sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                          "CREATE TABLE IF NOT EXISTS ddata_entries(key TEXT PRIMARY KEY, entry BLOB NOT NULL)"}) {
    if (auto e = s->exec(sql)) return unexpected<std::string>{*e};
  }
  if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO ddata_entries(key, entry) VALUES(?1, ?2)", -1, &s->upsert_,
                         nullptr) != SQLITE_OK) {
    return unexpected<std::string>{s->error_text("prepare")};
  }
  return s;
}

durable_store::~durable_store() {
  sqlite3_finalize(upsert_);
  sqlite3_close(db_);
}

std::string durable_store::error_text(const std::string& what) const {
  return "ddata: durable store \"" + path_ + "\": " + what + ": " + sqlite3_errmsg(db_);
}

std::optional<std::string> durable_store::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return std::nullopt;
  std::string why = "ddata: durable store \"" + path_ + "\": " + sql + ": " + (err ? err : "unknown error");
  sqlite3_free(err);
  return why;
}

expected<std::vector<durable_store::row>, std::string> durable_store::load_all() {
  sqlite3_stmt* q = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT key, entry FROM ddata_entries ORDER BY key", -1, &q, nullptr) != SQLITE_OK)
    return unexpected<std::string>{error_text("read")};
  std::vector<row> rows;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    const auto* key = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    const auto* blob = static_cast<const std::uint8_t*>(sqlite3_column_blob(q, 1));
    const int n = sqlite3_column_bytes(q, 1);
    rows.emplace_back(key ? key : "", std::vector<std::uint8_t>(blob, blob + n));
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) return unexpected<std::string>{error_text("read")};
  return rows;
}

std::optional<std::string> durable_store::store(const std::vector<row>& rows) {
  if (rows.empty()) return std::nullopt;
  if (auto e = exec("BEGIN")) return e;
  for (const auto& [key, bytes] : rows) {
    sqlite3_reset(upsert_);
    sqlite3_bind_text(upsert_, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_blob(upsert_, 2, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(upsert_) != SQLITE_DONE) {
      std::string why = error_text("write of key \"" + key + "\"");
      sqlite3_reset(upsert_);
      exec("ROLLBACK");
      return why;
    }
  }
  sqlite3_reset(upsert_);
  if (auto e = exec("COMMIT")) {
    exec("ROLLBACK");
    return e;
  }
  return std::nullopt;
}

}  // namespace troupe::ddata::detail
