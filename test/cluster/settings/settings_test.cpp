// Cluster settings: Akka's defaults, a full file, errors naming the key path and the
// expected value, and environment overrides through an injected getenv.
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <troupe/cluster/settings.hpp>

using troupe::cluster::cluster_settings;
using troupe::cluster::model::sbr_strategy;
using troupe::remote::address;
using namespace std::chrono_literals;

namespace {

/// Parses `text`, requires an error, and checks its key and that it mentions `words`.
void check_error(const std::string& text, const std::string& key, const std::string& words) {
  INFO(text);
  auto s = cluster_settings::parse(text);
  REQUIRE_FALSE(s);
  CHECK(s.error().key == key);
  CHECK_THAT(std::string(s.error().what()), Catch::StartsWith(key + ": ") && Catch::Contains(words));
}

/// A getenv over a fixed map: tests never read or change the real environment.
struct fake_environment {
  std::map<std::string, std::string> vars;
  const char* operator()(const char* name) const {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  }
};

}  // namespace

TEST_CASE("cluster settings default to Akka's", "[unit][cluster-settings]") {
  auto s = cluster_settings::parse(std::string("{}"));
  REQUIRE(s);
  CHECK(s->system == "troupe");
  CHECK(s->remote.host == "127.0.0.1");
  CHECK(s->seed_nodes.empty());
  CHECK(s->roles.empty());
  CHECK(s->membership.min_nr_of_members == 1);
  CHECK(s->membership.min_nr_of_members_per_role.empty());
  CHECK(s->membership.allow_weakly_up);
  CHECK(s->weakly_up_after == 7s);
  CHECK(s->gossip_interval == 1s);
  CHECK(s->heartbeat_interval == 1s);
  CHECK(s->leader_actions_interval == 1s);
  CHECK(s->unreachable_nodes_reaper_interval == 1s);
  CHECK(s->seed_node_timeout == 5s);
  CHECK(s->retry_unsuccessful_join_after == 10s);
  CHECK(s->failure_detector.threshold == 8.0);
  CHECK(s->failure_detector.acceptable_heartbeat_pause == 3s);
  CHECK(s->failure_detector.min_std_deviation == 100ms);
  CHECK(s->failure_detector.max_sample_size == 1000);
  CHECK(s->failure_detector.first_heartbeat_estimate == 1s);
  CHECK(s->expected_response_after == 1s);
  CHECK(s->monitored_by_nr_of_members == 9);
  REQUIRE(s->downing);
  CHECK(s->downing->strategy == sbr_strategy::keep_majority);
  CHECK(s->downing->stable_after == 20s);
  CHECK_FALSE(s->downing->down_all_when_unstable);  // "on"
  CHECK(s->downing->role.empty());
  CHECK(s->run_coordinated_shutdown_when_down);
  CHECK_FALSE(s->management.enabled);
  CHECK(s->management.host == "127.0.0.1");
  CHECK(s->management.port == 8558);
  CHECK_FALSE(s->management.allow_unauthenticated_changes);  // read-only unless a token or this
  CHECK(s->management.token_file.empty());
  CHECK(s->management.token_env.empty());
  CHECK_FALSE(s->management.token_for_reads);
  CHECK_FALSE(s->management.https);
  CHECK(s->management.allowed_hosts.empty());
  CHECK(s->self_address() == address{"troupe", "127.0.0.1", s->remote.port});

  // A struct built in code has the same defaults as an empty file.
  const cluster_settings d;
  CHECK(d.gossip_interval == s->gossip_interval);
  CHECK(d.downing->stable_after == s->downing->stable_after);
  CHECK(d.management.allow_unauthenticated_changes == s->management.allow_unauthenticated_changes);
}

