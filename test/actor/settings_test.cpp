// actor_system_settings::parse: every key read and checked, errors naming the key.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor/settings.hpp>
#include <troupe/actor/settings_reader.hpp>

namespace {

/// The error message of parsing `text`, which must fail.
std::string error_of(const std::string& text, std::string* key = nullptr) {
  auto r = troupe::actor_system_settings::parse(text);
  if (r.has_value()) return "<parsed without error>";
  if (key) *key = r.error().key;
  return r.error().what();
}

}  // namespace

TEST_CASE("settings parse every key", "[unit][settings]") {
  auto r = troupe::actor_system_settings::parse(std::string(R"({
    "dispatcher":   {"type": "manual", "workers": 3, "throughput": 20, "max-batch": 500},
    "mailbox":      {"capacity": 1000},
    "log":          {"level": "warning"},
    "dead-letters": {"log-limit": 0, "log-window-ms": 250},
    "shutdown":     {"phase-timeout-ms": 1500},
    "random-seed":  12345
  })"));
  REQUIRE(r.has_value());
  const auto& s = r.value();
  CHECK(s.dispatcher == troupe::dispatcher_kind::manual);
  CHECK(s.workers == 3);
  CHECK(s.throughput == 20);
  CHECK(s.max_batch == 500);
  CHECK(s.mailbox_capacity == 1000);
  CHECK(s.log_min_level == troupe::log_level::warning);
  CHECK(s.dead_letters_log_limit == 0);
  CHECK(s.dead_letters_log_window == std::chrono::milliseconds(250));
  CHECK(s.shutdown_phase_timeout == std::chrono::milliseconds(1500));
  CHECK(s.random_seed == 12345);
}

TEST_CASE("settings default every missing key", "[unit][settings]") {
  auto r = troupe::actor_system_settings::parse(std::string("{}"));
  REQUIRE(r.has_value());
  const troupe::actor_system_settings defaults;
  CHECK(r->dispatcher == defaults.dispatcher);
  CHECK(r->workers == defaults.workers);
  CHECK(r->throughput == defaults.throughput);
  CHECK(r->max_batch == defaults.max_batch);
  CHECK(r->mailbox_capacity == defaults.mailbox_capacity);
  CHECK(r->log_min_level == defaults.log_min_level);
  CHECK(r->shutdown_phase_timeout == defaults.shutdown_phase_timeout);
  auto from_json = troupe::actor_system_settings::parse(nlohmann::json::parse(R"({"dispatcher": {"workers": 1}})"));
  REQUIRE(from_json.has_value());
  CHECK(from_json->workers == 1);
}

TEST_CASE("settings reject values out of range, naming the key and the range", "[unit][settings]") {
  std::string key;
  CHECK(error_of(R"({"dispatcher": {"workers": -1}})", &key) ==
        "dispatcher.workers: expected an integer in [0, 1024], got -1");
  CHECK(key == "dispatcher.workers");
  CHECK(error_of(R"({"dispatcher": {"workers": 5000}})") ==
        "dispatcher.workers: expected an integer in [0, 1024], got 5000");
  CHECK(error_of(R"({"dispatcher": {"throughput": 0}})", &key) ==
        "dispatcher.throughput: expected an integer in [1, 1000000], got 0");
  CHECK(key == "dispatcher.throughput");
  CHECK(error_of(R"({"mailbox": {"capacity": -5}})") ==
        "mailbox.capacity: expected an integer in [0, 2147483647], got -5");
  CHECK(error_of(R"({"dead-letters": {"log-window-ms": 0}})") ==
        "dead-letters.log-window-ms: expected an integer in [1, 86400000], got 0");
  CHECK(error_of(R"({"dead-letters": {"log-limit": -1}})") ==
        "dead-letters.log-limit: expected an integer in [0, 1000000], got -1");
  CHECK(error_of(R"({"shutdown": {"phase-timeout-ms": 3600001}})") ==
        "shutdown.phase-timeout-ms: expected an integer in [1, 3600000], got 3600001");
  // An unsigned value too large for a signed 64-bit integer is out of range, not wrapped.
  CHECK(error_of(R"({"dispatcher": {"workers": 18446744073709551615}})") ==
        "dispatcher.workers: expected an integer in [0, 1024], got 18446744073709551615");
}

