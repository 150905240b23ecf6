// sqlite_connection: one SQLite connection with its prepared statements, used by one thread
// at a time (opened with SQLITE_OPEN_NOMUTEX). The SQLite plugin's writer and reader
// threads own one each (sqlite_store.cpp).
//
//   auto c = sqlite_connection::open(path, flags);                 // or an error message
//   sqlite_statement q = c->prepared("SELECT highest FROM journal_highest WHERE persistence_id = ?1");
//   q.bind(1, id);
//   if (q.step() == SQLITE_ROW) highest = sqlite3_column_int64(q.get(), 0);
//   // q resets itself (and clears its bindings) when it goes out of scope
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "troupe/base/expected.hpp"

namespace troupe::persistence::internal {

/// A cached prepared statement in use: bind, step, read columns; reset when it goes away,
/// which also ends the read transaction a SELECT holds.
class sqlite_statement {
 public:
  explicit sqlite_statement(sqlite3_stmt* s) noexcept : s_(s) {}
  ~sqlite_statement() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  sqlite_statement(sqlite_statement&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  sqlite_statement(const sqlite_statement&) = delete;
  sqlite_statement& operator=(const sqlite_statement&) = delete;
  sqlite_statement& operator=(sqlite_statement&&) = delete;

  void bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, std::string_view v) { sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8); }
  /// A blob, also when empty (a null pointer would bind NULL).
  void bind_blob(int i, const std::vector<std::uint8_t>& v) {
    if (v.empty()) {
      sqlite3_bind_zeroblob(s_, i, 0);
    } else {
      sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT);
    }
  }
  /// SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(s_); }
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_;
};

/// The typed columns of the current row: nullopt when the column holds another type (a
/// NULL included), which the stores report as `corrupt`.
inline std::optional<std::int64_t> column_int(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) != SQLITE_INTEGER) return std::nullopt;
  return sqlite3_column_int64(s, i);
}
inline std::optional<std::string> column_text(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) != SQLITE_TEXT) return std::nullopt;
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}
inline std::optional<std::vector<std::uint8_t>> column_blob(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) != SQLITE_BLOB) return std::nullopt;
  const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
  const auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, i));
  return n == 0 ? std::vector<std::uint8_t>{} : std::vector<std::uint8_t>(p, p + n);
}

class sqlite_connection {
 public:
  /// Opens `path` with `flags` (SQLITE_OPEN_NOMUTEX is added); the error is SQLite's message.
  static expected<std::unique_ptr<sqlite_connection>, std::string> open(const std::string& path, int flags) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
      sqlite3_close_v2(db);
      return unexpected(std::move(message));
    }
    sqlite3_extended_result_codes(db, 1);
    return std::unique_ptr<sqlite_connection>(new sqlite_connection(db));
  }

  ~sqlite_connection() {
    for (auto& [sql, s] : statements_) sqlite3_finalize(s);
    sqlite3_close_v2(db_);
  }
  sqlite_connection(const sqlite_connection&) = delete;
  sqlite_connection& operator=(const sqlite_connection&) = delete;

  /// Runs `sql` (one or more statements, no parameters); the error is SQLite's message.
  std::optional<std::string> exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return std::nullopt;
    std::string out = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return out;
  }

  /// The statement for `sql`, prepared on first use and kept; a null statement when `sql`
  /// does not prepare (last_error() says why; step() on it then fails with SQLITE_MISUSE).
  sqlite_statement prepared(const char* sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
        return sqlite_statement(nullptr);
      }
      it = statements_.emplace(sql, s).first;
    }
    return sqlite_statement(it->second);
  }

  /// SQLite's message for the last failed call.
  std::string last_error() const { return sqlite3_errmsg(db_); }
  /// The extended code of the last failed call.
  int last_code() const { return sqlite3_extended_errcode(db_); }
  /// False while a transaction is open (SQLite rolls one back by itself on some errors).
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  sqlite3* get() const noexcept { return db_; }

 private:
  explicit sqlite_connection(sqlite3* db) : db_(db) {}

  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;  // by SQL text
};

}  // namespace troupe::persistence::internal
