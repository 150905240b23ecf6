// node_program: what the node programs of the process tests share (singleton_node,
// data_node): their command line of `--name value` pairs, the seed list, and whole JSON
// lines on stdout from any thread.
//
//   std::string error;
//   auto opts = troupe::test_support::node_options::parse(argc, argv, {"--host", "--port", "--seeds"},
//                                                          {"--stable-after-ms"}, error);
//   if (!opts) { std::cerr << error; return 2; }
//   json seeds = opts->seed_list();            // --seeds a,b,c as a JSON array
//   troupe::test_support::json_printer out;    // out.say({{"event", "started"}});
#pragma once

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace troupe::test_support {

/// `--name value` options: the required ones, and optional ones the program knows.
class node_options {
 public:
  /// The options of `argv`; nullopt and `error` when one is unknown, lacks its value, or a
  /// required one is missing. "--port" must be 1..65535, options ending in "-ms" numbers.
  static std::optional<node_options> parse(int argc, char** argv, std::initializer_list<std::string_view> required,
                                           std::initializer_list<std::string_view> optional, std::string& error) {
    node_options o;
    for (int i = 1; i < argc; ++i) {
      const std::string_view name = argv[i];
      const bool known = std::find(required.begin(), required.end(), name) != required.end() ||
                         std::find(optional.begin(), optional.end(), name) != optional.end();
      if (!known) {
        error = "unknown option " + std::string(name);
        return std::nullopt;
      }
      if (i + 1 >= argc) {
        error = std::string(name) + " needs a value";
        return std::nullopt;
      }
      o.values_[std::string(name)] = argv[++i];
      if ((name == "--port" || name.ends_with("-ms")) && o.number(std::string(name), -1) < 0) {
        error = std::string(name) + ": not a number: " + argv[i];
        return std::nullopt;
      }
    }
    for (auto name : required) {
      if (!o.values_.contains(std::string(name))) {
        error = std::string(name) + " is required";
        return std::nullopt;
      }
    }
    if (o.values_.contains("--port")) {
      const int p = o.number("--port", 0);
      if (p <= 0 || p > 65535) {
        error = "--port must be 1..65535, not " + o.text("--port");
        return std::nullopt;
      }
    }
    return o;
  }

  /// The value of `name` ("" when absent).
  std::string text(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? std::string() : it->second;
  }
  /// The value of `name` as a number, `fallback` when absent or not a number.
  int number(const std::string& name, int fallback) const {
    try {
      const auto it = values_.find(name);
      return it == values_.end() ? fallback : std::stoi(it->second);
    } catch (const std::exception&) {
      return fallback;
    }
  }
  /// The cluster settings of a fault-test node: system `system`, listening on --host and
  /// --port, joining --seeds, at five times Akka's pace (gossip and heartbeat every 200 ms,
  /// a silence of 1 s tolerated), without downing; add "downing" for a strategy.
  nlohmann::json cluster_json(const std::string& system, const std::string& cookie) const {
    return {
        {"system", system},
        {"remote", {{"host", text("--host")}, {"port", number("--port", 0)}, {"cookie", cookie}}},
        {"seed-nodes", seed_list()},
        {"gossip-interval-ms", 200},
        {"heartbeat-interval-ms", 200},
        {"leader-actions-interval-ms", 200},
        {"unreachable-nodes-reaper-interval-ms", 200},
        {"seed-node-timeout-ms", 1000},
        {"failure-detector",
         {{"acceptable-heartbeat-pause-ms", 1000}, {"expected-response-after-ms", 200}, {"min-std-deviation-ms", 50}}},
    };
  }

  /// `--seeds a,b,c` as a JSON array of strings.
  nlohmann::json seed_list() const {
    nlohmann::json seeds = nlohmann::json::array();
    const std::string s = text("--seeds");
    for (std::size_t start = 0; start <= s.size();) {
      const std::size_t comma = std::min(s.find(',', start), s.size());
      if (comma > start) seeds.push_back(s.substr(start, comma - start));
      start = comma + 1;
    }
    return seeds;
  }

 private:
  std::map<std::string, std::string> values_;
};

/// Writes whole JSON lines on stdout from any thread; with `stamp`, each with the wall clock
/// in ms ("ts"), so that the lines of several nodes merge into one timeline.
class json_printer {
 public:
  explicit json_printer(bool stamp = false) : stamp_(stamp) {}
  void say(nlohmann::json j) {
    if (stamp_) {
      j["ts"] =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
    }
    std::lock_guard lock(mutex_);
    std::cout << j.dump() << std::endl;
  }

 private:
  bool stamp_;
  std::mutex mutex_;
};

}  // namespace troupe::test_support
