// sqlite_writer: the child of the SQLite crash test (sqlite_crash_test.cpp). Writes atomic
// writes of 3 events for ids "crash-0".."crash-15" to the database at argv[1] as fast as it
// can, many in flight, until it is killed; prints "<id> <last sequence number>" on stdout
// (flushed per line) once a write is acknowledged. Resumes each id after its highest, so
// it can be started again on the same file.
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "troupe/persistence/settings.hpp"

int main(int argc, char** argv) {
  using namespace troupe::persistence;
  if (argc != 2) {
    std::fprintf(stderr, "usage: sqlite_writer <database>\n");
    return 2;
  }
  sqlite_settings settings;
  settings.path = argv[1];
  settings.synchronous = "normal";  // the weaker promise: an acknowledged write survives a process crash
  auto p = open_sqlite_plugin(settings);
  if (!p) {
    std::fprintf(stderr, "%s\n", p.error().c_str());
    return 2;
  }
  constexpr int id_count = 16;
  constexpr int max_in_flight = 256;

  // 1. Where each id continues.
  std::vector<std::int64_t> next(id_count);
  for (int i = 0; i < id_count; ++i) {
    std::promise<troupe::expected<std::int64_t, store_error>> highest;
    auto f = highest.get_future();
    p->journal->highest_sequence_nr("crash-" + std::to_string(i), [&](auto r) { highest.set_value(std::move(r)); });
    const auto h = f.get();
    if (!h) {
      std::fprintf(stderr, "highest_sequence_nr: %s\n", h.error().message.c_str());
      return 2;
    }
    next[static_cast<std::size_t>(i)] = *h + 1;
  }

  // 2. Atomic writes of 3 events, round after round, at most max_in_flight unacknowledged.
  std::mutex mutex;
  std::condition_variable acked;
  int in_flight = 0;
  for (;;) {
    for (int i = 0; i < id_count; ++i) {
      {
        std::unique_lock lock(mutex);
        acked.wait(lock, [&] { return in_flight < max_in_flight; });
        ++in_flight;
      }
      const std::string id = "crash-" + std::to_string(i);
      auto& seq = next[static_cast<std::size_t>(i)];
      std::vector<persistent_repr> events;
      for (int k = 0; k < 3; ++k) {
        persistent_repr e;
        e.persistence_id = id;
        e.sequence_nr = seq++;
        e.payload = stored_payload{1, "crash.event", 1, bytes(100, static_cast<std::uint8_t>(k))};
        e.writer_uuid = "sqlite-writer";
        events.push_back(std::move(e));
      }
      const std::int64_t last = seq - 1;
      p->journal->write(std::move(events), [&, id, last](std::optional<store_error> r) {
        if (r) {
          std::fprintf(stderr, "write of %s up to %lld failed: %s\n", id.c_str(), static_cast<long long>(last),
                       r->message.c_str());
          std::_Exit(3);
        }
        std::printf("%s %lld\n", id.c_str(), static_cast<long long>(last));
        std::fflush(stdout);
        std::lock_guard lock(mutex);
        --in_flight;
        acked.notify_one();
      });
    }
  }
}
