// The `postgresql` discovery method: a table of the nodes that are alive, each row kept
// fresh by its node (discovery.hpp). libpq's calls block; they run on the discovery thread.
#include <libpq-fe.h>

#include <string>
#include <utility>

#include "troupe/cluster/discovery.hpp"
#include "troupe/remote/settings.hpp"

namespace troupe::cluster {

namespace {

constexpr const char* create_table =
    "CREATE TABLE IF NOT EXISTS troupe_discovery ("
    " system text NOT NULL, address text NOT NULL, updated_at timestamptz NOT NULL,"
    " PRIMARY KEY (system, address))";
constexpr const char* upsert_row =
    "INSERT INTO troupe_discovery (system, address, updated_at) VALUES ($1, $2, now())"
    " ON CONFLICT (system, address) DO UPDATE SET updated_at = now()";
constexpr const char* select_fresh =
    "SELECT address FROM troupe_discovery"
    " WHERE system = $1 AND updated_at > now() - $2::bigint * interval '1 millisecond'";
constexpr const char* delete_row = "DELETE FROM troupe_discovery WHERE system = $1 AND address = $2";

/// libpq's last error, on one line.
std::string error_of(PGconn* c) {
  std::string e = c != nullptr ? PQerrorMessage(c) : "out of memory";
  while (!e.empty() && (e.back() == '\n' || e.back() == ' ')) e.pop_back();
  for (char& ch : e)
    if (ch == '\n') ch = ' ';
  return e;
}

}  // namespace

/// One connection, opened on first use and again after it broke; the table is created
/// once per connection.
struct postgres_seed_provider::connection {
  PGconn* conn = nullptr;
  bool table_ready = false;
  ~connection() { close(); }
  void close() {
    if (conn != nullptr) PQfinish(conn);
    conn = nullptr;
    table_ready = false;
  }

  /// Runs `sql` with text `params`; the result, or why it failed (the connection is
  /// dropped when it broke, and opened again by the next call).
  expected<PGresult*, std::string> run(const std::string& connection_string, const char* sql,
                                       std::initializer_list<const char*> params) {
    // 1. Connect, and create the table, when needed.
    if (conn == nullptr) {
      conn = PQconnectdb(connection_string.c_str());
      if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
        const std::string why = "cannot connect to PostgreSQL: " + error_of(conn);
        close();
        return unexpected(why);
      }
    }
    if (!table_ready) {
      PGresult* r = PQexec(conn, create_table);
      const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
      if (!ok) return failed("cannot create troupe_discovery: ");
      table_ready = true;
    }
    // 2. The statement.
    std::vector<const char*> values(params);
    PGresult* r = PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0);
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      PQclear(r);
      return failed("PostgreSQL: ");
    }
    return r;
  }

  expected<PGresult*, std::string> failed(const std::string& what) {
    const std::string why = what + error_of(conn);
    if (PQstatus(conn) != CONNECTION_OK) close();
    return unexpected(why);
  }
};

postgres_seed_provider::postgres_seed_provider(model::address self, postgres_lookup what)
    : self_(std::move(self)), what_(std::move(what)), db_(std::make_unique<connection>()) {}

postgres_seed_provider::~postgres_seed_provider() = default;

std::optional<std::string> postgres_seed_provider::refresh() {
  const std::string address = model::to_string(self_);
  auto r = db_->run(what_.connection, upsert_row, {self_.system.c_str(), address.c_str()});
  if (!r) return r.error();
  PQclear(*r);
  return std::nullopt;
}

std::optional<std::string> postgres_seed_provider::withdraw() {
  const std::string address = model::to_string(self_);
  auto r = db_->run(what_.connection, delete_row, {self_.system.c_str(), address.c_str()});
  if (!r) return r.error();
  PQclear(*r);
  db_->close();
  return std::nullopt;
}

expected<std::vector<model::address>, std::string> postgres_seed_provider::lookup() {
  // 1. This node is alive: its row first, so that it finds itself.
  if (auto why = refresh()) return unexpected(*why);
  // 2. Its system's fresh rows; a row that is not an address of the system is skipped.
  const std::string ttl = std::to_string(what_.ttl.count());
  auto r = db_->run(what_.connection, select_fresh, {self_.system.c_str(), ttl.c_str()});
  if (!r) return unexpected(r.error());
  std::vector<model::address> out;
  for (int i = 0; i < PQntuples(*r); ++i) {
    auto uri = remote::parse_actor_uri(PQgetvalue(*r, i, 0));
    if (!uri || !uri->path.empty() || uri->address.system != self_.system || uri->address.port == 0) continue;
    out.push_back(uri->address);
  }
  PQclear(*r);
  return out;
}

std::string postgres_seed_provider::describe() const {
  return "postgresql table troupe_discovery (ttl " + std::to_string(what_.ttl.count()) + " ms)";
}

}  // namespace troupe::cluster