TEST_CASE("a full example file parses into every field", "[unit][cluster-settings]") {
  auto s = cluster_settings::parse_file(TROUPE_CLUSTER_SETTINGS_EXAMPLE);
  if (!s) FAIL(s.error().what());
  CHECK(s->system == "shop");
  CHECK(s->remote.host == "127.0.0.2");
  CHECK(s->remote.port == 2553);
  CHECK(s->remote.cookie == "s3cret");
  CHECK(s->self_address() == address{"shop", "127.0.0.2", 2553});
  REQUIRE(s->seed_nodes.size() == 2);
  CHECK(s->seed_nodes[0] == address{"shop", "127.0.0.1", 2551});
  CHECK(s->seed_nodes[1] == address{"shop", "127.0.0.1", 2552});
  CHECK(s->roles == std::set<std::string>{"backend", "frontend"});
  CHECK(s->membership.min_nr_of_members == 3);
  CHECK(s->membership.min_nr_of_members_per_role == std::map<std::string, std::size_t>{{"backend", 2}});
  CHECK_FALSE(s->membership.allow_weakly_up);
  CHECK(s->weakly_up_after == 9s);
  CHECK(s->gossip_interval == 500ms);
  CHECK(s->heartbeat_interval == 750ms);
  CHECK(s->leader_actions_interval == 1500ms);
  CHECK(s->unreachable_nodes_reaper_interval == 250ms);
  CHECK(s->seed_node_timeout == 4s);
  CHECK(s->retry_unsuccessful_join_after == 12s);
  CHECK(s->failure_detector.threshold == 10.5);
  CHECK(s->failure_detector.acceptable_heartbeat_pause == 2500ms);
  CHECK(s->failure_detector.min_std_deviation == 200ms);
  CHECK(s->failure_detector.max_sample_size == 500);
  CHECK(s->failure_detector.first_heartbeat_estimate == 750ms);  // the heartbeat interval
  CHECK(s->expected_response_after == 1200ms);
  CHECK(s->monitored_by_nr_of_members == 5);
  REQUIRE(s->downing);
  CHECK(s->downing->strategy == sbr_strategy::static_quorum);
  CHECK(s->downing->stable_after == 7s);
  REQUIRE(s->downing->down_all_when_unstable);
  CHECK(*s->downing->down_all_when_unstable == 3s);
  CHECK(s->gossips_on_downing == 3u);
  CHECK(s->downing->quorum_size == 3);
  CHECK(s->downing->role == "backend");  // the active strategy's block
  CHECK_FALSE(s->downing->down_if_alone);
  CHECK_FALSE(s->run_coordinated_shutdown_when_down);
  CHECK(s->management.enabled);
  CHECK(s->management.host == "0.0.0.0");
  CHECK(s->management.port == 8559);
  CHECK(s->management.token_file == "/run/secrets/management-token");
  CHECK(s->management.token_for_reads);
  CHECK_FALSE(s->management.allow_unauthenticated_changes);
  CHECK(s->management.https);
  CHECK(s->management.certificate == "/etc/troupe/management.pem");
  CHECK(s->management.private_key == "/etc/troupe/management.key");
  CHECK(s->management.allowed_hosts == std::vector<std::string>{"mgmt.example.com", "[fd00::1]:8559"});
}

TEST_CASE("the management block reads allow-unauthenticated-changes and allowed-hosts as written",
          "[unit][cluster-settings]") {
  auto s = cluster_settings::parse(std::string(
      R"({"management": {"allow-unauthenticated-changes": true,
                         "allowed-hosts": ["localhost", "Proxy.Internal:443", "10.0.0.7:8558", "[::1]", "[FD00::1]:9000"]}})"));
  if (!s) FAIL(s.error().what());
  CHECK(s->management.allow_unauthenticated_changes);
  CHECK(s->management.allowed_hosts ==
        std::vector<std::string>{"localhost", "Proxy.Internal:443", "10.0.0.7:8558", "[::1]", "[FD00::1]:9000"});
  auto empty = cluster_settings::parse(std::string(R"({"management": {"allowed-hosts": []}})"));
  REQUIRE(empty);
  CHECK(empty->management.allowed_hosts.empty());
}