TEST_CASE("settings reject values of the wrong type, naming the key", "[unit][settings]") {
  std::string key;
  CHECK(error_of(R"({"dispatcher": {"workers": 1.5}})", &key) ==
        "dispatcher.workers: expected an integer in [0, 1024], got 1.5");
  CHECK(key == "dispatcher.workers");
  CHECK(error_of(R"({"dispatcher": {"workers": "4"}})") ==
        "dispatcher.workers: expected an integer in [0, 1024], got \"4\"");
  CHECK(error_of(R"({"dispatcher": {"throughput": true}})") ==
        "dispatcher.throughput: expected an integer in [1, 1000000], got true");
  CHECK(error_of(R"({"dispatcher": {"type": 3}})", &key) == "dispatcher.type: expected a string, got 3");
  CHECK(key == "dispatcher.type");
  CHECK(error_of(R"({"dispatcher": {"type": "fifo"}})") ==
        "dispatcher.type: expected \"work-stealing\" or \"manual\", got \"fifo\"");
  CHECK(error_of(R"({"log": {"level": "verbose"}})", &key) ==
        "log.level: expected one of trace, debug, info, warning, error, off; got \"verbose\"");
  CHECK(key == "log.level");
  CHECK(error_of(R"({"random-seed": -3})", &key) == "random-seed: expected a non-negative integer, got -3");
  CHECK(key == "random-seed");
  CHECK(error_of(R"({"random-seed": "abc"})") == "random-seed: expected a non-negative integer, got \"abc\"");
  CHECK(error_of(R"({"dispatcher": 4})", &key) == "dispatcher: expected a JSON object, got 4");
  CHECK(key == "dispatcher");
  CHECK(error_of(R"({"mailbox": null})") == "mailbox: expected a JSON object, got null");
}

TEST_CASE("settings reject unknown keys and sections, naming them", "[unit][settings]") {
  std::string key;
  CHECK(error_of(R"({"dispatcher": {"wokers": 2}})", &key) ==
        "dispatcher.wokers: unknown key; expected one of: type, workers, throughput, max-batch");
  CHECK(key == "dispatcher.wokers");
  CHECK(error_of(R"({"mailbox": {"size": 2}})") == "mailbox.size: unknown key; expected one of: capacity");
  CHECK(error_of(R"({"shutdown": {"phase-timeout": 2}})") ==
        "shutdown.phase-timeout: unknown key; expected one of: phase-timeout-ms");
  CHECK(error_of(R"({"dead-letters": {"limit": 2}})") ==
        "dead-letters.limit: unknown key; expected one of: log-limit, log-window-ms");
  CHECK(error_of(R"({"log": {"lvl": "info"}})") == "log.lvl: unknown key; expected one of: level");
  CHECK(error_of(R"({"dispatchers": {}})", &key) ==
        "dispatchers: unknown key; expected one of: dispatcher, mailbox, log, dead-letters, shutdown, random-seed");
  CHECK(key == "dispatchers");
}

TEST_CASE("settings reject a document that is not a JSON object", "[unit][settings]") {
  std::string key;
  CHECK(error_of("[1, 2]", &key) == "<root>: expected a JSON object, got [1,2]");
  CHECK(key == "<root>");
  const std::string broken = error_of(R"({"dispatcher": )", &key);
  CHECK(key == "<json>");
  CHECK_THAT(broken, Catch::StartsWith("<json>: not valid JSON: "));
}

TEST_CASE("settings errors inside a section name the dotted key", "[unit][settings]") {
  std::string key;
  CHECK(error_of(R"({"log": {"level": 3}})", &key) == "log.level: expected a string, got 3");
  CHECK(key == "log.level");
  CHECK(error_of(R"({"dispatcher": {"max-batch": 0}})", &key) ==
        "dispatcher.max-batch: expected an integer in [1, 1000000000], got 0");
  CHECK(key == "dispatcher.max-batch");
}

