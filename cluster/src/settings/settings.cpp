#include "troupe/cluster/settings.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "troupe/base/settings_reader.hpp"
#include "troupe/cluster/management.hpp"

namespace troupe::cluster {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr long long max_interval_ms = 3'600'000;  // one hour: anything longer is a typo
constexpr long long max_count = 1'000'000;

using object_reader = troupe::settings_reader;

/// Akka's rule for system names: a letter or digit, then letters, digits, '-' or '_'.
bool valid_system_name(std::string_view s) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (s.empty() || !alnum(s.front())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

/// The seed address in `uri`, or why it is not one of `system`'s seeds.
expected<remote::address, std::string> seed_address(std::string_view uri, const std::string& system) {
  const std::string expected_form = "expected a URI troupe://" + system + "@host:port";
  auto parsed = remote::parse_actor_uri(uri);
  if (!parsed || parsed->address.host.empty()) {
    return unexpected<std::string>{expected_form + ", got \"" + std::string(uri) + "\""};
  }
  if (!parsed->path.empty()) {
    return unexpected<std::string>{expected_form + " without a path, got \"" + std::string(uri) + "\""};
  }
  if (parsed->address.port == 0) {
    return unexpected<std::string>{expected_form + " with a port in [1, 65535], got \"" + std::string(uri) + "\""};
  }
  if (parsed->address.system != system) {
    return unexpected<std::string>{expected_form + " (seeds belong to this node's system \"" + system +
                                   "\"), got system \"" + parsed->address.system + "\""};
  }
  return parsed->address;
}

/// `e` as raised by a nested parser, with its key moved under `prefix`.
config_error nested(const std::string& prefix, const config_error& e) {
  std::string message = e.what();
  const std::string head = e.key + ": ";
  if (message.compare(0, head.size(), head) == 0) message.erase(0, head.size());
  return config_error(prefix + "." + e.key, message);
}

void parse_failure_detector(const object_reader& root, cluster_settings& s) {
  auto fd = root.object("failure-detector",
                        {"threshold", "acceptable-heartbeat-pause-ms", "min-std-deviation-ms",
                         "max-sample-size", "expected-response-after-ms", "monitored-by-nr-of-members"});
  if (!fd) return;
  fd->positive_number("threshold", s.failure_detector.threshold);
  milliseconds pause = std::chrono::duration_cast<milliseconds>(s.failure_detector.acceptable_heartbeat_pause);
  fd->millis("acceptable-heartbeat-pause-ms", pause, 0, max_interval_ms);
  s.failure_detector.acceptable_heartbeat_pause = pause;
  milliseconds deviation = std::chrono::duration_cast<milliseconds>(s.failure_detector.min_std_deviation);
  fd->millis("min-std-deviation-ms", deviation, 1, 60'000);
  s.failure_detector.min_std_deviation = deviation;
  fd->integer("max-sample-size", s.failure_detector.max_sample_size, 1, max_count);
  fd->millis("expected-response-after-ms", s.expected_response_after, 1, max_interval_ms);
  fd->integer("monitored-by-nr-of-members", s.monitored_by_nr_of_members, 1, 1000);
}

void parse_downing(const object_reader& root, cluster_settings& s) {
  auto d = root.object("downing", {"strategy", "stable-after-ms", "down-all-when-unstable", "keep-majority",
                                   "static-quorum", "keep-oldest", "gossips-on-downing"});
  if (!d) return;
  model::sbr_settings sbr;

  // 1. The strategy, by name.
  std::string strategy = "keep-majority";
  d->string("strategy", strategy, false);
  bool off = false;
  if (strategy == "keep-majority") {
    sbr.strategy = model::sbr_strategy::keep_majority;
  } else if (strategy == "static-quorum") {
    sbr.strategy = model::sbr_strategy::static_quorum;
  } else if (strategy == "keep-oldest") {
    sbr.strategy = model::sbr_strategy::keep_oldest;
  } else if (strategy == "down-all") {
    sbr.strategy = model::sbr_strategy::down_all;
  } else if (strategy == "off") {
    off = true;
  } else {
    throw config_error(d->key("strategy"), "expected \"keep-majority\", \"static-quorum\", \"keep-oldest\", "
                                           "\"down-all\" or \"off\", got \"" + strategy + "\"");
  }

  // 2. Timing.
  milliseconds stable_after = std::chrono::duration_cast<milliseconds>(sbr.stable_after);
  d->millis("stable-after-ms", stable_after, 0, max_interval_ms);
  sbr.stable_after = stable_after;
  if (const json* v = d->find("down-all-when-unstable")) {
    if (v->is_string() && v->get<std::string>() == "on") {
      sbr.down_all_when_unstable.reset();
    } else if (v->is_string() && v->get<std::string>() == "off") {
      sbr.down_all_when_unstable = std::chrono::nanoseconds::zero();
    } else if (v->is_number_integer() && v->get<long long>() >= 1 && v->get<long long>() <= max_interval_ms) {
      sbr.down_all_when_unstable = milliseconds(v->get<long long>());
    } else {
      throw config_error(d->key("down-all-when-unstable"),
                         "expected \"on\", \"off\" or milliseconds in [1, " + std::to_string(max_interval_ms) +
                             "], got " + v->dump());
    }
  }

  if (const json* v = d->find("gossips-on-downing")) {
    if (v->is_string() && v->get<std::string>() == "auto") {
      s.gossips_on_downing.reset();
    } else if (v->is_number_integer() && v->get<long long>() >= 0 && v->get<long long>() <= 1000) {
      s.gossips_on_downing = static_cast<std::size_t>(v->get<long long>());
    } else {
      throw config_error(d->key("gossips-on-downing"),
                         "expected \"auto\" or an integer in [0, 1000], got " + v->dump());
    }
  }

  // 3. Every strategy block is checked; only the active strategy's is used.
  std::string majority_role, quorum_role, oldest_role;
  if (auto b = d->object("keep-majority", {"role"})) b->string("role", majority_role, true);
  bool quorum_given = false;
  if (auto b = d->object("static-quorum", {"quorum-size", "role"})) {
    b->integer("quorum-size", sbr.quorum_size, 1, max_count);
    quorum_given = b->find("quorum-size") != nullptr;
    b->string("role", quorum_role, true);
  }
  if (auto b = d->object("keep-oldest", {"down-if-alone", "role"})) {
    b->boolean("down-if-alone", sbr.down_if_alone);
    b->string("role", oldest_role, true);
  }
  switch (sbr.strategy) {
    case model::sbr_strategy::keep_majority: sbr.role = majority_role; break;
    case model::sbr_strategy::static_quorum: sbr.role = quorum_role; break;
    case model::sbr_strategy::keep_oldest: sbr.role = oldest_role; break;
    case model::sbr_strategy::down_all: break;
  }
  if (!off && sbr.strategy == model::sbr_strategy::static_quorum && !quorum_given) {
    throw config_error(d->key("static-quorum.quorum-size"),
                       "expected an integer in [1, " + std::to_string(max_count) +
                           "] (the static-quorum strategy needs it), got nothing");
  }

  // 4. The model's own check, as a backstop.
  if (auto why = model::validate(sbr)) throw config_error("downing", *why);
  if (off) {
    s.downing.reset();
  } else {
    s.downing = std::move(sbr);
  }
}

void parse_management(const object_reader& root, cluster_settings& s) {
  auto m = root.object("management", {"enabled", "host", "port", "token-file", "token-env", "token-for-reads",
                                       "allow-unauthenticated-changes", "https", "certificate", "private-key",
                                       "allowed-hosts", "allow-changes"});
  // HTTPS takes the transport's certificate unless the block names its own.
  s.management.certificate = s.remote.tls.certificate;
  s.management.private_key = s.remote.tls.private_key;
  if (!m) return;
  if (m->find("allow-changes")) {
    throw config_error(m->key("allow-changes"),
                       "was replaced: give a bearer token (management.token-file or management.token-env) to "
                       "accept authenticated changes, or set management.allow-unauthenticated-changes to true");
  }
  m->boolean("enabled", s.management.enabled);
  m->string("host", s.management.host, false);
  m->integer("port", s.management.port, 0, 65535);
  m->string("token-file", s.management.token_file, true);
  m->string("token-env", s.management.token_env, true);
  if (!s.management.token_file.empty() && !s.management.token_env.empty()) {
    throw config_error(m->key("token-env"), "expected at most one of token-file and token-env, got both");
  }
  m->boolean("token-for-reads", s.management.token_for_reads);
  if (s.management.token_for_reads && s.management.token_file.empty() && s.management.token_env.empty()) {
    throw config_error(m->key("token-for-reads"), "expected a token (token-file or token-env) to require, got none");
  }
  m->boolean("allow-unauthenticated-changes", s.management.allow_unauthenticated_changes);
  m->boolean("https", s.management.https);
  m->string("certificate", s.management.certificate, true);
  m->string("private-key", s.management.private_key, true);
  if (s.management.https && s.management.certificate.empty()) {
    throw config_error(m->key("certificate"), "expected a PEM file for https (or remote.tls.certificate), got none");
  }
  if (s.management.https && s.management.private_key.empty()) {
    throw config_error(m->key("private-key"), "expected a PEM file for https (or remote.tls.private-key), got none");
  }
  // The names checked against Host and Origin, in the syntax of those headers.
  if (const json* hosts = m->find("allowed-hosts")) {
    const std::string form = "\"host\" or \"host:port\" (a DNS name, an IPv4 address or an IPv6 one in "
                             "brackets; a port in [1, 65535])";
    if (!hosts->is_array()) {
      throw config_error(m->key("allowed-hosts"), "expected an array of strings " + form + ", got " + hosts->dump());
    }
    for (std::size_t i = 0; i < hosts->size(); ++i) {
      const json& h = (*hosts)[i];
      if (!h.is_string() || !parse_management_host(h.get<std::string>())) {
        throw config_error(m->key("allowed-hosts") + "[" + std::to_string(i) + "]",
                           "expected a string " + form + ", got " + h.dump());
      }
      s.management.allowed_hosts.push_back(h.get<std::string>());
    }
  }
}

// Seed discovery (settings.hpp, `discovery`): after `remote` and `seed-nodes`, whose
// values it checks against.
void parse_discovery(const object_reader& root, cluster_settings& s) {
  auto d = root.object("discovery", {"method", "service-name", "port", "srv", "required-contact-points",
                                     "stable-margin-ms", "interval-ms", "connection", "ttl-ms"});
  if (!d) return;
  discovery_settings ds;
  // 1. Only one way to find the seeds.
  if (!s.seed_nodes.empty()) {
    throw config_error("discovery", "expected either seed-nodes or discovery, got both (discovery finds the seeds)");
  }
  // 2. The method, and only its own keys.
  if (!d->find("method")) throw config_error(d->key("method"), "expected \"dns\" or \"postgresql\", got nothing");
  d->string("method", ds.method, false);
  if (ds.method != "dns" && ds.method != "postgresql") {
    throw config_error(d->key("method"), "expected \"dns\" or \"postgresql\", got \"" + ds.method + "\"");
  }
  const bool dns = ds.method == "dns";
  for (const char* key : {"service-name", "port", "srv"}) {
    if (!dns && d->find(key)) {
      throw config_error(d->key(key), "expected only with method \"dns\", got it with \"" + ds.method + "\"");
    }
  }
  for (const char* key : {"connection", "ttl-ms"}) {
    if (dns && d->find(key)) {
      throw config_error(d->key(key), "expected only with method \"postgresql\", got it with \"dns\"");
    }
  }
  // 3. dns: the name and the port.
  if (dns) {
    if (!d->find("service-name")) {
      throw config_error(d->key("service-name"),
                         "expected a DNS name (e.g. troupe.shop.svc.cluster.local), got nothing");
    }
    d->string("service-name", ds.service_name, false);
    if (ds.service_name.size() > 253 || ds.service_name.find_first_of(" \t\r\n/@,") != std::string::npos) {
      throw config_error(d->key("service-name"), "expected a DNS name of at most 253 characters, got \"" +
                                                     ds.service_name + "\"");
    }
    d->boolean("srv", ds.srv);
    ds.port = s.remote.port;
    d->integer("port", ds.port, 1, 65535);
    if (ds.srv && d->find("port")) {
      throw config_error(d->key("port"), "expected no port with srv: true (each SRV record gives its own), got " +
                                             d->find("port")->dump());
    }
    if (!ds.srv && ds.port == 0) {
      throw config_error(d->key("port"), "expected an integer in [1, 65535] (remote.port is 0, so it cannot be the "
                                         "default), got nothing");
    }
  }
  // 4. The bootstrap rule and the lookup interval.
  d->integer("required-contact-points", ds.required_contact_points, 1, 1000);
  d->millis("stable-margin-ms", ds.stable_margin, 0, max_interval_ms);
  d->millis("interval-ms", ds.interval, 1, max_interval_ms);
  // 5. postgresql: where, and when a row is stale. The connection may come later from
  //    TROUPE_PG_CONNECTION (apply_environment); `cluster::start` checks it is there.
  if (!dns) {
    d->string("connection", ds.connection, true);
    d->millis("ttl-ms", ds.ttl, 1, max_interval_ms);
    if (ds.ttl <= ds.interval) {
      throw config_error(d->key("ttl-ms"), "expected more than interval-ms (" + std::to_string(ds.interval.count()) +
                                               "): a live node refreshes its row every interval, got " +
                                               std::to_string(ds.ttl.count()));
    }
  }
  s.discovery = std::move(ds);
}

cluster_settings parse_or_throw(const json& j) {
  const object_reader root(
      j, "",
      {"system", "remote", "seed-nodes", "roles", "min-nr-of-members", "role-min-nr-of-members",
       "allow-weakly-up-members", "weakly-up-after-ms", "gossip-interval-ms", "heartbeat-interval-ms",
       "leader-actions-interval-ms", "unreachable-nodes-reaper-interval-ms", "seed-node-timeout-ms",
       "first-seed-forms-cluster-when-alone", "known-members-file", "retry-unsuccessful-join-after-ms",
       "failure-detector", "downing", "run-coordinated-shutdown-when-down", "management", "discovery"});
  cluster_settings s;

  // 1. Identity: the system name and the transport's block.
  root.string("system", s.system, false);
  if (!valid_system_name(s.system)) {
    throw config_error("system", "expected a letter or digit followed by letters, digits, '-' or '_', got \"" +
                                     s.system + "\"");
  }
  if (const json* r = root.find("remote")) {
    if (!r->is_object()) throw config_error("remote", "expected a JSON object, got " + r->dump());
    auto parsed = remote::remote_settings::parse(*r);
    if (!parsed) throw nested("remote", parsed.error());
    s.remote = std::move(parsed).value();
  }

  // 2. Seeds, naming this system, each once.
  if (const json* seeds = root.find("seed-nodes")) {
    if (!seeds->is_array()) {
      throw config_error("seed-nodes", "expected an array of URIs troupe://" + s.system + "@host:port, got " +
                                           seeds->dump());
    }
    for (std::size_t i = 0; i < seeds->size(); ++i) {
      const std::string key = "seed-nodes[" + std::to_string(i) + "]";
      const json& uri = (*seeds)[i];
      if (!uri.is_string()) {
        throw config_error(key, "expected a URI troupe://" + s.system + "@host:port, got " + uri.dump());
      }
      auto a = seed_address(uri.get<std::string>(), s.system);
      if (!a) throw config_error(key, a.error());
      for (const auto& earlier : s.seed_nodes) {
        if (earlier == *a) throw config_error(key, "expected each seed once, got " + uri.dump() + " again");
      }
      s.seed_nodes.push_back(*a);
    }
  }

  // 3. Roles and the leader's membership rules.
  if (const json* roles = root.find("roles")) {
    if (!roles->is_array()) throw config_error("roles", "expected an array of role names, got " + roles->dump());
    for (std::size_t i = 0; i < roles->size(); ++i) {
      const json& r = (*roles)[i];
      if (!r.is_string() || r.get<std::string>().empty()) {
        throw config_error("roles[" + std::to_string(i) + "]", "expected a non-empty role name, got " + r.dump());
      }
      s.roles.insert(r.get<std::string>());
    }
  }
  root.integer("min-nr-of-members", s.membership.min_nr_of_members, 1, max_count);
  if (const json* per_role = root.find("role-min-nr-of-members")) {
    if (!per_role->is_object()) {
      throw config_error("role-min-nr-of-members", "expected an object of role name to count, got " +
                                                       per_role->dump());
    }
    for (auto it = per_role->begin(); it != per_role->end(); ++it) {
      const std::string key = "role-min-nr-of-members." + it.key();
      if (it.key().empty()) throw config_error(key, "expected a non-empty role name");
      if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > max_count) {
        throw config_error(key, "expected an integer in [1, " + std::to_string(max_count) + "], got " +
                                    it->dump());
      }
      s.membership.min_nr_of_members_per_role[it.key()] = static_cast<std::size_t>(it->get<long long>());
    }
  }
  root.boolean("allow-weakly-up-members", s.membership.allow_weakly_up);
  root.millis("weakly-up-after-ms", s.weakly_up_after, 1, max_interval_ms);

  // 4. Intervals and timeouts, all > 0.
  root.millis("gossip-interval-ms", s.gossip_interval, 1, max_interval_ms);
  root.millis("heartbeat-interval-ms", s.heartbeat_interval, 1, max_interval_ms);
  root.millis("leader-actions-interval-ms", s.leader_actions_interval, 1, max_interval_ms);
  root.millis("unreachable-nodes-reaper-interval-ms", s.unreachable_nodes_reaper_interval, 1, max_interval_ms);
  root.millis("seed-node-timeout-ms", s.seed_node_timeout, 1, max_interval_ms);
  root.millis("retry-unsuccessful-join-after-ms", s.retry_unsuccessful_join_after, 1, max_interval_ms);

  // 5. The first seed's safety, and the members remembered across restarts.
  root.boolean("first-seed-forms-cluster-when-alone", s.first_seed_forms_cluster_when_alone);
  if (root.find("known-members-file")) {
    std::string path;
    root.string("known-members-file", path, false);
    s.known_members_file = path;
  }

  // 6. Failure detection; the first heartbeat estimate is the heartbeat interval (Akka).
  parse_failure_detector(root, s);
  s.failure_detector.first_heartbeat_estimate = s.heartbeat_interval;
  if (auto why = troupe::validate(s.failure_detector)) throw config_error("failure-detector", *why);

  // 7. Downing, shutdown and management.
  parse_downing(root, s);
  root.boolean("run-coordinated-shutdown-when-down", s.run_coordinated_shutdown_when_down);
  parse_management(root, s);

  // 8. Seed discovery, instead of seed-nodes.
  parse_discovery(root, s);
  return s;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

expected<cluster_settings, config_error> cluster_settings::parse(const nlohmann::json& j) {
  try {
    return parse_or_throw(j);
  } catch (const config_error& e) {
    return unexpected<config_error>{e};
  }
}

expected<cluster_settings, config_error> cluster_settings::parse(const std::string& text) {
  auto j = parse_json_text(text);
  if (!j) return unexpected<config_error>{j.error()};
  return parse(*j);
}

expected<cluster_settings, config_error> cluster_settings::parse_file(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return unexpected<config_error>{config_error(name, "cannot read: a directory, expected a JSON file")};
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return unexpected<config_error>{config_error(
        name, "cannot read" + (err != 0 ? ": " + std::generic_category().message(err) : std::string()))};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return unexpected<config_error>{config_error(name, "cannot read: I/O error")};
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    return unexpected<config_error>{config_error(name, std::string("not valid JSON: ") + e.what())};
  }
  return parse(j);
}

expected<cluster_settings, config_error> cluster_settings::apply_environment(
    const std::function<const char*(const char*)>& getenv) const {
  cluster_settings s = *this;
  auto read = [&](const char* name) -> std::optional<std::string_view> {
    const char* v = getenv(name);
    if (v == nullptr || *v == '\0') return std::nullopt;
    return std::string_view(v);
  };

  // 1. TROUPE_HOST: a host name or an IP address, nothing else.
  if (auto host = read("TROUPE_HOST")) {
    if (host->find_first_of(" \t\r\n@/,") != std::string_view::npos) {
      return unexpected<config_error>{config_error(
          "TROUPE_HOST", "expected a host name or IP address, got \"" + std::string(*host) + "\"")};
    }
    s.remote.host = std::string(*host);
  }

  // 2. TROUPE_PORT: a decimal port, 0 for any free one.
  if (auto port = read("TROUPE_PORT")) {
    unsigned value = 0;
    const auto [end, err] = std::from_chars(port->data(), port->data() + port->size(), value);
    if (err != std::errc{} || end != port->data() + port->size() || value > 65535) {
      return unexpected<config_error>{config_error(
          "TROUPE_PORT", "expected an integer in [0, 65535], got \"" + std::string(*port) + "\"")};
    }
    s.remote.port = static_cast<std::uint16_t>(value);
  }

  // 3. TROUPE_SEEDS: comma-separated seed URIs of this system, replacing seed-nodes.
  if (auto seeds = read("TROUPE_SEEDS")) {
    if (s.discovery) {
      return unexpected<config_error>{config_error(
          "TROUPE_SEEDS", "expected no seeds: the settings have a discovery block, which finds them")};
    }
    std::vector<remote::address> parsed;
    std::string_view rest = *seeds;
    for (std::size_t item = 1;; ++item) {
      const auto comma = rest.find(',');
      const std::string_view uri = trim(rest.substr(0, comma));
      auto a = seed_address(uri, s.system);
      if (!a) {
        return unexpected<config_error>{config_error(
            "TROUPE_SEEDS", "item " + std::to_string(item) + ": " + a.error() +
                                " (comma-separated troupe://" + s.system + "@host:port URIs)")};
      }
      for (const auto& earlier : parsed) {
        if (earlier == *a) {
          return unexpected<config_error>{config_error(
              "TROUPE_SEEDS", "item " + std::to_string(item) + ": expected each seed once, got \"" +
                                  std::string(uri) + "\" again")};
        }
      }
      parsed.push_back(*a);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    s.seed_nodes = std::move(parsed);
  }

  // 4. TROUPE_PG_CONNECTION: the postgresql discovery's connection string (it may hold a
  //    password), replacing discovery.connection.
  if (auto pg = read("TROUPE_PG_CONNECTION")) {
    if (s.discovery && s.discovery->method == "postgresql") s.discovery->connection = std::string(*pg);
  }

  // 5. TROUPE_COOKIE: the shared secret, replacing remote.cookie, so that a file kept in
  //    version control or a container image need not hold it.
  if (auto cookie = read("TROUPE_COOKIE")) {
    s.remote.cookie = std::string(*cookie);
    s.remote.insecure = false;
  }
  return s;
}

}  // namespace troupe::cluster