TEST_CASE("management's https takes the transport's certificate unless it names its own", "[unit][cluster-settings]") {
  auto s = cluster_settings::parse(std::string(
      R"({"remote": {"tls": {"enabled": true, "certificate": "node.pem", "private-key": "node.key", "ca": "ca.pem"}},
          "management": {"https": true}})"));
  if (!s) FAIL(s.error().what());
  CHECK(s->management.certificate == "node.pem");
  CHECK(s->management.private_key == "node.key");
  auto own = cluster_settings::parse(std::string(
      R"({"remote": {"tls": {"enabled": true, "certificate": "node.pem", "private-key": "node.key", "ca": "ca.pem"}},
          "management": {"https": true, "certificate": "m.pem", "private-key": "m.key"}})"));
  REQUIRE(own);
  CHECK(own->management.certificate == "m.pem");
  CHECK(own->management.private_key == "m.key");
}

TEST_CASE("downing strategies and their parameters", "[unit][cluster-settings]") {
  auto parse = [](const char* text) {
    auto s = cluster_settings::parse(std::string(text));
    if (!s) FAIL(s.error().what());
    return s.value();
  };
  CHECK_FALSE(parse(R"({"downing": {"strategy": "off"}})").downing);
  auto oldest = parse(R"({"downing": {"strategy": "keep-oldest", "keep-oldest": {"role": "r"},
                                      "keep-majority": {"role": "ignored"}}})");
  CHECK(oldest.downing->strategy == sbr_strategy::keep_oldest);
  CHECK(oldest.downing->role == "r");
  CHECK(oldest.downing->down_if_alone);
  CHECK(parse(R"({"downing": {"strategy": "down-all"}})").downing->strategy == sbr_strategy::down_all);
  auto majority = parse(R"({"downing": {"keep-majority": {"role": "backend"}, "down-all-when-unstable": "off"}})");
  CHECK(majority.downing->strategy == sbr_strategy::keep_majority);
  CHECK(majority.downing->role == "backend");
  REQUIRE(majority.downing->down_all_when_unstable);
  CHECK(*majority.downing->down_all_when_unstable == 0s);
  CHECK(parse(R"({"downing": {"stable-after-ms": 0}})").downing->stable_after == 0s);
  CHECK_FALSE(parse("{}").gossips_on_downing);  // "auto"
  CHECK_FALSE(parse(R"({"downing": {"gossips-on-downing": "auto"}})").gossips_on_downing);
  CHECK(parse(R"({"downing": {"gossips-on-downing": 0}})").gossips_on_downing == 0u);
  CHECK(parse(R"({"downing": {"gossips-on-downing": 5}})").gossips_on_downing == 5u);
}

