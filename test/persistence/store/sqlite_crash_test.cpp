// Crash safety of the SQLite plugin: a child (programs/sqlite_writer_main.cpp) writes
// atomic writes of 3 events as fast as it can and prints each acknowledged one; the test
// kills it with SIGKILL mid-run, three times over the same file, then checks that every
// acknowledged event is there and that no atomic write was kept in part.
#include <poll.h>

#include <chrono>
#include <map>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "persistence/store/store_calls.hpp"
#include "support/child_process.hpp"
#include "support/temp_files.hpp"
#include "troupe/persistence/settings.hpp"

TEST_CASE("sqlite: acknowledged writes survive SIGKILL and no atomic write is split", "[fault][persistence]") {
  using namespace troupe::persistence;
  using namespace troupe::persistence::conformance;
  using namespace std::chrono;
  troupe::test_support::temp_dir dir{"troupe-sqlite-crash"};
  const std::string path = (dir.path() / "crash.db").string();
  std::map<std::string, std::int64_t> acknowledged;  // the highest acknowledged per id
  const auto take = [&](const std::vector<std::string>& lines) {
    for (const auto& line : lines) {
      std::istringstream in(line);
      std::string id;
      std::int64_t last = 0;
      if (!(in >> id >> last)) FAIL("unexpected line from the writer: " << line);
      auto& a = acknowledged[id];
      if (last <= a) FAIL("the writer acknowledged " << id << " " << last << " after " << a);
      a = last;
    }
    return lines.size();
  };

  // 1. Three runs of the writer, each killed once it has had 1,000 writes acknowledged.
  for (int run = 1; run <= 3; ++run) {
    troupe::test_support::child_process writer({TROUPE_SQLITE_WRITER_EXE, path},
                                               dir.path() / ("writer-" + std::to_string(run) + ".err"));
    std::size_t acks = 0;
    const auto deadline = steady_clock::now() + seconds(20);
    while (acks < 1000 && writer.running() && steady_clock::now() < deadline) {
      pollfd fd{writer.stdout_fd(), POLLIN, 0};
      poll(&fd, 1, 50);
      acks += take(writer.read_lines());
    }
    INFO("run " << run << ", writer's stderr: " << writer.stderr_tail());
    REQUIRE(acks >= 1000);
    REQUIRE(writer.kill_9());
    while (writer.stdout_fd() >= 0) take(writer.read_lines());  // what it printed before it died
  }

  // 2. Every acknowledged event is there; every id holds 1..highest, whole atomic writes only.
  plugin p = [&] {
    sqlite_settings s;
    s.path = path;
    auto opened = open_sqlite_plugin(s);
    if (!opened) FAIL(opened.error());
    return std::move(opened).value();
  }();
  const auto stored_ids = ids(p);
  CHECK(stored_ids.size() == acknowledged.size());
  for (const auto& id : stored_ids) {
    const std::int64_t h = highest(p, id);
    INFO(id << " highest " << h << ", acknowledged " << acknowledged[id]);
    CHECK(h % 3 == 0);
    CHECK(h >= acknowledged[id]);
    CHECK(seqs(read(p, id)) == range(1, h));
  }
}
