// actor_system_settings: the runtime's configuration, parsed from JSON once and validated.
//
// Every key is optional; errors name the key and the expected value.
//
//   {
//     "dispatcher":   {"type": "work-stealing", "workers": 2, "throughput": 5, "max-batch": 1000000},
//     "mailbox":      {"capacity": 0},
//     "log":          {"level": "info"},
//     "dead-letters": {"log-limit": 10, "log-window-ms": 5000},
//     "shutdown":     {"phase-timeout-ms": 5000}
//   }
//
//   auto s = troupe::actor_system_settings::parse(nlohmann::json::parse(text));
//   if (!s) throw std::runtime_error(s.error().what());   // "dispatcher.workers: ..."
#pragma once

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "troupe/base/config_error.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/log.hpp"

namespace troupe {

/// `text` as JSON, or a config_error keyed "<json>" saying why it is not: the first step
/// of every layer's `parse(text)`.
expected<nlohmann::json, config_error> parse_json_text(const std::string& text);

enum class dispatcher_kind {
  work_stealing,  ///< fixed worker threads with per-worker run queues and stealing
  manual,         ///< nothing runs until the test calls `run_one`/`run_until_idle` (testkit)
};

struct actor_system_settings {
  dispatcher_kind dispatcher = dispatcher_kind::work_stealing;
  std::size_t workers = 0;           ///< 0: hardware threads
  int throughput = 5;                ///< messages of one actor per turn
  /// Messages of one actor per turn when more than `throughput` wait: those that waited
  /// when the turn began, at most this many (a receiver of many senders keeps pace with
  /// them; `throughput` or less: off). The manual dispatcher keeps one message per step.
  int max_batch = 1'000'000;
  std::size_t mailbox_capacity = 0;  ///< default mailbox bound; 0: unbounded
  log_level log_min_level = log_level::info;  ///< records below it are dropped
  int dead_letters_log_limit = 10;   ///< dead letters logged per window (0: none)
  std::chrono::milliseconds dead_letters_log_window{5000};
  std::chrono::milliseconds shutdown_phase_timeout{5000};
  std::uint64_t random_seed = 0;     ///< seeds random routers and backoff jitter; 0: random

  /// Parses and validates; unknown keys are errors too (they are usually typos).
  static expected<actor_system_settings, config_error> parse(const nlohmann::json& j);
  /// Like `parse`, from JSON text.
  static expected<actor_system_settings, config_error> parse(const std::string& json_text);
};

}  // namespace troupe