TEST_CASE("bad cluster settings name the key path and the expected value", "[unit][cluster-settings]") {
  // Structure and unknown keys.
  check_error("[1]", "<root>", "expected a JSON object");
  check_error("{", "<json>", "not valid JSON");
  check_error(R"({"gossip-intervall-ms": 1})", "gossip-intervall-ms", "unknown key; expected one of: system,");
  check_error(R"({"downing": {"static-quorum": {"quorum-sise": 3}}})", "downing.static-quorum.quorum-sise",
              "expected one of: quorum-size, role");
  check_error(R"({"failure-detector": {"phi": 3}})", "failure-detector.phi", "unknown key");
  check_error(R"({"management": {"portt": 1}})", "management.portt", "unknown key");
  check_error(R"({"downing": []})", "downing", "expected a JSON object");

  // The transport's block, with its key moved under "remote.".
  check_error(R"({"remote": {"port": 70000}})", "remote.port", "[0, 65535]");
  check_error(R"({"remote": {"hots": "x"}})", "remote.hots", "unknown key");
  check_error(R"({"remote": 1})", "remote", "expected a JSON object");

  // Identity and seeds.
  check_error(R"({"system": ""})", "system", "non-empty string");
  check_error(R"({"system": "a b"})", "system", "letters, digits, '-' or '_'");
  check_error(R"({"seed-nodes": "troupe://troupe@h:1"})", "seed-nodes", "expected an array");
  check_error(R"({"seed-nodes": ["troupe://troupe@h:1", 5]})", "seed-nodes[1]", "troupe://troupe@host:port");
  check_error(R"({"seed-nodes": ["http://h:1"]})", "seed-nodes[0]", "expected a URI troupe://troupe@host:port");
  check_error(R"({"seed-nodes": ["troupe://troupe@h:99999"]})", "seed-nodes[0]", "got \"troupe://troupe@h:99999\"");
  check_error(R"({"seed-nodes": ["troupe://troupe@h:0"]})", "seed-nodes[0]", "port in [1, 65535]");
  check_error(R"({"seed-nodes": ["troupe://troupe@h:1/user/x"]})", "seed-nodes[0]", "without a path");
  check_error(R"({"system": "shop", "seed-nodes": ["troupe://other@h:1"]})", "seed-nodes[0]",
              "got system \"other\"");
  check_error(R"({"seed-nodes": ["troupe://troupe@h:1", "troupe://troupe@h:1"]})", "seed-nodes[1]",
              "expected each seed once");

  // Roles and minimums.
  check_error(R"({"roles": "backend"})", "roles", "expected an array of role names");
  check_error(R"({"roles": ["a", ""]})", "roles[1]", "non-empty role name");
  check_error(R"({"min-nr-of-members": 0})", "min-nr-of-members", "expected an integer in [1, 1000000], got 0");
  check_error(R"({"role-min-nr-of-members": {"backend": 0}})", "role-min-nr-of-members.backend",
              "expected an integer in [1, 1000000], got 0");
  check_error(R"({"role-min-nr-of-members": [1]})", "role-min-nr-of-members", "expected an object");
  check_error(R"({"allow-weakly-up-members": "yes"})", "allow-weakly-up-members", "expected true or false");

  // Intervals are > 0.
  for (const char* key : {"gossip-interval-ms", "heartbeat-interval-ms", "leader-actions-interval-ms",
                          "unreachable-nodes-reaper-interval-ms", "seed-node-timeout-ms",
                          "retry-unsuccessful-join-after-ms", "weakly-up-after-ms"}) {
    check_error(std::string(R"({")") + key + R"(": 0})", key, "expected an integer in [1, 3600000], got 0");
    check_error(std::string(R"({")") + key + R"(": "1s"})", key, "got \"1s\"");
  }

  // Failure detector.
  check_error(R"({"failure-detector": {"threshold": 0}})", "failure-detector.threshold", "a number > 0");
  check_error(R"({"failure-detector": {"threshold": "8"}})", "failure-detector.threshold", "a number > 0");
  check_error(R"({"failure-detector": {"max-sample-size": 0}})", "failure-detector.max-sample-size", "[1, 1000000]");
  check_error(R"({"failure-detector": {"min-std-deviation-ms": 0}})", "failure-detector.min-std-deviation-ms",
              "[1, 60000]");
  check_error(R"({"failure-detector": {"acceptable-heartbeat-pause-ms": -1}})",
              "failure-detector.acceptable-heartbeat-pause-ms", "[0, 3600000]");
  check_error(R"({"failure-detector": {"monitored-by-nr-of-members": 0}})",
              "failure-detector.monitored-by-nr-of-members", "[1, 1000]");

  // Downing.
  check_error(R"({"downing": {"strategy": "auto-down"}})", "downing.strategy",
              "expected \"keep-majority\", \"static-quorum\", \"keep-oldest\", \"down-all\" or \"off\", "
              "got \"auto-down\"");
  check_error(R"({"downing": {"strategy": "static-quorum"}})", "downing.static-quorum.quorum-size",
              "the static-quorum strategy needs it");
  check_error(R"({"downing": {"strategy": "static-quorum", "static-quorum": {"quorum-size": 0}}})",
              "downing.static-quorum.quorum-size", "expected an integer in [1, 1000000], got 0");
  check_error(R"({"downing": {"stable-after-ms": -5}})", "downing.stable-after-ms", "[0, 3600000]");
  check_error(R"({"downing": {"down-all-when-unstable": "sometimes"}})", "downing.down-all-when-unstable",
              "expected \"on\", \"off\" or milliseconds in [1, 3600000]");
  check_error(R"({"downing": {"down-all-when-unstable": 0}})", "downing.down-all-when-unstable", "got 0");
  check_error(R"({"downing": {"gossips-on-downing": -1}})", "downing.gossips-on-downing",
              "expected \"auto\" or an integer in [0, 1000], got -1");
  check_error(R"({"downing": {"gossips-on-downing": "all"}})", "downing.gossips-on-downing", "got \"all\"");
  check_error(R"({"downing": {"keep-oldest": {"down-if-alone": 1}}})", "downing.keep-oldest.down-if-alone",
              "expected true or false");
  check_error(R"({"downing": {"keep-majority": {"role": 3}}})", "downing.keep-majority.role", "expected a string");

  // Shutdown and management.
  check_error(R"({"run-coordinated-shutdown-when-down": "on"})", "run-coordinated-shutdown-when-down",
              "expected true or false");
  check_error(R"({"management": {"port": 65536}})", "management.port", "expected an integer in [0, 65535]");
  check_error(R"({"management": {"host": ""}})", "management.host", "non-empty string");
  check_error(R"({"management": {"enabled": "true"}})", "management.enabled", "expected true or false");
  check_error(R"({"management": {"allow-changes": true}})", "management.allow-changes",
              "was replaced: give a bearer token (management.token-file or management.token-env)");
  check_error(R"({"management": {"allow-unauthenticated-changes": "yes"}})", "management.allow-unauthenticated-changes",
              "expected true or false");
  check_error(R"({"management": {"token-file": "a", "token-env": "B"}})", "management.token-env",
              "expected at most one of token-file and token-env, got both");
  check_error(R"({"management": {"token-for-reads": true}})", "management.token-for-reads",
              "expected a token (token-file or token-env) to require, got none");
  check_error(R"({"management": {"token-file": 3}})", "management.token-file", "expected a string");
  check_error(R"({"management": {"https": true}})", "management.certificate", "expected a PEM file for https");
  check_error(R"({"management": {"https": true, "certificate": "c.pem"}})", "management.private-key",
              "expected a PEM file for https");
  check_error(R"({"management": {"allowed-hosts": "localhost"}})", "management.allowed-hosts",
              "expected an array of strings \"host\" or \"host:port\"");
  for (const char* bad : {R"(3)", R"("")", R"("a b")", R"("::1")", R"("[::1")", R"("host:0")", R"("host:65536")",
                          R"("http://host")", R"("host/")", R"("*")", R"("user@host")"}) {
    check_error(std::string(R"({"management": {"allowed-hosts": ["localhost", )") + bad + "]}}",
                "management.allowed-hosts[1]",
                std::string("expected a string \"host\" or \"host:port\" (a DNS name, an IPv4 address or an IPv6 one "
                            "in brackets; a port in [1, 65535]), got ") + bad);
  }
}

TEST_CASE("environment variables override host, port, seeds and cookie", "[unit][cluster-settings]") {
  auto base = cluster_settings::parse(std::string(R"({"system": "shop", "remote": {"port": 2551},
      "seed-nodes": ["troupe://shop@127.0.0.1:2551"]})"));
  REQUIRE(base);

  SECTION("unset and empty variables change nothing") {
    fake_environment env{{{"TROUPE_HOST", ""}, {"TROUPE_SEEDS", ""}}};
    auto s = base->apply_environment(env);
    REQUIRE(s);
    CHECK(s->self_address() == address{"shop", "127.0.0.1", 2551});
    CHECK(s->seed_nodes == base->seed_nodes);
  }
  SECTION("each variable replaces its setting") {
    fake_environment env{{{"TROUPE_HOST", "10.0.0.7"},
                          {"TROUPE_PORT", "0"},
                          {"TROUPE_SEEDS", "troupe://shop@10.0.0.1:2551, troupe://shop@10.0.0.2:2552"}}};
    auto s = base->apply_environment(env);
    if (!s) FAIL(s.error().what());
    CHECK(s->self_address() == address{"shop", "10.0.0.7", 0});
    CHECK(s->seed_nodes == std::vector<address>{{"shop", "10.0.0.1", 2551}, {"shop", "10.0.0.2", 2552}});
    CHECK(base->remote.host == "127.0.0.1");  // the original is untouched
  }
  SECTION("TROUPE_COOKIE replaces the cookie and turns insecure off") {
    auto open = cluster_settings::parse(std::string(R"({"system": "shop", "remote": {"insecure": true}})"));
    REQUIRE(open);
    REQUIRE(open->remote.insecure);
    fake_environment env{{{"TROUPE_COOKIE", "from-the-environment-91c2"}}};
    auto s = open->apply_environment(env);
    REQUIRE(s);
    CHECK(s->remote.cookie == "from-the-environment-91c2");
    CHECK_FALSE(s->remote.insecure);
  }
  SECTION("bad values name the variable and the expected value") {
    auto check = [&](const char* name, const char* value, const std::string& words) {
      INFO(name << "=" << value);
      fake_environment env{{{name, value}}};
      auto s = base->apply_environment(env);
      REQUIRE_FALSE(s);
      CHECK(s.error().key == name);
      CHECK_THAT(std::string(s.error().what()), Catch::StartsWith(std::string(name) + ": ") &&
                                                    Catch::Contains(words));
    };
    check("TROUPE_PORT", "70000", "expected an integer in [0, 65535], got \"70000\"");
    check("TROUPE_PORT", "25 51", "expected an integer in [0, 65535]");
    check("TROUPE_PORT", "-1", "expected an integer in [0, 65535]");
    check("TROUPE_HOST", "shop@host", "expected a host name or IP address");
    check("TROUPE_SEEDS", "troupe://shop@a:1,,troupe://shop@b:2", "item 2: expected a URI troupe://shop@host:port");
    check("TROUPE_SEEDS", "troupe://shop@a:1;troupe://shop@b:2", "item 1:");
    check("TROUPE_SEEDS", "troupe://other@a:1", "got system \"other\"");
    check("TROUPE_SEEDS", "troupe://shop@a:1,troupe://shop@a:1", "item 2: expected each seed once");
  }
}

TEST_CASE("parse_file names the file it cannot read or parse", "[unit][cluster-settings]") {
  const std::string missing = "/nonexistent-troupe-dir/cluster.json";
  auto s = cluster_settings::parse_file(missing);
  REQUIRE_FALSE(s);
  CHECK(s.error().key == missing);
  CHECK_THAT(std::string(s.error().what()), Catch::StartsWith(missing + ": cannot read") &&
                                                Catch::Contains("No such file or directory"));

  auto dir = cluster_settings::parse_file(std::filesystem::temp_directory_path());
  REQUIRE_FALSE(dir);
  CHECK_THAT(std::string(dir.error().what()), Catch::Contains("a directory"));

  // This source file is not JSON.
  auto not_json = cluster_settings::parse_file(__FILE__);
  REQUIRE_FALSE(not_json);
  CHECK(not_json.error().key == __FILE__);
  CHECK_THAT(std::string(not_json.error().what()), Catch::Contains("not valid JSON"));
}

TEST_CASE("the first seed's safety and the known-members file are read and checked", "[unit][cluster-settings][seed]") {
  auto d = cluster_settings::parse(std::string("{}"));
  REQUIRE(d);
  CHECK_FALSE(d->first_seed_forms_cluster_when_alone);  // no silent second cluster by default
  CHECK(d->known_members_file.empty());
  auto s = cluster_settings::parse(std::string(
      R"({"first-seed-forms-cluster-when-alone": true, "known-members-file": "/var/lib/shop/known"})"));
  REQUIRE(s);
  CHECK(s->first_seed_forms_cluster_when_alone);
  CHECK(s->known_members_file == "/var/lib/shop/known");
  check_error(R"({"first-seed-forms-cluster-when-alone": "yes"})", "first-seed-forms-cluster-when-alone",
              "expected true or false");
  check_error(R"({"known-members-file": ""})", "known-members-file", "expected a non-empty string");
  check_error(R"({"known-members-file": 3})", "known-members-file", "expected a non-empty string");
}

TEST_CASE("seed discovery is read and checked", "[unit][cluster-settings][discovery]") {
  SECTION("none by default") {
    auto s = cluster_settings::parse(std::string("{}"));
    REQUIRE(s);
    CHECK_FALSE(s->discovery);
  }
  SECTION("dns A/AAAA with Akka's defaults and the remote port") {
    auto s = cluster_settings::parse(std::string(
        R"({"remote": {"port": 2552}, "discovery": {"method": "dns", "service-name": "troupe.shop.svc.cluster.local"}})"));
    if (!s) FAIL(s.error().what());
    REQUIRE(s->discovery);
    CHECK(s->discovery->method == "dns");
    CHECK(s->discovery->service_name == "troupe.shop.svc.cluster.local");
    CHECK(s->discovery->port == 2552);
    CHECK_FALSE(s->discovery->srv);
    CHECK(s->discovery->required_contact_points == 2);
    CHECK(s->discovery->stable_margin == 5s);
    CHECK(s->discovery->interval == 1s);
    CHECK(s->discovery->resolver == nullptr);
    CHECK(s->seed_nodes.empty());
  }
  SECTION("every key") {
    auto s = cluster_settings::parse(std::string(
        R"({"discovery": {"method": "dns", "service-name": "troupe.svc", "port": 2600, "srv": false,
                          "required-contact-points": 3, "stable-margin-ms": 250, "interval-ms": 100}})"));
    if (!s) FAIL(s.error().what());
    CHECK(s->discovery->port == 2600);
    CHECK(s->discovery->required_contact_points == 3);
    CHECK(s->discovery->stable_margin == 250ms);
    CHECK(s->discovery->interval == 100ms);
  }
  SECTION("srv without a port, even when remote.port is 0") {
    auto s = cluster_settings::parse(std::string(
        R"({"remote": {"port": 0}, "discovery": {"method": "dns", "service-name": "_troupe._tcp.shop", "srv": true}})"));
    if (!s) FAIL(s.error().what());
    CHECK(s->discovery->srv);
  }
  SECTION("a stable margin of 0 joins at the first sufficient lookup") {
    auto s = cluster_settings::parse(std::string(
        R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "stable-margin-ms": 0}})"));
    REQUIRE(s);
    CHECK(s->discovery->stable_margin == 0ms);
  }
}

TEST_CASE("bad seed discovery settings name the key and the expected value", "[unit][cluster-settings][discovery]") {
  check_error(R"({"seed-nodes": ["troupe://troupe@127.0.0.1:2551"],
                  "discovery": {"method": "dns", "service-name": "a", "port": 1}})",
              "discovery", "either seed-nodes or discovery");
  check_error(R"({"discovery": []})", "discovery", "expected a JSON object");
  check_error(R"({"discovery": {"service-name": "a", "port": 1}})", "discovery.method", "expected \"dns\"");
  check_error(R"({"discovery": {"method": "consul", "service-name": "a", "port": 1}})", "discovery.method",
              "got \"consul\"");
  check_error(R"({"discovery": {"method": "postgresql", "service-name": "a"}})", "discovery.service-name",
              "only with method \"dns\"");
  check_error(R"({"discovery": {"method": "postgresql", "srv": true}})", "discovery.srv", "only with method \"dns\"");
  check_error(R"({"discovery": {"method": "postgresql", "connection": 5}})", "discovery.connection",
              "expected a string");
  check_error(R"({"discovery": {"method": "postgresql", "interval-ms": 1000, "ttl-ms": 1000}})", "discovery.ttl-ms",
              "more than interval-ms (1000)");
  check_error(R"({"discovery": {"method": "postgresql", "ttl-ms": 0}})", "discovery.ttl-ms", "[1, 3600000]");
  check_error(R"({"discovery": {"method": "dns", "port": 1}})", "discovery.service-name", "expected a DNS name");
  check_error(R"({"discovery": {"method": "dns", "service-name": "", "port": 1}})", "discovery.service-name",
              "non-empty string");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a b", "port": 1}})", "discovery.service-name",
              "expected a DNS name");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 0}})", "discovery.port",
              "[1, 65535]");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 70000}})", "discovery.port",
              "[1, 65535]");
  check_error(R"({"remote": {"port": 0}, "discovery": {"method": "dns", "service-name": "a"}})", "discovery.port",
              "remote.port is 0");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "srv": true, "port": 2552}})",
              "discovery.port", "no port with srv: true");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "srv": "yes"}})", "discovery.srv",
              "true or false");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "required-contact-points": 0}})",
              "discovery.required-contact-points", "[1, 1000]");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "stable-margin-ms": -1}})",
              "discovery.stable-margin-ms", "[0, 3600000]");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "interval-ms": 0}})",
              "discovery.interval-ms", "[1, 3600000]");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "ttl-ms": 5}})",
              "discovery.ttl-ms", "only with method \"postgresql\"");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "connection": "x"}})",
              "discovery.connection", "only with method \"postgresql\"");
  check_error(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1, "hosts": []}})",
              "discovery.hosts", "unknown key");
}

