// quiet_settings: actor systems for tests that keep their logs to themselves.
//
//   troupe::actor_system sys("t", quiet_manual());     // the testkit's manual scheduler
//   troupe::actor_system sys("t", quiet_threads(4));   // real worker threads
#pragma once

#include <cstddef>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>

namespace troupe::test_support {

/// The testkit's manual settings (time moves only when the test says so), logging off.
inline actor_system_settings quiet_manual() {
  auto s = testkit::manual_settings();
  s.log_min_level = log_level::off;
  return s;
}

/// `workers` worker threads, logging off.
inline actor_system_settings quiet_threads(std::size_t workers = 2) {
  actor_system_settings s;
  s.workers = workers;
  s.log_min_level = log_level::off;
  return s;
}

}  // namespace troupe::test_support
