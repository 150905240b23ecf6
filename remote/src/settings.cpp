#include "troupe/remote/settings.hpp"

#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"

namespace troupe::remote {

std::optional<actor_uri> parse_actor_uri(std::string_view uri) {
  // The path begins at the first slash after the scheme's; an IPv6 host has none.
  constexpr std::size_t scheme = std::string_view("troupe://").size();
  const auto slash = uri.size() < scheme ? std::string_view::npos : uri.find('/', scheme);
  auto address = parse_node_address(uri.substr(0, slash));
  if (!address) return std::nullopt;
  return actor_uri{std::move(*address), slash == std::string_view::npos ? std::string() : std::string(uri.substr(slash))};
}

namespace {

/// `pattern` with `*` standing for any run of characters, against one path element.
bool element_matches(std::string_view pattern, std::string_view text) noexcept {
  const auto star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == text;
  const std::string_view head = pattern.substr(0, star);
  if (text.substr(0, head.size()) != head) return false;
  pattern.remove_prefix(star + 1);
  for (std::size_t i = head.size(); i <= text.size(); ++i) {
    if (element_matches(pattern, text.substr(i))) return true;
  }
  return false;
}

}  // namespace

bool path_matches(std::string_view pattern, std::string_view path) noexcept {
  auto next = [](std::string_view& s) {
    while (!s.empty() && s.front() == '/') s.remove_prefix(1);
    const auto slash = s.find('/');
    const std::string_view part = s.substr(0, slash);
    s.remove_prefix(slash == std::string_view::npos ? s.size() : slash);
    return part;
  };
  for (;;) {
    const std::string_view p = next(pattern), q = next(path);
    if (p.empty() || q.empty()) return p.empty() && q.empty();
    if (!element_matches(p, q)) return false;
  }
}

expected<remote_settings, config_error> remote_settings::parse(const nlohmann::json& j) {
  try {
    const settings_reader root(j, "",
                               {"host",
                                "port",
                                "cookie",
                                "max-frame-size",
                                "max-large-frame-size",
                                "outbound-queue-size",
                                "handshake-timeout-ms",
                                "reconnect-backoff-min-ms",
                                "reconnect-backoff-max-ms",
                                "system-message-resend-interval-ms",
                                "give-up-system-message-after-ms",
                                "watch-heartbeat-interval-ms",
                                "watch-failure-threshold",
                                "watch-acceptable-pause-ms",
                                "tls",
                                "large-message-destinations",
                                "control-message-destinations",
                                "max-pending-handshakes",
                                "max-pending-handshakes-per-host",
                                "insecure"});
    remote_settings s;
    root.string("host", s.host, true);
    // Checked here rather than by `string` to say what an empty host should have been.
    if (s.host.empty()) throw config_error(root.key("host"), "expected a host name or IP address, got \"\"");
    root.integer("port", s.port, 0, 65535);
    root.string("cookie", s.cookie, true);
    root.boolean("insecure", s.insecure);
    if (s.insecure && !s.cookie.empty()) {
      throw config_error(root.key("insecure"),
                         "expected false or absent when a cookie is set: a node either "
                         "authenticates its peers or does not");
    }
    root.integer("max-frame-size", s.max_frame_size, 1024, 1LL << 30);
    root.integer("max-large-frame-size", s.max_large_frame_size, 1024, 1LL << 31);
    root.integer("outbound-queue-size", s.outbound_queue_size, 1, 1 << 24);
    root.millis("handshake-timeout-ms", s.handshake_timeout, 1, 600'000);
    root.integer("max-pending-handshakes", s.max_pending_handshakes, 1, 1 << 20);
    root.integer("max-pending-handshakes-per-host", s.max_pending_handshakes_per_host, 1, 1 << 20);
    root.millis("reconnect-backoff-min-ms", s.reconnect_backoff_min, 1, 600'000);
    root.millis("reconnect-backoff-max-ms", s.reconnect_backoff_max, 1, 3'600'000);
    if (s.reconnect_backoff_max < s.reconnect_backoff_min) {
      throw config_error(root.key("reconnect-backoff-max-ms"), "expected a value >= reconnect-backoff-min-ms");
    }
    root.millis("system-message-resend-interval-ms", s.system_message_resend_interval, 1, 600'000);
    root.millis("give-up-system-message-after-ms", s.give_up_system_message_after, 1, 86'400'000);
    root.millis("watch-heartbeat-interval-ms", s.watch_heartbeat_interval, 1, 600'000);
    root.millis("watch-acceptable-pause-ms", s.watch_acceptable_pause, 0, 3'600'000);
    root.positive_number("watch-failure-threshold", s.watch_failure_threshold);
    // Path patterns, matched element by element (path_matches), so each must be absolute.
    auto destinations = [&root](const char* name, std::vector<std::string>& out) {
      root.string_list(name, out, true);
      for (const std::string& p : out) {
        if (p.empty() || p.front() != '/') {
          throw config_error(root.key(name),
                             "expected paths starting with '/' (\"/user/*/images\"), got " + nlohmann::json(p).dump());
        }
      }
    };
    destinations("large-message-destinations", s.large_message_destinations);
    destinations("control-message-destinations", s.control_message_destinations);
    if (auto tls = root.object("tls", {"enabled", "certificate", "private-key", "ca", "check-peer-address"})) {
      tls->boolean("enabled", s.tls.enabled);
      tls->string("certificate", s.tls.certificate, true);
      tls->string("private-key", s.tls.private_key, true);
      tls->string("ca", s.tls.ca, true);
      tls->boolean("check-peer-address", s.tls.check_peer_address);
      if (s.tls.enabled && (s.tls.certificate.empty() || s.tls.private_key.empty() || s.tls.ca.empty())) {
        throw config_error(root.key("tls"), "enabled TLS needs certificate, private-key and ca file paths");
      }
    }
    return s;
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<remote_settings, config_error> remote_settings::parse(const std::string& text) {
  auto j = parse_json_text(text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(*j);
}

}  // namespace troupe::remote