TEST_CASE("TROUPE_SEEDS with a discovery block is an error", "[unit][cluster-settings][discovery]") {
  auto s = cluster_settings::parse(std::string(R"({"discovery": {"method": "dns", "service-name": "a", "port": 1}})"));
  REQUIRE(s);
  fake_environment env{{{"TROUPE_SEEDS", "troupe://troupe@127.0.0.1:2551"}}};
  auto e = s->apply_environment(env);
  REQUIRE_FALSE(e);
  CHECK(e.error().key == "TROUPE_SEEDS");
  CHECK_THAT(std::string(e.error().what()), Catch::Contains("discovery"));
  fake_environment host{{{"TROUPE_HOST", "10.0.0.7"}}};
  auto h = s->apply_environment(host);
  REQUIRE(h);
  CHECK(h->discovery);
}

TEST_CASE("postgresql discovery settings and TROUPE_PG_CONNECTION", "[unit][cluster-settings][discovery]") {
  auto s = cluster_settings::parse(std::string(R"({"discovery": {"method": "postgresql"}})"));
  if (!s) FAIL(s.error().what());
  REQUIRE(s->discovery);
  CHECK(s->discovery->method == "postgresql");
  CHECK(s->discovery->connection.empty());
  CHECK(s->discovery->ttl == 10s);
  CHECK(s->discovery->interval == 1s);
  auto full = cluster_settings::parse(std::string(
      R"({"discovery": {"method": "postgresql", "connection": "host=db dbname=shop", "ttl-ms": 3000,
                        "interval-ms": 500, "required-contact-points": 3}})"));
  if (!full) FAIL(full.error().what());
  CHECK(full->discovery->connection == "host=db dbname=shop");
  CHECK(full->discovery->ttl == 3s);
  CHECK(full->discovery->interval == 500ms);
  fake_environment env{{{"TROUPE_PG_CONNECTION", "host=other password=x"}}};
  auto e = full->apply_environment(env);
  REQUIRE(e);
  CHECK(e->discovery->connection == "host=other password=x");
}