TEST_CASE("settings take the random seed as any non-negative integer", "[unit][settings]") {
  auto big = troupe::actor_system_settings::parse(std::string(R"({"random-seed": 18446744073709551615})"));
  REQUIRE(big.has_value());
  CHECK(big->random_seed == 18446744073709551615ull);
  // Built in code, 7 is a signed integer: still a valid seed.
  auto built = troupe::actor_system_settings::parse(nlohmann::json{{"random-seed", 7}});
  REQUIRE(built.has_value());
  CHECK(built->random_seed == 7);
  CHECK(error_of(R"({"random-seed": 1.5})") == "random-seed: expected a non-negative integer, got 1.5");
}

namespace {

/// The error of reading `text` with `read`, which must fail.
template <class Read>
std::string reader_error(const char* text, Read read, std::string* key = nullptr) {
  try {
    read(nlohmann::json::parse(text));
  } catch (const troupe::config_error& e) {
    if (key) *key = e.key;
    return e.what();
  }
  return "<read without error>";
}

}  // namespace

TEST_CASE("settings_reader reads non-negative integers without an upper bound", "[unit][settings]") {
  std::uint64_t seed = 9;
  auto read = [&seed](const nlohmann::json& j) {
    const troupe::settings_reader root(j, "", {"outer"});
    if (auto o = root.object("outer", {"seed"})) o->non_negative_integer("seed", seed);
  };
  read(nlohmann::json::parse("{}"));
  CHECK(seed == 9);
  read(nlohmann::json::parse(R"({"outer": {"seed": 0}})"));
  CHECK(seed == 0);
  read(nlohmann::json::parse(R"({"outer": {"seed": 18446744073709551615}})"));
  CHECK(seed == 18446744073709551615ull);
  std::string key;
  CHECK(reader_error(R"({"outer": {"seed": -1}})", read, &key) ==
        "outer.seed: expected a non-negative integer, got -1");
  CHECK(key == "outer.seed");
  CHECK(reader_error(R"({"outer": {"seed": "1"}})", read) == "outer.seed: expected a non-negative integer, got \"1\"");
  CHECK(reader_error(R"({"outer": {"seed": 2.0}})", read) == "outer.seed: expected a non-negative integer, got 2.0");
}

TEST_CASE("settings_reader reads lists of strings", "[unit][settings]") {
  std::vector<std::string> names{"default"};
  bool allow_empty = false;
  auto read = [&](const nlohmann::json& j) {
    const troupe::settings_reader root(j, "", {"outer"});
    if (auto o = root.object("outer", {"names"})) o->string_list("names", names, allow_empty);
  };
  read(nlohmann::json::parse(R"({"outer": {}})"));
  CHECK(names == std::vector<std::string>{"default"});
  read(nlohmann::json::parse(R"({"outer": {"names": ["a", "b"]}})"));
  CHECK(names == std::vector<std::string>{"a", "b"});
  read(nlohmann::json::parse(R"({"outer": {"names": []}})"));
  CHECK(names.empty());
  std::string key;
  CHECK(reader_error(R"({"outer": {"names": "a"}})", read, &key) ==
        "outer.names: expected an array of non-empty strings, got \"a\"");
  CHECK(key == "outer.names");
  CHECK(reader_error(R"({"outer": {"names": ["a", 3]}})", read) ==
        "outer.names: expected an array of non-empty strings, got 3 at index 1");
  CHECK(reader_error(R"({"outer": {"names": ["a", ""]}})", read) ==
        "outer.names: expected an array of non-empty strings, got \"\" at index 1");
  allow_empty = true;
  read(nlohmann::json::parse(R"({"outer": {"names": ["", "b"]}})"));
  CHECK(names == std::vector<std::string>{"", "b"});
  CHECK(reader_error(R"({"outer": {"names": [null]}})", read) ==
        "outer.names: expected an array of strings, got null at index 0");
}
