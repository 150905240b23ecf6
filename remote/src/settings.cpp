#include "troupe/remote/settings.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

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

namespace {

using json = nlohmann::json;

template <class T>
void read_int(const json& j, const char* key, T& out, long long lo, long long hi) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_number_integer() || it->get<long long>() < lo || it->get<long long>() > hi) {
    throw config_error(key, "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                "], got " + it->dump());
  }
  out = static_cast<T>(it->get<long long>());
}

void read_ms(const json& j, const char* key, std::chrono::milliseconds& out, long long lo, long long hi) {
  long long v = out.count();
  read_int(j, key, v, lo, hi);
  out = std::chrono::milliseconds(v);
}

void read_string(const json& j, const char* key, std::string& out, const std::string& prefix = "") {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_string()) throw config_error(prefix + key, "expected a string, got " + it->dump());
  out = it->get<std::string>();
}

void read_paths(const json& j, const char* key, std::vector<std::string>& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_array()) throw config_error(key, "expected an array of paths, got " + it->dump());
  for (const auto& p : *it) {
    if (!p.is_string() || p.get<std::string>().empty() || p.get<std::string>().front() != '/') {
      throw config_error(key, "expected paths starting with '/' (\"/user/*/images\"), got " + p.dump());
    }
    out.push_back(p.get<std::string>());
  }
}

}  // namespace

expected<remote_settings, config_error> remote_settings::parse(const nlohmann::json& j) {
  try {
    if (!j.is_object()) throw config_error("<root>", "expected a JSON object, got " + j.dump());
    static const char* known[] = {"host", "port", "cookie", "max-frame-size", "max-large-frame-size",
                                  "outbound-queue-size", "handshake-timeout-ms", "reconnect-backoff-min-ms",
                                  "reconnect-backoff-max-ms", "system-message-resend-interval-ms",
                                  "give-up-system-message-after-ms", "watch-heartbeat-interval-ms",
                                  "watch-failure-threshold", "watch-acceptable-pause-ms", "tls",
                                  "large-message-destinations", "control-message-destinations",
                                  "max-pending-handshakes", "max-pending-handshakes-per-host", "insecure"};
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool ok = false;
      for (const char* k : known) ok = ok || it.key() == k;
      if (!ok) throw config_error(it.key(), "unknown key");
    }
    remote_settings s;
    read_string(j, "host", s.host);
    if (s.host.empty()) throw config_error("host", "expected a host name or IP address, got \"\"");
    read_int(j, "port", s.port, 0, 65535);
    read_string(j, "cookie", s.cookie);
    if (auto it = j.find("insecure"); it != j.end()) {
      if (!it->is_boolean()) throw config_error("insecure", "expected true or false, got " + it->dump());
      s.insecure = it->get<bool>();
      if (s.insecure && !s.cookie.empty()) {
        throw config_error("insecure", "expected false or absent when a cookie is set: a node either "
                                       "authenticates its peers or does not");
      }
    }
    read_int(j, "max-frame-size", s.max_frame_size, 1024, 1LL << 30);
    read_int(j, "max-large-frame-size", s.max_large_frame_size, 1024, 1LL << 31);
    read_int(j, "outbound-queue-size", s.outbound_queue_size, 1, 1 << 24);
    read_ms(j, "handshake-timeout-ms", s.handshake_timeout, 1, 600'000);
    read_int(j, "max-pending-handshakes", s.max_pending_handshakes, 1, 1 << 20);
    read_int(j, "max-pending-handshakes-per-host", s.max_pending_handshakes_per_host, 1, 1 << 20);
    read_ms(j, "reconnect-backoff-min-ms", s.reconnect_backoff_min, 1, 600'000);
    read_ms(j, "reconnect-backoff-max-ms", s.reconnect_backoff_max, 1, 3'600'000);
    if (s.reconnect_backoff_max < s.reconnect_backoff_min) {
      throw config_error("reconnect-backoff-max-ms", "expected a value >= reconnect-backoff-min-ms");
    }
    read_ms(j, "system-message-resend-interval-ms", s.system_message_resend_interval, 1, 600'000);
    read_ms(j, "give-up-system-message-after-ms", s.give_up_system_message_after, 1, 86'400'000);
    read_ms(j, "watch-heartbeat-interval-ms", s.watch_heartbeat_interval, 1, 600'000);
    read_ms(j, "watch-acceptable-pause-ms", s.watch_acceptable_pause, 0, 3'600'000);
    if (auto it = j.find("watch-failure-threshold"); it != j.end()) {
      if (!it->is_number() || it->get<double>() <= 0) {
        throw config_error("watch-failure-threshold", "expected a number > 0, got " + it->dump());
      }
      s.watch_failure_threshold = it->get<double>();
    }
    read_paths(j, "large-message-destinations", s.large_message_destinations);
    read_paths(j, "control-message-destinations", s.control_message_destinations);
    if (auto it = j.find("tls"); it != j.end()) {
      if (!it->is_object()) throw config_error("tls", "expected an object, got " + it->dump());
      if (auto e = it->find("enabled"); e != it->end()) {
        if (!e->is_boolean()) throw config_error("tls.enabled", "expected true or false, got " + e->dump());
        s.tls.enabled = e->get<bool>();
      }
      read_string(*it, "certificate", s.tls.certificate, "tls.");
      read_string(*it, "private-key", s.tls.private_key, "tls.");
      read_string(*it, "ca", s.tls.ca, "tls.");
      if (auto c = it->find("check-peer-address"); c != it->end()) {
        if (!c->is_boolean()) {
          throw config_error("tls.check-peer-address", "expected true or false, got " + c->dump());
        }
        s.tls.check_peer_address = c->get<bool>();
      }
      if (s.tls.enabled && (s.tls.certificate.empty() || s.tls.private_key.empty() || s.tls.ca.empty())) {
        throw config_error("tls", "enabled TLS needs certificate, private-key and ca file paths");
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
