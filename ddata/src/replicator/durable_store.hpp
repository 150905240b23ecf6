// durable_store: the SQLite file that keeps the durable keys of one node's replicator.
//
// One table, `ddata_entries(key TEXT PRIMARY KEY, entry BLOB)`, each entry in the peer
// protocol's wire form (a `write` to self, so the codec that crosses the network also
// reads the file back). The replicator reads everything once when it starts and writes
// the changed durable entries of each of its turns in one transaction, on its own thread,
// before it answers (Akka's LMDB store without write-behind). WAL with synchronous=NORMAL:
// a committed write survives the process being killed, not the machine losing power
// (`durable-sync: full` for that, at an fsync per turn that changed a durable key).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "troupe/base/expected.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace troupe::ddata::detail {

class durable_store {
 public:
  using row = std::pair<std::string, std::vector<std::uint8_t>>;

  /// Opens (creating if need be) the store at `path`; an error names the file and why.
  static expected<std::unique_ptr<durable_store>, std::string> open(const std::string& path, bool full_sync);
  ~durable_store();
  durable_store(const durable_store&) = delete;
  durable_store& operator=(const durable_store&) = delete;

  /// Every stored entry, in key order.
  expected<std::vector<row>, std::string> load_all();
  /// Stores `rows` (replacing the keys' entries) in one transaction; an error says why,
  /// and then nothing of them is stored.
  std::optional<std::string> store(const std::vector<row>& rows);

  const std::string& path() const noexcept { return path_; }

 private:
  durable_store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  std::optional<std::string> exec(const char* sql);
  std::string error_text(const std::string& what) const;

  sqlite3* db_;
  std::string path_;
  sqlite3_stmt* upsert_ = nullptr;
};

}  // namespace troupe::ddata::detail
