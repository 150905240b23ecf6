#include "troupe/actor/settings.hpp"

#include <nlohmann/json.hpp>

namespace troupe {

namespace {

using json = nlohmann::json;

struct reader {
  const json& root;

  const json* find(const char* section, const char* key) const {
    auto s = root.find(section);
    if (s == root.end()) return nullptr;
    auto k = s->find(key);
    return k == s->end() ? nullptr : &*k;
  }

  static std::string key_of(const char* section, const char* key) {
    return std::string(section) + "." + key;
  }

  template <class Int>
  void integer(const char* section, const char* key, Int& out, long long lo, long long hi) const {
    const json* v = find(section, key);
    if (!v) return;
    if (!v->is_number_integer() || v->get<long long>() < lo || v->get<long long>() > hi) {
      throw config_error(key_of(section, key), "expected an integer in [" + std::to_string(lo) + ", " +
                                                   std::to_string(hi) + "], got " + v->dump());
    }
    out = static_cast<Int>(v->get<long long>());
  }

  void millis(const char* section, const char* key, std::chrono::milliseconds& out, long long lo,
              long long hi) const {
    long long ms = out.count();
    integer(section, key, ms, lo, hi);
    out = std::chrono::milliseconds(ms);
  }

  const json* string(const char* section, const char* key) const {
    const json* v = find(section, key);
    if (v && !v->is_string()) throw config_error(key_of(section, key), "expected a string, got " + v->dump());
    return v;
  }
};

void check_keys(const json& j, const char* section, std::initializer_list<const char*> allowed) {
  auto s = j.find(section);
  if (s == j.end()) return;
  if (!s->is_object()) throw config_error(section, "expected an object, got " + s->dump());
  for (auto it = s->begin(); it != s->end(); ++it) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || it.key() == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
      throw config_error(std::string(section) + "." + it.key(), "unknown key; expected one of: " + list);
    }
  }
}

}  // namespace

expected<actor_system_settings, config_error> actor_system_settings::parse(const nlohmann::json& j) {
  try {
    if (!j.is_object()) throw config_error("<root>", "expected a JSON object, got " + j.dump());
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k != "dispatcher" && k != "mailbox" && k != "log" && k != "dead-letters" && k != "shutdown" &&
          k != "random-seed") {
        throw config_error(k, "unknown section; expected dispatcher, mailbox, log, dead-letters, shutdown "
                              "or random-seed");
      }
    }
    check_keys(j, "dispatcher", {"type", "workers", "throughput", "max-batch"});
    check_keys(j, "mailbox", {"capacity"});
    check_keys(j, "log", {"level"});
    check_keys(j, "dead-letters", {"log-limit", "log-window-ms"});
    check_keys(j, "shutdown", {"phase-timeout-ms"});

    actor_system_settings s;
    reader r{j};
    if (const json* t = r.string("dispatcher", "type")) {
      const auto v = t->get<std::string>();
      if (v == "work-stealing") {
        s.dispatcher = dispatcher_kind::work_stealing;
      } else if (v == "manual") {
        s.dispatcher = dispatcher_kind::manual;
      } else {
        throw config_error("dispatcher.type", "expected \"work-stealing\" or \"manual\", got \"" + v + "\"");
      }
    }
    r.integer("dispatcher", "workers", s.workers, 0, 1024);
    r.integer("dispatcher", "throughput", s.throughput, 1, 1'000'000);
    r.integer("dispatcher", "max-batch", s.max_batch, 1, 1'000'000'000);
    r.integer("mailbox", "capacity", s.mailbox_capacity, 0, 0x7fffffff);
    if (const json* l = r.string("log", "level")) {
      auto lv = parse_log_level(l->get<std::string>());
      if (!lv) {
        throw config_error("log.level", "expected one of trace, debug, info, warning, error, off; got " +
                                            l->dump());
      }
      s.log_min_level = *lv;
    }
    r.integer("dead-letters", "log-limit", s.dead_letters_log_limit, 0, 1'000'000);
    r.millis("dead-letters", "log-window-ms", s.dead_letters_log_window, 1, 86'400'000);
    r.millis("shutdown", "phase-timeout-ms", s.shutdown_phase_timeout, 1, 3'600'000);
    if (auto it = j.find("random-seed"); it != j.end()) {
      if (!it->is_number_unsigned()) {
        throw config_error("random-seed", "expected a non-negative integer, got " + it->dump());
      }
      s.random_seed = it->get<std::uint64_t>();
    }
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<nlohmann::json, config_error> parse_json_text(const std::string& text) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return unexpected<config_error>{config_error("<json>", std::string("not valid JSON: ") + e.what())};
  }
}

expected<actor_system_settings, config_error> actor_system_settings::parse(const std::string& text) {
  auto j = parse_json_text(text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(*j);
}

}  // namespace troupe
