#include "troupe/actor/settings.hpp"

#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"

namespace troupe {

expected<actor_system_settings, config_error> actor_system_settings::parse(const nlohmann::json& j) {
  try {
    const settings_reader root(j, "", {"dispatcher", "mailbox", "log", "dead-letters", "shutdown", "random-seed"});
    actor_system_settings s;
    if (auto d = root.object("dispatcher", {"type", "workers", "throughput", "max-batch"})) {
      if (d->find("type")) {
        std::string type;
        d->string("type", type, true);
        if (type == "work-stealing") {
          s.dispatcher = dispatcher_kind::work_stealing;
        } else if (type == "manual") {
          s.dispatcher = dispatcher_kind::manual;
        } else {
          throw config_error(d->key("type"),
                             "expected \"work-stealing\" or \"manual\", got " + nlohmann::json(type).dump());
        }
      }
      d->integer("workers", s.workers, 0, 1024);
      d->integer("throughput", s.throughput, 1, 1'000'000);
      d->integer("max-batch", s.max_batch, 1, 1'000'000'000);
    }
    if (auto m = root.object("mailbox", {"capacity"})) m->integer("capacity", s.mailbox_capacity, 0, 0x7fffffff);
    if (auto l = root.object("log", {"level"})) {
      if (l->find("level")) {
        std::string level;
        l->string("level", level, true);
        auto lv = parse_log_level(level);
        if (!lv) {
          throw config_error(l->key("level"), "expected one of trace, debug, info, warning, error, off; got " +
                                                  nlohmann::json(level).dump());
        }
        s.log_min_level = *lv;
      }
    }
    if (auto d = root.object("dead-letters", {"log-limit", "log-window-ms"})) {
      d->integer("log-limit", s.dead_letters_log_limit, 0, 1'000'000);
      d->millis("log-window-ms", s.dead_letters_log_window, 1, 86'400'000);
    }
    if (auto sd = root.object("shutdown", {"phase-timeout-ms"})) {
      sd->millis("phase-timeout-ms", s.shutdown_phase_timeout, 1, 3'600'000);
    }
    root.non_negative_integer("random-seed", s.random_seed);
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
