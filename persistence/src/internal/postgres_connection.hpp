// postgres_connection: one libpq connection with the plugin's prepared statements, used by
// one thread at a time (its connection_worker in postgres_store.cpp).
//
//   pg_connection c(target);
//   if (auto why = c.connect()) return fail(*why);        // connects, sets search_path, prepares
//   pg_result r = c.exec_prepared("read", {pg::text_value(id), pg::int8_value(from), ...});
//   if (!r.ok()) return c.failure(r);                     // unavailable (and dropped when lost)
//
// Parameters and results are all in binary form (postgres_wire.hpp).
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal/postgres_wire.hpp"

namespace troupe::persistence::pg {

/// Where and how to connect: the libpq connection string and what names the server in
/// messages (never the password).
struct pg_target {
  std::string conninfo;
  std::string server;  ///< e.g. "PostgreSQL server host=/run/pg port=5432 dbname=troupe"
  std::string schema;  ///< the schema the tables live in (search_path)
};

/// The statements every connection prepares: name, SQL.
struct pg_statement {
  const char* name;
  const char* sql;
};

/// A PGresult, cleared on destruction.
class pg_result {
 public:
  pg_result() = default;
  explicit pg_result(PGresult* r) : r_(r) {}
  pg_result(pg_result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  pg_result& operator=(pg_result&& o) noexcept {
    if (this != &o) {
      if (r_ != nullptr) PQclear(r_);
      r_ = std::exchange(o.r_, nullptr);
    }
    return *this;
  }
  pg_result(const pg_result&) = delete;
  pg_result& operator=(const pg_result&) = delete;
  ~pg_result() {
    if (r_ != nullptr) PQclear(r_);
  }

  /// The command or query succeeded.
  bool ok() const {
    const auto s = r_ == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r_);
    return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
  }
  /// The SQLSTATE of a failure ("" when libpq has none, e.g. the connection is gone).
  std::string_view sqlstate() const {
    const char* s = r_ == nullptr ? nullptr : PQresultErrorField(r_, PG_DIAG_SQLSTATE);
    return s == nullptr ? std::string_view() : std::string_view(s);
  }
  /// The server's (or libpq's) message, without its trailing newline.
  std::string message() const {
    std::string m = r_ == nullptr ? "out of memory" : PQresultErrorMessage(r_);
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }
  int rows() const { return r_ == nullptr ? 0 : PQntuples(r_); }
  /// Rows changed by an INSERT, UPDATE or DELETE.
  std::int64_t affected() const {
    const char* n = r_ == nullptr ? "" : PQcmdTuples(r_);
    return *n == '\0' ? 0 : std::stoll(n);
  }
  bool null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::string_view value(int row, int col) const {
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  /// An int8 column; nullopt when NULL or not 8 bytes.
  std::optional<std::int64_t> int8(int row, int col) const {
    if (null(row, col)) return std::nullopt;
    return read_int8(value(row, col));
  }

 private:
  PGresult* r_ = nullptr;
};

/// One connection; not thread-safe (one thread at a time).
class pg_connection {
 public:
  pg_connection(pg_target target, const std::vector<pg_statement>& statements)
      : target_(std::move(target)), statements_(statements) {}
  pg_connection(const pg_connection&) = delete;
  pg_connection& operator=(const pg_connection&) = delete;
  ~pg_connection() { drop(); }

  const pg_target& target() const noexcept { return target_; }

  /// Connects (at most `connect_timeout` seconds, 10 unless the connection string says),
  /// sets the search_path, runs `setup` (if not empty) and prepares the statements; the
  /// error names the server.
  std::optional<std::string> connect(const std::string& setup = {}) {
    drop();
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* values[] = {"10", target_.conninfo.c_str(), nullptr};
    conn_ = PQconnectdbParams(keys, values, 1);
    if (conn_ == nullptr) return "cannot connect to the " + target_.server + ": out of memory";
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string why = "cannot connect to the " + target_.server + ": " + trimmed(PQerrorMessage(conn_));
      drop();
      return why;
    }
    // The server's notices ("relation already exists, skipping") are not for stderr.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
    if (auto why = exec_setup(search_path_sql())) return why;
    if (!setup.empty()) {
      if (auto why = exec_setup(setup)) return why;
    }
    for (const auto& s : statements_) {
      pg_result r(PQprepare(conn_, s.name, s.sql, 0, nullptr));
      if (!r.ok()) {
        std::string why = "the " + target_.server + " refused to prepare \"" + s.name + "\": " + r.message();
        drop();
        return why;
      }
    }
    return std::nullopt;
  }

  /// Connected, outside a transaction, and the server has not closed the connection while
  /// it was idle (reads what the socket holds without blocking: a server that went away
  /// has sent EOF). Otherwise the connection is dropped.
  bool healthy() {
    if (conn_ == nullptr) return false;
    if (PQstatus(conn_) != CONNECTION_OK || PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK ||
        PQtransactionStatus(conn_) != PQTRANS_IDLE) {
      drop();
      return false;
    }
    return true;
  }

  void drop() {
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  /// Statements without parameters (several may be separated by ';').
  pg_result exec(const std::string& sql) { return pg_result(PQexec(conn_, sql.c_str())); }

  /// A prepared statement with binary parameters and binary results.
  pg_result exec_prepared(const char* name, std::initializer_list<std::string_view> params) {
    return exec_prepared(name, std::vector<std::string_view>(params));
  }
  pg_result exec_prepared(const char* name, const std::vector<std::string_view>& params) {
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats(params.size(), 1);
    values.reserve(params.size());
    lengths.reserve(params.size());
    for (const auto& p : params) {
      values.push_back(p.data());
      lengths.push_back(static_cast<int>(p.size()));
    }
    return pg_result(PQexecPrepared(conn_, name, static_cast<int>(params.size()), values.data(), lengths.data(),
                                    formats.data(), 1));
  }

  /// Whether the failure `r` lost the connection (it is then dropped, and reconnected by the
  /// next call): libpq says so, or the server is shutting down or gone (SQLSTATE 08xxx, 57P0x).
  bool lost(const pg_result& r) {
    const std::string_view state = r.sqlstate();
    const bool gone = conn_ == nullptr || PQstatus(conn_) != CONNECTION_OK || state.starts_with("08") ||
                      state.starts_with("57P0");
    if (gone) drop();
    return gone;
  }

  /// Runs `sql` (setup); on failure drops the connection and says why.
  std::optional<std::string> exec_setup(const std::string& sql) {
    pg_result r = exec(sql);
    if (r.ok()) return std::nullopt;
    std::string why = "the " + target_.server + " refused the setup of the schema " + quoted_schema() + ": " +
                      r.message();
    drop();
    return why;
  }

  /// The quoted schema name.
  std::string quoted_schema() const {
    std::string out = "\"";
    for (const char c : target_.schema) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
    return out;
  }

 private:
  std::string search_path_sql() const { return "SET search_path TO " + quoted_schema(); }

  static std::string trimmed(const char* s) {
    std::string m = s == nullptr ? "" : s;
    while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
    return m;
  }

  pg_target target_;
  std::vector<pg_statement> statements_;
  PGconn* conn_ = nullptr;
};

}  // namespace troupe::persistence::pg
