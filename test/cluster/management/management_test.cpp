// Cluster management over HTTP: the routes as a pure function of a request and a snapshot
// ([unit], no actor system), then the server in front of a real one-node cluster, spoken
// to by a small Beast client over loopback ([integration]).
#include <catch2/catch.hpp>

#include <poll.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/actor/testkit.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/management.hpp>

#include "support/temp_files.hpp"
#include "support/test_pki.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using troupe::cluster::authorize_management_request;
using troupe::cluster::check_management_request_host;
using troupe::cluster::load_management_token;
using troupe::cluster::management_access_policy;
using troupe::cluster::management_change;
using troupe::cluster::management_host;
using troupe::cluster::management_host_names;
using troupe::cluster::management_max_connections;
using troupe::cluster::management_request;
using troupe::cluster::management_response;
using troupe::cluster::management_server;
using troupe::cluster::management_settings;
using troupe::cluster::management_snapshot;
using troupe::cluster::parse_management_host;
using troupe::cluster::route_management_request;
using troupe::testkit::await_condition;
namespace model = troupe::cluster::model;
using model::member_status;

namespace {

// ---- the routes, on a fixed snapshot -------------------------------------------------

model::unique_address node(std::uint16_t port, std::uint64_t uid) { return {{"shop", "127.0.0.1", port}, uid}; }

model::member member_at(std::uint16_t port, member_status status, std::set<std::string> roles,
                        std::int32_t up_number) {
  return model::member::restore(node(port, port * 10ULL), status, std::move(roles), {}, up_number);
}

/// Three members: 2551 up (oldest, backend), 2552 up (backend, frontend), 2553 joining;
/// 2553 is unreachable as seen by 2551 and 2552; the leader is 2551; self is 2552.
management_snapshot three_nodes(member_status self_status = member_status::up) {
  troupe::cluster::current_cluster_state state;
  state.members = {member_at(2551, member_status::up, {"backend"}, 1),
                   member_at(2552, self_status, {"backend", "frontend"}, 2),
                   member_at(2553, member_status::joining, {}, model::member::no_up_number)};
  state.leader = node(2551, 0).address;
  model::reachability r;
  r = r.unreachable(node(2551, 25510), node(2553, 25530));
  r = r.unreachable(node(2552, 25520), node(2553, 25530));
  return management_snapshot{node(2552, 0).address, state.members[1], state, r};
}

/// Routes one request against `three_nodes()`, counting the snapshots taken.
struct router {
  management_snapshot snapshot = three_nodes();
  bool allow_changes = true;
  int snapshots_taken = 0;

  management_response operator()(std::string method, std::string target, std::string body = {},
                                 std::string content_type = {}) {
    management_request request{std::move(method), std::move(target), std::move(content_type), std::move(body)};
    return route_management_request(
        request,
        [this] {
          ++snapshots_taken;
          return snapshot;
        },
        allow_changes);
  }
};

json body_of(const management_response& r) { return json::parse(r.body); }

std::string message_of(const management_response& r) { return body_of(r).at("message").get<std::string>(); }

}  // namespace

TEST_CASE("management: GET /alive answers without reading the cluster", "[unit][management]") {
  router route;
  auto r = route("GET", "/alive");
  CHECK(r.status == 200);
  CHECK(body_of(r) == json{{"alive", true}});
  CHECK(route.snapshots_taken == 0);
  CHECK(r.change.op == management_change::operation::none);
}

TEST_CASE("management: GET /ready is 200 once Up or WeaklyUp, else 503", "[unit][management]") {
  router route;
  for (auto [status, code, name] : {std::tuple{member_status::up, 200U, "Up"},
                                    std::tuple{member_status::weakly_up, 200U, "WeaklyUp"},
                                    std::tuple{member_status::joining, 503U, "Joining"},
                                    std::tuple{member_status::leaving, 503U, "Leaving"},
                                    std::tuple{member_status::down, 503U, "Down"},
                                    std::tuple{member_status::removed, 503U, "Removed"}}) {
    INFO(name);
    route.snapshot = three_nodes(status);
    auto r = route("GET", "/ready");
    CHECK(r.status == code);
    const json b = body_of(r);
    CHECK(b.at("ready") == (code == 200));
    CHECK(b.at("status") == name);
    CHECK(b.at("selfNode") == "troupe://shop@127.0.0.1:2552");
    CHECK(b.contains("message") == (code != 200));
  }
}

TEST_CASE("management: GET /cluster/members has Akka Management's shape", "[unit][management]") {
  router route;
  auto r = route("GET", "/cluster/members");
  REQUIRE(r.status == 200);
  const json expected = json::parse(R"({
    "selfNode": "troupe://shop@127.0.0.1:2552",
    "leader": "troupe://shop@127.0.0.1:2551",
    "oldest": "troupe://shop@127.0.0.1:2551",
    "oldestPerRole": {"backend": "troupe://shop@127.0.0.1:2551",
                      "frontend": "troupe://shop@127.0.0.1:2552"},
    "members": [
      {"node": "troupe://shop@127.0.0.1:2551", "nodeUid": "25510", "status": "Up", "roles": ["backend"]},
      {"node": "troupe://shop@127.0.0.1:2552", "nodeUid": "25520", "status": "Up", "roles": ["backend", "frontend"]},
      {"node": "troupe://shop@127.0.0.1:2553", "nodeUid": "25530", "status": "Joining", "roles": []}
    ],
    "unreachable": [
      {"node": "troupe://shop@127.0.0.1:2553",
       "observedBy": ["troupe://shop@127.0.0.1:2551", "troupe://shop@127.0.0.1:2552"]}
    ]
  })");
  CHECK(body_of(r) == expected);
  CHECK(route("GET", "/cluster/members/").status == 200);
  CHECK(route("GET", "/cluster/members?pretty=1").status == 200);
}

TEST_CASE("management: without a leader or an Up member, leader and oldest are absent", "[unit][management]") {
  router route;
  route.snapshot.state.members = {member_at(2552, member_status::joining, {}, model::member::no_up_number)};
  route.snapshot.state.leader.reset();
  const json b = body_of(route("GET", "/cluster/members"));
  CHECK_FALSE(b.contains("leader"));
  CHECK_FALSE(b.contains("oldest"));
  CHECK(b.at("oldestPerRole") == json::object());
  CHECK(b.at("members").size() == 1);
}

TEST_CASE("management: GET /cluster/members/{address} in every accepted spelling", "[unit][management]") {
  router route;
  const json expected = json::parse(
      R"({"node": "troupe://shop@127.0.0.1:2553", "nodeUid": "25530", "status": "Joining", "roles": []})");
  for (const char* target : {"/cluster/members/troupe%3A%2F%2Fshop%40127.0.0.1%3A2553",
                             "/cluster/members/troupe%3a%2f%2fshop%40127.0.0.1%3a2553",
                             "/cluster/members/troupe://shop@127.0.0.1:2553",
                             "/cluster/members/troupe://shop@127.0.0.1:2553/",
                             "/cluster/members/shop@127.0.0.1:2553",
                             "/cluster/members/shop%40127.0.0.1%3A2553"}) {
    INFO(target);
    auto r = route("GET", target);
    CHECK(r.status == 200);
    CHECK(body_of(r) == expected);
  }
}

TEST_CASE("management: an unknown member is 404, a malformed address 400", "[unit][management]") {
  router route;
  auto missing = route("GET", "/cluster/members/troupe://shop@127.0.0.1:2559");
  CHECK(missing.status == 404);
  CHECK(message_of(missing) == "Member [troupe://shop@127.0.0.1:2559] not found");
  CHECK(route("GET", "/cluster/members/troupe://other@127.0.0.1:2551").status == 404);

  for (const char* target : {"/cluster/members/nonsense", "/cluster/members/troupe://shop@127.0.0.1",
                             "/cluster/members/troupe://shop@127.0.0.1:99999",
                             "/cluster/members/http://shop@127.0.0.1:2551",
                             "/cluster/members/troupe://shop@127.0.0.1:2551/user/a",
                             "/cluster/members/troupe%3A%2F%2Fshop%4", "/cluster/members/%zz"}) {
    INFO(target);
    auto r = route("GET", target);
    CHECK(r.status == 400);
    CHECK_FALSE(message_of(r).empty());
  }
  CHECK_THAT(message_of(route("GET", "/cluster/members/%zz")), Catch::Contains("percent-encoding"));
  CHECK_THAT(message_of(route("GET", "/cluster/members/nonsense")), Catch::Contains("Malformed address [nonsense]"));
}

TEST_CASE("management: PUT operation=leave|down asks the cluster, from the form, query or JSON",
          "[unit][management]") {
  router route;
  const std::string target = "/cluster/members/troupe%3A%2F%2Fshop%40127.0.0.1%3A2553";
  const model::address where = node(2553, 0).address;

  auto leave = route("PUT", target, "operation=leave", "application/x-www-form-urlencoded");
  CHECK(leave.status == 200);
  CHECK(message_of(leave) == "Leaving troupe://shop@127.0.0.1:2553");
  CHECK(leave.change.op == management_change::operation::leave);
  CHECK(leave.change.node == where);

  auto down = route("PUT", target, "operation=Down");
  CHECK(down.status == 200);
  CHECK(message_of(down) == "Downing troupe://shop@127.0.0.1:2553");
  CHECK(down.change.op == management_change::operation::down);
  CHECK(down.change.node == where);

  CHECK(route("PUT", target + "?operation=DOWN").change.op == management_change::operation::down);
  CHECK(route("PUT", target, "x=1&operation=leave&operation=down").change.op == management_change::operation::leave);
  CHECK(route("PUT", target + "?operation=down", "operation=leave").change.op == management_change::operation::leave);
  CHECK(route("PUT", target, R"({"operation": "down"})", "application/json; charset=utf-8").change.op ==
        management_change::operation::down);

  auto del = route("DELETE", target);
  CHECK(del.status == 200);
  CHECK(message_of(del) == "Leaving troupe://shop@127.0.0.1:2553");
  CHECK(del.change.op == management_change::operation::leave);
}

TEST_CASE("management: a PUT without a known operation is 400 and changes nothing", "[unit][management]") {
  router route;
  const std::string target = "/cluster/members/shop@127.0.0.1:2551";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"", "", "Missing form field [operation]"},
      {"operation=explode", "", "Operation not supported [explode]"},
      {"operation=", "", "Operation not supported []"},
      {"operation=%zz", "", "Malformed form body"},
      {"{\"operation\": 3}", "application/json", "operation: expected a string"},
      {"[1, 2]", "application/json", "Malformed JSON body"},
      {"{\"operation\": ", "application/json", "Malformed JSON body"},
      {std::string(1000, '[') + std::string(1000, ']'), "application/json", "Malformed JSON body"},
  };
  for (const auto& [body, type, reason] : cases) {
    INFO(body);
    auto r = route("PUT", target, body, type);
    CHECK(r.status == 400);
    CHECK_THAT(message_of(r), Catch::Contains(reason));
    CHECK(r.change.op == management_change::operation::none);
  }
  CHECK(route("PUT", target + "?operation=%").status == 400);
  // An unknown member is 404 only once the request itself is well formed.
  CHECK(route("PUT", "/cluster/members/shop@127.0.0.1:2559", "operation=leave").status == 404);
  CHECK(route("PUT", "/cluster/members/shop@127.0.0.1:2559", "operation=fly").status == 400);
}

namespace {

management_request with_authorization(std::string method, std::string target,
                                      std::optional<std::string> authorization = {}) {
  management_request r{std::move(method), std::move(target), {}, {}};
  r.authorization = std::move(authorization);
  return r;
}

constexpr const char* token = "s3cret-token_0123456789.abc~+/==";

}  // namespace

TEST_CASE("management access: without a token, everything reads and changes only if allowed", "[unit][management]") {
  for (const bool allowed : {false, true}) {
    INFO("allow_unauthenticated_changes " << allowed);
    const management_access_policy policy{{}, false, allowed};
    for (const char* method : {"GET", "PUT", "DELETE", "POST"}) {
      INFO(method);
      auto a = authorize_management_request(with_authorization(method, "/cluster/members/x"), policy);
      CHECK_FALSE(a.refused);
      CHECK(a.may_change == allowed);
    }
    // A token sent to a server that has none is ignored, not a key to changes.
    auto a = authorize_management_request(with_authorization("PUT", "/cluster/members/x", "Bearer whatever"), policy);
    CHECK_FALSE(a.refused);
    CHECK(a.may_change == allowed);
  }
  // The health checks never change anything.
  CHECK_FALSE(authorize_management_request(with_authorization("GET", "/alive"), {{}, false, true}).may_change);
}

TEST_CASE("management access: with a token, changes need it and a wrong one is 401 everywhere but the probes",
          "[unit][management]") {
  const management_access_policy policy{token, false, false};
  auto check_challenge = [](const troupe::cluster::management_authorization& a, const char* error) {
    REQUIRE(a.refused);
    CHECK(a.refused->status == 401);
    CHECK_FALSE(a.may_change);
    CHECK(a.refused->change.op == management_change::operation::none);
    CHECK_THAT(a.refused->www_authenticate, Catch::StartsWith("Bearer realm=\"troupe-management\""));
    if (error) {
      CHECK_THAT(a.refused->www_authenticate, Catch::EndsWith(std::string(", error=\"") + error + "\""));
    } else {
      CHECK_THAT(a.refused->www_authenticate, !Catch::Contains("error="));
    }
    CHECK_FALSE(body_of(*a.refused).at("message").get<std::string>().empty());
  };
  // No credentials: reads pass read-only, changes get the challenge.
  auto read = authorize_management_request(with_authorization("GET", "/cluster/members"), policy);
  CHECK_FALSE(read.refused);
  CHECK_FALSE(read.may_change);
  for (const char* method : {"PUT", "DELETE", "POST", "PATCH"}) {
    INFO(method);
    check_challenge(authorize_management_request(with_authorization(method, "/cluster/members/x"), policy), nullptr);
  }
  // The right token, the scheme in any case: changes allowed.
  for (const std::string scheme : {"Bearer ", "bearer ", "BEARER "}) {
    INFO(scheme);
    auto a = authorize_management_request(with_authorization("PUT", "/cluster/members/x", scheme + token), policy);
    CHECK_FALSE(a.refused);
    CHECK(a.may_change);
  }
  // Anything else is refused, reads included: a client that believes it is authenticated
  // learns at once that it is not.
  const std::string t = token;
  for (const std::string& bad : std::vector<std::string>{"Bearer " + t.substr(0, t.size() - 1), "Bearer " + t + "x",
                                                         "Bearer  " + t, "Bearer " + t + " ", "Basic " + t, t, "Bearer",
                                                         "Bearer ", "Bearer " + t + ", " + t}) {
    INFO(bad);
    check_challenge(authorize_management_request(with_authorization("PUT", "/cluster/members/x", bad), policy),
                    "invalid_token");
    check_challenge(authorize_management_request(with_authorization("GET", "/cluster/members", bad), policy),
                    "invalid_token");
  }
  // Probes carry no token, and a wrong one does not lock them out either.
  for (const char* path : {"/alive", "/ready", "/alive/", "/ready?x=1"}) {
    INFO(path);
    CHECK_FALSE(authorize_management_request(with_authorization("GET", path), policy).refused);
    CHECK_FALSE(authorize_management_request(with_authorization("GET", path, "Bearer nope"), policy).refused);
  }
}

TEST_CASE("management access: token-for-reads makes every read but the probes need the token", "[unit][management]") {
  const management_access_policy policy{token, true, false};
  for (const char* path : {"/cluster/members", "/cluster/members/x", "/cluster/shards/cart", "/nowhere"}) {
    INFO(path);
    auto a = authorize_management_request(with_authorization("GET", path), policy);
    REQUIRE(a.refused);
    CHECK(a.refused->status == 401);
    auto ok = authorize_management_request(with_authorization("GET", path, std::string("Bearer ") + token), policy);
    CHECK_FALSE(ok.refused);
  }
  CHECK_FALSE(authorize_management_request(with_authorization("GET", "/alive"), policy).refused);
  CHECK_FALSE(authorize_management_request(with_authorization("GET", "/ready"), policy).refused);
}

TEST_CASE("management access: the token is read from a file or the environment, and a bad one is a clear error",
          "[unit][management]") {
  troupe::test_support::temp_dir dir{"troupe-mgmt-token"};
  auto write = [&](const std::string& name, const std::string& text) {
    const auto path = dir.path() / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  };
  auto no_env = [](const char*) -> const char* { return nullptr; };
  management_settings s;
  // None configured: no token, no error.
  auto none = load_management_token(s, no_env);
  REQUIRE(none);
  CHECK(none->empty());
  // A file, with the newline an editor or `echo` leaves.
  s.token_file = write("token", std::string("  ") + token + "\n");
  auto from_file = load_management_token(s, no_env);
  REQUIRE(from_file);
  CHECK(*from_file == token);
  // The environment.
  s.token_file.clear();
  s.token_env = "TROUPE_TEST_TOKEN";
  auto from_env = load_management_token(s, [](const char* name) -> const char* {
    return std::string(name) == "TROUPE_TEST_TOKEN" ? token : nullptr;
  });
  REQUIRE(from_env);
  CHECK(*from_env == token);
  // Errors name the key.
  auto unset = load_management_token(s, no_env);
  REQUIRE_FALSE(unset);
  CHECK_THAT(unset.error(), Catch::StartsWith("management.token-env TROUPE_TEST_TOKEN") && Catch::Contains("not set"));
  s.token_env.clear();
  s.token_file = (dir.path() / "missing").string();
  auto missing = load_management_token(s, no_env);
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error(), Catch::StartsWith("management.token-file \"") && Catch::Contains("cannot read it"));
  s.token_file = write("short", "abc\n");
  auto too_short = load_management_token(s, no_env);
  REQUIRE_FALSE(too_short);
  CHECK_THAT(too_short.error(), Catch::Contains("expected a token of 16 to 1024 characters, got 3"));
  s.token_file = write("long", std::string(2000, 'a'));
  CHECK_FALSE(load_management_token(s, no_env));
  for (const std::string bad : {"0123456789abcdef ghij", "0123456789abcdef\"", "=0123456789abcdefghij",
                                "0123456789abcdef=g", "0123456789abcdef\x01"}) {
    INFO(bad);
    s.token_file = write("bad", bad);
    auto r = load_management_token(s, no_env);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error(), Catch::Contains("expected a token of letters, digits"));
  }
  s.token_file = write("both", token);
  s.token_env = "X";
  CHECK_FALSE(load_management_token(s, no_env));
}

TEST_CASE("management: with changes not allowed, PUT and DELETE are 403, GET still works", "[unit][management]") {
  router route;
  route.allow_changes = false;
  const std::string target = "/cluster/members/shop@127.0.0.1:2551";
  for (const char* method : {"PUT", "DELETE"}) {
    INFO(method);
    auto r = route(method, target, "operation=down");
    CHECK(r.status == 403);
    CHECK_THAT(message_of(r), Catch::StartsWith(std::string(method) + " refused") &&
                                  Catch::Contains("management.allow-unauthenticated-changes is false (the default)"));
    CHECK(r.change.op == management_change::operation::none);
  }
  CHECK(route.snapshots_taken == 0);
  CHECK(route("GET", target).status == 200);
  CHECK(route("GET", "/cluster/members").status == 200);
}

TEST_CASE("management: unknown paths are 404, other methods 405 with Allow, odd targets 400",
          "[unit][management]") {
  router route;
  for (const char* path : {"/x", "/cluster", "/cluster/membersx", "/alive/x", "/cluster/shards/a", "/READY"}) {
    INFO(path);
    auto r = route("GET", path);
    CHECK(r.status == 404);
    CHECK_THAT(message_of(r), Catch::StartsWith("Unknown path"));
  }
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"POST", "/alive", "GET"},
      {"PUT", "/ready", "GET"},
      {"POST", "/cluster/members", "GET"},
      {"DELETE", "/cluster/members", "GET"},
      {"POST", "/cluster/members/shop@127.0.0.1:2551", "GET, PUT, DELETE"},
      {"get", "/cluster/members/shop@127.0.0.1:2551", "GET, PUT, DELETE"},
      {"PATCH", "/cluster/members/shop@127.0.0.1:2551", "GET, PUT, DELETE"},
  };
  for (const auto& [method, target, allow] : cases) {
    INFO(method << " " << target);
    auto r = route(method, target);
    CHECK(r.status == 405);
    CHECK(r.allow == allow);
    CHECK_THAT(message_of(r), Catch::Contains(method));
  }
  for (const char* target : {"", "*", "cluster/members", "http://localhost/alive"}) {
    INFO(target);
    CHECK(route("GET", target).status == 400);
  }
}

TEST_CASE("management: invalid UTF-8 in a request is echoed without throwing", "[unit][management]") {
  router route;
  auto r = route("GET", "/cluster/members/%FF%FE@127.0.0.1:1");
  CHECK(r.status == 404);
  CHECK_NOTHROW(json::parse(r.body));
  CHECK(route("PUT", "/cluster/members/shop@127.0.0.1:2551", "operation=%C0").status == 400);
}

TEST_CASE("management: random requests always get a JSON answer (or the dashboard) and change nothing unasked",
          "[unit][management]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  const std::string alphabet = "/%?&=+@:.#aAzZ09 cluster/members/troupe://shop@127.0.0.1:2551operation=leavedown{}\"\xff";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 60);
  const std::array<const char*, 5> methods{"GET", "PUT", "DELETE", "POST", "X"};
  router route;
  for (int i = 0; i < 3000; ++i) {
    std::string target = i % 2 == 0 ? "/cluster/members/" : "/";
    std::string body;
    for (int n = length(rng); n > 0; --n) target += alphabet[pick(rng)];
    for (int n = length(rng); n > 0; --n) body += alphabet[pick(rng)];
    const char* method = methods[static_cast<std::size_t>(i) % methods.size()];
    INFO(method << " " << target << " body " << body);
    management_response r;
    REQUIRE_NOTHROW(r = route(method, target, body, i % 3 == 0 ? "application/json" : ""));
    if (r.content_type == "application/json") {
      REQUIRE_NOTHROW(json::parse(r.body));
    } else {
      REQUIRE(r.body == troupe::cluster::management_dashboard_page().body);  // GET / and /dashboard
    }
    const bool changes = r.change.op != management_change::operation::none;
    REQUIRE(changes == (r.status == 200 && (std::string(method) == "PUT" || std::string(method) == "DELETE")));
    REQUIRE(r.status != 500);
  }
}

// ---- the Host and Origin check, against DNS rebinding ---------------------------------

namespace {

management_host host(std::string name, std::optional<std::uint16_t> port, bool ip) {
  return management_host{std::move(name), port, ip};
}

/// The names of a server told to bind `bind`, which bound `bound`, on 8558.
management_host_names names_of(const std::string& bind, const std::string& bound,
                               std::vector<std::string> allowed_hosts = {}) {
  management_settings s;
  s.host = bind;
  s.allowed_hosts = std::move(allowed_hosts);
  return management_host_names::of_server(s, bound, 8558);
}

/// True if `names` accepts the Host header `text` (which must parse).
bool accepts(const management_host_names& names, const std::string& text) {
  const auto h = parse_management_host(text);
  if (!h) FAIL("does not parse: " << text);
  return names.allows(*h, 80);
}

/// A GET of /cluster/members with these headers (nullopt: absent).
management_request get_with(std::optional<std::string> host_header, std::optional<std::string> origin = {},
                            std::string method = "GET", unsigned version = 11) {
  management_request r{std::move(method), "/cluster/members", {}, {}};
  r.version = version;
  r.host = std::move(host_header);
  r.origin = std::move(origin);
  return r;
}

}  // namespace

TEST_CASE("management: parse_management_host reads host, host:port and [ipv6]:port, nothing else",
          "[unit][management]") {
  CHECK(parse_management_host("localhost") == host("localhost", std::nullopt, false));
  CHECK(parse_management_host("LocalHost.:8558") == host("localhost", 8558, false));
  CHECK(parse_management_host("mgmt.example.com:443") == host("mgmt.example.com", 443, false));
  CHECK(parse_management_host("127.0.0.1:8558") == host("127.0.0.1", 8558, true));
  CHECK(parse_management_host("[::1]:8558") == host("::1", 8558, true));
  CHECK(parse_management_host("[0:0:0:0:0:0:0:1]") == host("::1", std::nullopt, true));
  CHECK(parse_management_host("[FD00::A]:1") == host("fd00::a", 1, true));
  CHECK(parse_management_host("host:65535") == host("host", 65535, false));
  for (const char* bad : {"", ":8558", "::1", "::1:8558", "[::1", "[::1]x", "[::1]:", "[]", "[127.0.0.1]",
                          "[fe80::1%eth0]:8558", "[fe80::1%25eth0]", "host:", "host:0", "host:65536",
                          "host:123456", "host:-1", "host:+80", "host:80:80", "host: 80", "a b", "user@host",
                          "http://host", "host/path", ".", "*", "h\xffst", "localhost, evil.example"}) {
    INFO(bad);
    CHECK_FALSE(parse_management_host(bad));
  }
}

TEST_CASE("management: a server's names are its bind address on its port, localhost when loopback, any IP "
          "when wildcard",
          "[unit][management]") {
  SECTION("loopback, by address or by name") {
    for (const auto& names : {names_of("127.0.0.1", "127.0.0.1"), names_of("localhost", "127.0.0.1"),
                              names_of("::1", "::1")}) {
      for (const char* ok : {"127.0.0.1:8558", "localhost:8558", "LOCALHOST:8558", "localhost.:8558", "[::1]:8558"}) {
        INFO(ok);
        CHECK(accepts(names, ok));
      }
      for (const char* refused : {"localhost:8559", "localhost", "127.0.0.1", "evil.example:8558",
                                  "10.0.0.1:8558", "127.0.0.2:8558", "localhost.evil.example:8558"}) {
        INFO(refused);
        CHECK_FALSE(accepts(names, refused));
      }
    }
  }
  SECTION("one interface: only its address") {
    const auto names = names_of("10.1.2.3", "10.1.2.3");
    CHECK(accepts(names, "10.1.2.3:8558"));
    CHECK_FALSE(accepts(names, "localhost:8558"));
    CHECK_FALSE(accepts(names, "10.1.2.4:8558"));
    CHECK_FALSE(accepts(names, "10.1.2.3:80"));
    const auto named = names_of("Node-1.Example.com", "10.1.2.3");
    CHECK(accepts(named, "node-1.example.com:8558"));
    CHECK(accepts(named, "10.1.2.3:8558"));
  }
  SECTION("wildcard: any IP address on the port, and localhost, but no other name") {
    for (const auto& names : {names_of("0.0.0.0", "0.0.0.0"), names_of("::", "::")}) {
      for (const char* ok : {"10.9.8.7:8558", "[fd00::1]:8558", "127.0.0.1:8558", "localhost:8558"}) {
        INFO(ok);
        CHECK(accepts(names, ok));
      }
      for (const char* refused : {"10.9.8.7:8559", "10.9.8.7", "mgmt.example.com:8558", "evil.example:8558"}) {
        INFO(refused);
        CHECK_FALSE(accepts(names, refused));
      }
    }
  }
  SECTION("allowed-hosts: a name without a port on any port, with a port on that one only") {
    const auto names = names_of("127.0.0.1", "127.0.0.1", {"Mgmt.Example.com", "proxy.internal:443", "[fd00::1]:9000"});
    CHECK(accepts(names, "mgmt.example.com"));
    CHECK(accepts(names, "mgmt.example.com:1234"));
    CHECK(accepts(names, "proxy.internal:443"));
    CHECK_FALSE(accepts(names, "proxy.internal:8558"));
    CHECK(accepts(names, "[fd00::1]:9000"));
    CHECK_FALSE(accepts(names, "[fd00::1]:8558"));
    CHECK(accepts(names, "localhost:8558"));  // the bound names stay
  }
}

TEST_CASE("management: a Host that is not the server's is 421, a missing one on HTTP/1.1 or a malformed one 400",
          "[unit][management]") {
  const auto names = names_of("127.0.0.1", "127.0.0.1");
  CHECK_FALSE(check_management_request_host(get_with("127.0.0.1:8558"), names));
  CHECK_FALSE(check_management_request_host(get_with("localhost:8558", {}, "PUT"), names));

  auto rebound = check_management_request_host(get_with("evil.example:8558", {}, "PUT"), names);
  REQUIRE(rebound);
  CHECK(rebound->status == 421);
  CHECK(rebound->change.op == management_change::operation::none);
  CHECK_THAT(message_of(*rebound), Catch::StartsWith("Host [evil.example:8558] is not a name of this server") &&
                                       Catch::Contains("DNS rebinding") && Catch::Contains("management.allowed-hosts"));
  CHECK(check_management_request_host(get_with("evil.example:8558", {}, "GET", 10), names)->status == 421);

  auto missing = check_management_request_host(get_with(std::nullopt), names);
  REQUIRE(missing);
  CHECK(missing->status == 400);
  CHECK_THAT(message_of(*missing), Catch::StartsWith("Missing Host header"));
  // HTTP/1.0 did not require Host, and no browser sends a request without one.
  CHECK_FALSE(check_management_request_host(get_with(std::nullopt, {}, "GET", 10), names));

  for (const char* bad : {"", "a b", "127.0.0.1:8558, evil.example:8558", "127.0.0.1:http"}) {
    INFO(bad);
    auto r = check_management_request_host(get_with(bad), names);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK_THAT(message_of(*r), Catch::StartsWith("Malformed Host header"));
  }
}

TEST_CASE("management: an Origin that is not the server's is 403 for reads and changes alike", "[unit][management]") {
  const auto names = names_of("127.0.0.1", "127.0.0.1", {"mgmt.example.com"});
  for (const char* same : {"http://127.0.0.1:8558", "http://localhost:8558", "HTTP://LocalHost:8558",
                           "http://[::1]:8558", "https://mgmt.example.com", "http://mgmt.example.com:8080"}) {
    INFO(same);
    CHECK_FALSE(check_management_request_host(get_with("127.0.0.1:8558", same, "PUT"), names));
  }
  for (const char* other : {"http://evil.example:8558", "http://evil.example", "null", "http://localhost",
                            "http://localhost:8559", "file://", "ws://localhost:8558",
                            "http://127.0.0.1:8558/", "http://user@127.0.0.1:8558", "127.0.0.1:8558", ""}) {
    for (const char* method : {"GET", "PUT", "DELETE"}) {
      INFO(other << " " << method);
      auto r = check_management_request_host(get_with("127.0.0.1:8558", other, method), names);
      REQUIRE(r);
      CHECK(r->status == 403);
      CHECK_THAT(message_of(*r), Catch::StartsWith("Origin [") && Catch::Contains("other sites"));
    }
  }
}

TEST_CASE("management: random Host and Origin headers always get nothing or a JSON refusal", "[unit][management]") {
  const auto seed = std::random_device{}();
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  const std::string alphabet = "[]:.%@/ 0123456789abcdefABCDEF:localhost127.0.0.1http://https://null,\xff";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> length(0, 40);
  const auto names = names_of("0.0.0.0", "0.0.0.0", {"mgmt.example.com"});
  for (int i = 0; i < 3000; ++i) {
    std::string h, o;
    for (int n = length(rng); n > 0; --n) h += alphabet[pick(rng)];
    for (int n = length(rng); n > 0; --n) o += alphabet[pick(rng)];
    const std::optional<std::string> no_header;
    auto request = get_with(i % 5 == 0 ? no_header : h, i % 2 == 0 ? no_header : o, "PUT", 10 + i % 2);
    INFO("host " << h << " origin " << o);
    std::optional<management_response> r;
    REQUIRE_NOTHROW(r = check_management_request_host(request, names));
    if (!r) continue;
    REQUIRE((r->status == 400 || r->status == 403 || r->status == 421));
    REQUIRE_NOTHROW(json::parse(r->body));
    REQUIRE(r->change.op == management_change::operation::none);
  }
}

// ---- the server, in front of a real one-node cluster ---------------------------------

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct http_reply {
  unsigned status = 0;
  std::string body;
  std::string allow;
  std::string content_type;
  std::string www_authenticate;
  json parsed() const { return json::parse(body); }
};

/// Header fields to send, by name; a Host given here replaces the default one.
using header_list = std::vector<std::pair<std::string, std::string>>;

tcp::socket connect_to(asio::io_context& io, std::uint16_t port) {
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

/// `Host: 127.0.0.1:<port>`, as curl sends it.
std::string host_field(std::uint16_t port) { return "Host: 127.0.0.1:" + std::to_string(port) + "\r\n"; }

/// Sends one request on `socket` (Host: 127.0.0.1:<port> unless `headers` say otherwise)
/// and reads the response.
http_reply exchange(tcp::socket& socket, const std::string& method, const std::string& target,
                    const std::string& body = {}, const std::string& content_type = {},
                    const header_list& headers = {}) {
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(socket.remote_endpoint().port()));
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!content_type.empty()) req.set(http::field::content_type, content_type);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return {res.result_int(), res.body(), std::string(res[http::field::allow]),
          std::string(res[http::field::content_type]), std::string(res[http::field::www_authenticate])};
}

/// One request on a fresh connection.
http_reply request(std::uint16_t port, const std::string& method, const std::string& target,
                   const std::string& body = {}, const std::string& content_type = {},
                   const header_list& headers = {}) {
  asio::io_context io;
  auto socket = connect_to(io, port);
  return exchange(socket, method, target, body, content_type, headers);
}

/// A GET of `target` on a fresh connection: its status if answered within `deadline`, else
/// 0 (refused, closed, or no answer in time). Never waits longer than `deadline`.
unsigned get_within(std::uint16_t port, const std::string& target, std::chrono::milliseconds deadline) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  unsigned status = 0;
  stream.expires_after(deadline);  // for the connect, the write and the read together
  stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), [&](beast::error_code ec) {
    if (ec) return;
    http::async_write(stream, req, [&](beast::error_code write_ec, std::size_t) {
      if (write_ec) return;
      http::async_read(stream, buffer, res, [&](beast::error_code read_ec, std::size_t) {
        if (!read_ec) status = res.result_int();
      });
    });
  });
  io.run();
  return status;
}

/// True if the server closes `socket` (end of stream or reset) before `deadline`; the
/// socket must have nothing else to read.
bool closed_by_server(tcp::socket& socket, std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  pollfd readable{socket.native_handle(), POLLIN, 0};
  if (::poll(&readable, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) <= 0) return false;
  std::array<char, 64> chunk{};
  boost::system::error_code ec;
  socket.read_some(asio::buffer(chunk), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

/// Writes `bytes` as they are and returns all the server sends until it closes.
std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  asio::io_context io;
  auto socket = connect_to(io, port);
  asio::write(socket, asio::buffer(bytes));
  std::string out;
  std::array<char, 4096> chunk{};
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
    out.append(chunk.data(), n);
    if (ec) break;
  }
  return out;
}

/// The status code of a raw HTTP/1.1 answer ("HTTP/1.1 400 Bad Request..."), or 0.
unsigned status_of(const std::string& raw) {
  if (raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0) return 0;
  return static_cast<unsigned>(std::stoul(raw.substr(9, 3)));
}

/// Management on 127.0.0.1, any free port; read-only unless `allow_changes` (without a token).
management_settings any_port(bool allow_changes = false) {
  management_settings s;
  s.enabled = true;
  s.host = "127.0.0.1";
  s.port = 0;
  s.allow_unauthenticated_changes = allow_changes;
  return s;
}

/// A one-node cluster, started on a free port, not yet joined.
struct cluster_node {
  troupe::actor_system system{"mgmt"};
  troupe::cluster::cluster& cluster = troupe::cluster::cluster::get(system);

  explicit cluster_node(management_settings management = {}) {
    troupe::cluster::cluster_settings s;
    s.management = std::move(management);
    s.system = "mgmt";
    s.remote.host = "127.0.0.1";
    s.remote.port = 0;
    s.gossip_interval = 100ms;
    s.leader_actions_interval = 100ms;
    s.unreachable_nodes_reaper_interval = 100ms;
    s.heartbeat_interval = 100ms;
    s.remote.cookie = "management-test-cookie-0123456789abcdef";
    auto started = cluster.start(s);
    if (!started) FAIL("cluster::start: " << started.error());
  }
  ~cluster_node() {
    system.terminate();
    system.await_termination(10s);
  }
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  member_status self_status() const { return cluster.self_member().status(); }

  /// Joins itself and waits until it is up.
  void join_and_await_up() {
    cluster.join(cluster.self_address());
    await_condition(system, [this] { return self_status() == member_status::up; }, 10s, "self up");
  }

  std::string self_uri() const { return model::to_string(cluster.self_address()); }
  /// `self_uri()` percent-encoded, as curl --data-urlencode would.
  std::string self_encoded() const {
    std::string out;
    for (const char c : self_uri()) {
      if (c == ':' || c == '/' || c == '@') {
        static const char* hex = "0123456789ABCDEF";
        out += '%';
        out += hex[static_cast<unsigned char>(c) >> 4];
        out += hex[static_cast<unsigned char>(c) & 15];
      } else {
        out += c;
      }
    }
    return out;
  }
};


}  // namespace

TEST_CASE("management server: /ready is 503 before joining and 200 once up, members as JSON",
          "[integration][management]") {
  cluster_node n;
  management_server server(n.cluster);
  auto port = server.start(any_port());
  REQUIRE(port);
  CHECK(*port != 0);
  CHECK(server.port() == *port);
  CHECK(server.is_running());

  auto alive = request(*port, "GET", "/alive");
  CHECK(alive.status == 200);
  CHECK(alive.content_type == "application/json");
  CHECK(alive.parsed() == json{{"alive", true}});

  auto before = request(*port, "GET", "/ready");
  CHECK(before.status == 503);
  CHECK(before.parsed().at("ready") == false);

  n.join_and_await_up();
  auto ready = request(*port, "GET", "/ready");
  CHECK(ready.status == 200);
  CHECK(ready.parsed().at("status") == "Up");
  CHECK(ready.parsed().at("selfNode") == n.self_uri());

  auto members = request(*port, "GET", "/cluster/members");
  REQUIRE(members.status == 200);
  const json m = members.parsed();
  CHECK(m.at("selfNode") == n.self_uri());
  CHECK(m.at("leader") == n.self_uri());
  CHECK(m.at("oldest") == n.self_uri());
  CHECK(m.at("unreachable") == json::array());
  REQUIRE(m.at("members").size() == 1);
  const json& self = m.at("members")[0];
  CHECK(self.at("node") == n.self_uri());
  CHECK(self.at("nodeUid") == std::to_string(n.cluster.self_unique_address().uid));
  CHECK(self.at("status") == "Up");
  CHECK(self.at("roles") == json::array());

  for (const std::string& spelling : {n.self_encoded(), n.self_uri(), n.self_uri().substr(9)}) {
    INFO(spelling);
    auto one = request(*port, "GET", "/cluster/members/" + spelling);
    CHECK(one.status == 200);
    CHECK(one.parsed() == self);
  }
  auto missing = request(*port, "GET", "/cluster/members/mgmt@127.0.0.1:1");
  CHECK(missing.status == 404);
  CHECK(missing.parsed().at("message") == "Member [mgmt@127.0.0.1:1] not found");
}

TEST_CASE("management server: bad requests get 400, 404, 405 or 413 with a reason, and it keeps serving",
          "[integration][management]") {
  cluster_node n;
  n.join_and_await_up();
  management_server server(n.cluster);
  auto port = server.start(any_port(true));
  REQUIRE(port);
  const std::string self = "/cluster/members/" + n.self_encoded();

  auto bad_op = request(*port, "PUT", self, "operation=explode", "application/x-www-form-urlencoded");
  CHECK(bad_op.status == 400);
  CHECK_THAT(bad_op.parsed().at("message").get<std::string>(), Catch::Contains("Operation not supported"));
  auto unknown = request(*port, "PUT", "/cluster/members/mgmt@127.0.0.1:1", "operation=down",
                         "application/x-www-form-urlencoded");
  CHECK(unknown.status == 404);
  CHECK(request(*port, "GET", "/nowhere").status == 404);
  auto wrong_method = request(*port, "POST", "/alive");
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.allow == "GET");

  SECTION("garbage instead of HTTP") {
    const std::string raw = raw_exchange(*port, "HELLO THERE\r\n\r\n");
    CHECK(status_of(raw) == 400);
    CHECK_THAT(raw, Catch::Contains("Malformed request"));
    CHECK(status_of(raw_exchange(*port, std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11))) == 400);
    CHECK(status_of(raw_exchange(*port, "GET /alive HTTP/1.1\r\nContent-Length: x\r\n\r\n")) == 400);
  }
  SECTION("a body over 64 KiB") {
    const std::string body = "operation=leave&pad=" + std::string(70 * 1024, 'x');
    const std::string raw = raw_exchange(*port, "PUT " + self + " HTTP/1.1\r\n" + host_field(*port) +
                                                    "Content-Type: application/x-www-form-urlencoded\r\n"
                                                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                                                    body);
    CHECK(status_of(raw) == 413);
    CHECK(n.self_status() == member_status::up);
  }
  SECTION("a chunked body over 64 KiB") {
    std::string req = "PUT " + self + " HTTP/1.1\r\n" + host_field(*port) + "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i) req += "1000\r\n" + std::string(4096, 'x') + "\r\n";
    req += "0\r\n\r\n";
    CHECK(status_of(raw_exchange(*port, req)) == 413);
  }
  SECTION("a header over 8 KiB") {
    const std::string raw =
        raw_exchange(*port, "GET /alive HTTP/1.1\r\n" + host_field(*port) + "X-Pad: " + std::string(10000, 'x') +
                                "\r\n\r\n");
    CHECK(status_of(raw) == 431);
  }
  SECTION("a client that hangs up mid-request") {
    asio::io_context io;
    auto socket = connect_to(io, *port);
    asio::write(socket, asio::buffer(std::string("PUT /alive HTTP/1.1\r\nContent-Length: 100\r\n\r\nab")));
    socket.close();
  }
  // Whatever came before, the server still answers.
  CHECK(request(*port, "GET", "/alive").status == 200);
  CHECK(request(*port, "GET", "/ready").status == 200);
}

TEST_CASE("management server: keep-alive serves several requests on one connection", "[integration][management]") {
  cluster_node n;
  management_server server(n.cluster);
  auto port = server.start(any_port());
  REQUIRE(port);
  asio::io_context io;
  auto socket = connect_to(io, *port);
  CHECK(exchange(socket, "GET", "/alive").status == 200);
  CHECK(exchange(socket, "GET", "/ready").status == 503);
  CHECK(exchange(socket, "GET", "/nowhere").status == 404);
  CHECK(exchange(socket, "GET", "/alive").status == 200);
}

TEST_CASE("management server: a later layer adds its own GET route under a prefix", "[integration][management]") {
  cluster_node n;
  n.cluster.add_management_route("/cluster/extra/", [](const troupe::cluster::management_request& r) {
    return troupe::cluster::management_response{200, nlohmann::json{{"target", r.target}}.dump(), {}, {}};
  });
  management_server server(n.cluster);
  auto port = server.start(any_port());
  REQUIRE(port);
  const auto ok = request(*port, "GET", "/cluster/extra/thing?x=1");
  CHECK(ok.status == 200);
  CHECK(nlohmann::json::parse(ok.body).at("target") == "/cluster/extra/thing?x=1");
  CHECK(request(*port, "PUT", "/cluster/extra/thing").status == 405);
  CHECK(request(*port, "GET", "/cluster/members").status == 200);  // the built-in routes are untouched
}

TEST_CASE("management server: a silent client neither blocks others nor stays forever", "[integration][management]") {
  cluster_node n;
  management_server server(n.cluster);
  auto port = server.start(any_port());
  REQUIRE(port);
  asio::io_context io;
  auto silent = connect_to(io, *port);
  auto half = connect_to(io, *port);
  asio::write(half, asio::buffer("GET /alive HTTP/1.1\r\n" + host_field(*port)));
  CHECK(request(*port, "GET", "/alive").status == 200);

  // The server closes both within its read timeout (5 s) without answering.
  const auto began = std::chrono::steady_clock::now();
  for (auto* s : {&silent, &half}) {
    std::array<char, 64> chunk{};
    boost::system::error_code ec;
    const std::size_t n_read = s->read_some(asio::buffer(chunk), ec);
    CHECK(n_read == 0);
    CHECK(ec);
  }
  CHECK(std::chrono::steady_clock::now() - began < 8s);
}

TEST_CASE("management server: PUT leave of self makes this node leave", "[integration][management]") {
  cluster_node n;
  n.join_and_await_up();
  management_server server(n.cluster);
  auto port = server.start(any_port(true));
  REQUIRE(port);
  auto r = request(*port, "PUT", "/cluster/members/" + n.self_encoded(), "operation=leave",
                   "application/x-www-form-urlencoded");
  CHECK(r.status == 200);
  CHECK(r.parsed().at("message") == "Leaving " + n.self_uri());
  await_condition(n.system, [&] { return n.self_status() != member_status::up || n.cluster.is_terminated(); }, 10s,
                  "self no longer up after leave");
  await_condition(n.system, [&] { return request(*port, "GET", "/ready").status == 503; }, 10s, "not ready");
  CHECK(request(*port, "GET", "/alive").status == 200);
}

TEST_CASE("management server: PUT down of self downs this node", "[integration][management]") {
  cluster_node n;
  n.join_and_await_up();
  management_server server(n.cluster);
  auto port = server.start(any_port(true));
  REQUIRE(port);
  auto r = request(*port, "PUT", "/cluster/members/" + n.self_uri() + "?operation=down");
  CHECK(r.status == 200);
  CHECK(r.parsed().at("message") == "Downing " + n.self_uri());
  await_condition(n.system, [&] { return n.cluster.is_terminated(); }, 10s, "downed node terminated");
  CHECK(request(*port, "GET", "/ready").status == 503);
}

TEST_CASE("management server: read-only by default, PUT and DELETE get 403 naming the settings that allow them",
          "[integration][management]") {
  cluster_node n;
  n.join_and_await_up();
  management_server server(n.cluster);
  management_settings defaults;
  CHECK_FALSE(defaults.allow_unauthenticated_changes);
  defaults.port = 0;
  auto port = server.start(defaults);
  REQUIRE(port);
  const std::string self = "/cluster/members/" + n.self_encoded();
  auto put = request(*port, "PUT", self, "operation=down", "application/x-www-form-urlencoded");
  CHECK(put.status == 403);
  CHECK_THAT(put.parsed().at("message").get<std::string>(),
             Catch::Contains("management.allow-unauthenticated-changes is false") &&
                 Catch::Contains("management.token-file"));
  CHECK(request(*port, "PUT", self + "?operation=leave").status == 403);
  CHECK(request(*port, "DELETE", self).status == 403);
  CHECK(request(*port, "GET", self).status == 200);
  CHECK(n.self_status() == member_status::up);
  CHECK_FALSE(n.cluster.is_terminated());
}

TEST_CASE("management server: only requests whose Host and Origin name it are served, against DNS rebinding",
          "[integration][management]") {
  cluster_node n;
  n.join_and_await_up();
  n.cluster.add_management_route("/cluster/extra/", [](const troupe::cluster::management_request&) {
    return troupe::cluster::management_response{200, "{}", {}, {}};
  });
  management_server server(n.cluster);
  auto settings = any_port(true);
  settings.allowed_hosts = {"mgmt.example.com"};
  auto port = server.start(settings);
  REQUIRE(port);
  const std::string at = ":" + std::to_string(*port);
  const std::string self = "/cluster/members/" + n.self_encoded();

  // 1. A page whose own name now points at 127.0.0.1 sends that name: nothing is served.
  const header_list rebound{{"Host", "evil.example" + at}};
  auto down = request(*port, "PUT", self + "?operation=down", {}, {}, rebound);
  CHECK(down.status == 421);
  CHECK_THAT(down.parsed().at("message").get<std::string>(), Catch::Contains("management.allowed-hosts"));
  for (const char* target : {"/cluster/members", "/alive", "/ready", "/cluster/extra/x"}) {
    INFO(target);
    CHECK(request(*port, "GET", target, {}, {}, rebound).status == 421);
  }

  // 2. A page of another site: its Origin is refused, for reads and changes.
  CHECK(request(*port, "GET", "/cluster/members", {}, {}, {{"Origin", "http://evil.example"}}).status == 403);
  CHECK(request(*port, "PUT", self + "?operation=down", {}, {}, {{"Origin", "http://evil.example" + at}}).status ==
        403);
  CHECK(request(*port, "GET", "/cluster/extra/x", {}, {}, {{"Origin", "null"}}).status == 403);

  // 3. Without Host: refused on HTTP/1.1, which requires it; served on HTTP/1.0.
  const std::string missing = raw_exchange(*port, "GET /alive HTTP/1.1\r\n\r\n");
  CHECK(status_of(missing) == 400);
  CHECK_THAT(missing, Catch::Contains("Missing Host header"));
  CHECK(status_of(raw_exchange(*port, "GET /alive HTTP/1.0\r\n\r\n")) == 200);
  CHECK(status_of(raw_exchange(*port, "GET /alive HTTP/1.1\r\n" + host_field(*port) + "Host: evil.example" + at +
                                          "\r\n\r\n")) == 400);
  CHECK(n.self_status() == member_status::up);

  // 4. The server's own names, and a same-origin page of the operator's.
  for (const std::string& name : {"127.0.0.1" + at, "localhost" + at, "LocalHost" + at, "[::1]" + at,
                                  std::string("mgmt.example.com"), std::string("mgmt.example.com:8443")}) {
    INFO(name);
    CHECK(request(*port, "GET", "/cluster/members", {}, {}, {{"Host", name}}).status == 200);
  }
  CHECK(request(*port, "GET", "/cluster/extra/x", {}, {}, {{"Host", "localhost" + at}}).status == 200);
  auto leave = request(*port, "PUT", self + "?operation=leave", {}, {},
                       {{"Host", "localhost" + at}, {"Origin", "http://localhost" + at}});
  CHECK(leave.status == 200);
  await_condition(n.system, [&] { return n.self_status() != member_status::up || n.cluster.is_terminated(); }, 10s,
                  "self no longer up after leave");
}

TEST_CASE("management server: with the cap's worth of idle keep-alive connections open, /alive on a new one "
          "answers 200",
          "[integration][management]") {
  cluster_node n;
  management_server server(n.cluster);
  auto port = server.start(any_port());
  REQUIRE(port);
  asio::io_context io;
  std::vector<tcp::socket> idle;
  for (std::size_t i = 0; i < management_max_connections; ++i) {
    idle.push_back(connect_to(io, *port));
    REQUIRE(exchange(idle.back(), "GET", "/alive").status == 200);  // served, then kept alive
  }

  CHECK(get_within(*port, "/alive", 2s) == 200);
  CHECK(get_within(*port, "/ready", 2s) == 503);  // answered: not joined yet

  // Room was made by closing the connection idle the longest; the newest is still served.
  CHECK(closed_by_server(idle.front(), std::chrono::steady_clock::now() + 2s));
  CHECK(exchange(idle.back(), "GET", "/alive").status == 200);
}

TEST_CASE("management server: with the cap's worth of idle and of silent or half-sent connections open, /alive on "
          "a new one answers 200",
          "[integration][management]") {
  cluster_node n;
  management_server server(n.cluster);
  auto port = server.start(any_port());
  REQUIRE(port);
  asio::io_context io;
  std::vector<tcp::socket> idle;
  std::vector<tcp::socket> silent;
  for (std::size_t i = 0; i < management_max_connections; ++i) {
    idle.push_back(connect_to(io, *port));
    REQUIRE(exchange(idle.back(), "GET", "/alive").status == 200);
  }
  for (std::size_t i = 0; i < management_max_connections; ++i) {
    silent.push_back(connect_to(io, *port));
    if (i % 2 == 1) asio::write(silent.back(), asio::buffer(std::string("GET /ali")));  // half a request line
  }

  CHECK(get_within(*port, "/alive", 2s) == 200);

  // The server accepts in order, so every silent one was let in before the probe: to stay
  // at the cap it closed the oldest, every idle one among them.
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  std::size_t closed = 0;
  for (auto& s : idle) closed += closed_by_server(s, deadline) ? 1 : 0;
  CHECK(closed == management_max_connections);
}

TEST_CASE("management server: a port in use is a clear error, stop is idempotent, restart works",
          "[integration][management]") {
  cluster_node n;
  management_server first(n.cluster);
  auto port = first.start(any_port());
  REQUIRE(port);
  CHECK_FALSE(first.start(any_port()));  // already running

  management_server second(n.cluster);
  auto settings = any_port();
  settings.port = *port;
  auto clash = second.start(settings);
  REQUIRE_FALSE(clash);
  CHECK_THAT(clash.error(), Catch::Contains("127.0.0.1:" + std::to_string(*port)) &&
                                Catch::Contains("in use"));
  CHECK_FALSE(second.is_running());

  settings.host = "192.0.2.1";  // TEST-NET-1: no interface of this machine has it
  settings.port = 0;
  auto foreign = second.start(settings);
  REQUIRE_FALSE(foreign);
  CHECK_THAT(foreign.error(), Catch::StartsWith("management: cannot bind 192.0.2.1:0: "));

  first.stop();
  first.stop();
  CHECK_FALSE(first.is_running());
  CHECK(first.port() == 0);
  asio::io_context io;
  tcp::socket probe(io);
  boost::system::error_code ec;
  probe.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), *port), ec);
  CHECK(ec);

  auto again = first.start(any_port());
  REQUIRE(again);
  CHECK(request(*again, "GET", "/alive").status == 200);
}

TEST_CASE("management server: cluster::start serves the endpoints when management is enabled",
          "[integration][management]") {
  cluster_node n(any_port());
  const auto port = n.cluster.management_port();
  REQUIRE(port);
  CHECK(request(*port, "GET", "/alive").status == 200);
  n.join_and_await_up();
  CHECK(request(*port, "GET", "/ready").status == 200);
  CHECK(request(*port, "DELETE", "/cluster/members/" + n.self_encoded()).status == 403);  // read-only by default

  cluster_node off;
  CHECK_FALSE(off.cluster.management_port());
}

TEST_CASE("management server: with a token, changes need it, and token-for-reads guards the reads but not the probes",
          "[integration][management]") {
  troupe::test_support::temp_dir dir{"troupe-mgmt-token"};
  const auto token_path = dir.path() / "token";
  std::ofstream(token_path) << token << "\n";
  cluster_node n;
  n.join_and_await_up();
  management_server server(n.cluster);
  auto settings = any_port();
  settings.token_file = token_path.string();
  auto port = server.start(settings);
  REQUIRE(port);
  const std::string self = "/cluster/members/" + n.self_encoded();
  const header_list bearer{{"Authorization", std::string("Bearer ") + token}};

  auto without = request(*port, "PUT", self + "?operation=leave");
  CHECK(without.status == 401);
  CHECK(without.www_authenticate == "Bearer realm=\"troupe-management\"");
  auto wrong = request(*port, "PUT", self + "?operation=leave", {}, {}, {{"Authorization", "Bearer wrong"}});
  CHECK(wrong.status == 401);
  CHECK(wrong.www_authenticate == "Bearer realm=\"troupe-management\", error=\"invalid_token\"");
  CHECK(request(*port, "GET", self).status == 200);  // reads need no token by default
  CHECK(n.self_status() == member_status::up);

  // token-for-reads, on a second server of the same node.
  management_server guarded(n.cluster);
  settings.token_for_reads = true;
  auto guarded_port = guarded.start(settings);
  REQUIRE(guarded_port);
  CHECK(request(*guarded_port, "GET", "/cluster/members").status == 401);
  CHECK(request(*guarded_port, "GET", "/cluster/members", {}, {}, bearer).status == 200);
  CHECK(request(*guarded_port, "GET", "/alive").status == 200);
  CHECK(request(*guarded_port, "GET", "/ready").status == 200);

  // With the token the change is made.
  CHECK(request(*port, "PUT", self + "?operation=leave", {}, {}, bearer).status == 200);
  await_condition(n.system, [&] { return n.self_status() != member_status::up || n.cluster.is_terminated(); }, 10s,
                  "self no longer up after an authenticated leave");
}

TEST_CASE("management server: a token that cannot be read or a certificate that does not load is a start error",
          "[integration][management]") {
  cluster_node n;
  management_server server(n.cluster);
  auto settings = any_port();
  settings.token_file = "/nonexistent/troupe/token";
  auto no_token = server.start(settings);
  REQUIRE_FALSE(no_token);
  CHECK_THAT(no_token.error(), Catch::StartsWith("management.token-file \"/nonexistent/troupe/token\""));
  CHECK_FALSE(server.is_running());

  settings = any_port();
  settings.https = true;
  settings.certificate = "/nonexistent/troupe/cert.pem";
  settings.private_key = "/nonexistent/troupe/key.pem";
  auto no_cert = server.start(settings);
  REQUIRE_FALSE(no_cert);
  CHECK_THAT(no_cert.error(), Catch::StartsWith("management.certificate: cannot use \"/nonexistent/troupe/cert.pem\""));
  CHECK_FALSE(server.is_running());
}

namespace {

/// One HTTPS GET of `target` with `headers`, the server's certificate checked against
/// `ca_file` and named 127.0.0.1; the status, or 0 if the TLS handshake failed.
unsigned https_get(std::uint16_t port, const std::string& ca_file, const std::string& target,
                   const header_list& headers = {}) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  beast::ssl_stream<beast::tcp_stream> stream(io, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
  beast::get_lowest_layer(stream).expires_after(5s);
  beast::get_lowest_layer(stream).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  beast::error_code ec;
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) return 0;
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [name, value] : headers) req.set(name, value);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  stream.shutdown(ec);  // the server answers close_notify; its absence is not the test's concern
  return res.result_int();
}

}  // namespace

TEST_CASE("management server: https serves TLS only, with the token over it", "[integration][management]") {
  troupe::test_support::pki ca("troupe management test CA");
  const json tls = ca.node("management", "IP:127.0.0.1");
  troupe::test_support::temp_dir dir{"troupe-mgmt-https"};
  const auto token_path = dir.path() / "token";
  std::ofstream(token_path) << token;
  cluster_node n;
  n.join_and_await_up();
  management_server server(n.cluster);
  auto settings = any_port();
  settings.https = true;
  settings.certificate = tls.at("certificate").get<std::string>();
  settings.private_key = tls.at("private-key").get<std::string>();
  settings.token_file = token_path.string();
  settings.token_for_reads = true;
  auto port = server.start(settings);
  REQUIRE(port);
  const std::string ca_file = tls.at("ca").get<std::string>();

  CHECK(https_get(*port, ca_file, "/alive") == 200);
  CHECK(https_get(*port, ca_file, "/ready") == 200);
  CHECK(https_get(*port, ca_file, "/cluster/members") == 401);
  CHECK(https_get(*port, ca_file, "/cluster/members", {{"Authorization", std::string("Bearer ") + token}}) == 200);

  // Plain HTTP on the HTTPS port is not served: the TLS handshake fails and the connection
  // closes, without an answer in clear text.
  const std::string raw = raw_exchange(*port, "GET /alive HTTP/1.1\r\n" + host_field(*port) + "\r\n");
  CHECK(raw.find("alive") == std::string::npos);
  CHECK(status_of(raw) == 0);
  CHECK(https_get(*port, ca_file, "/alive") == 200);  // and it keeps serving
}

TEST_CASE("management server: GET /metrics serves the node's metrics in Prometheus's text format",
          "[integration][management][metrics]") {
  cluster_node n(any_port());
  n.join_and_await_up();
  const auto port = n.cluster.management_port();
  REQUIRE(port);
  auto r = request(*port, "GET", "/metrics");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& t = r.body;
  for (const char* family : {"troupe_actor_messages_processed_total", "troupe_actor_dead_letters_total",
                             "troupe_actor_restarts_total", "troupe_actor_stops_total",
                             "troupe_remote_messages_sent_total", "troupe_remote_bytes_received_total",
                             "troupe_remote_dropped_total", "troupe_remote_quarantines_total",
                             "troupe_remote_handshake_failures_total", "troupe_cluster_members",
                             "troupe_cluster_unreachable_members", "troupe_cluster_leader_changes_total",
                             "troupe_cluster_gossip_sent_total", "troupe_cluster_heartbeats_sent_total",
                             "troupe_cluster_converged", "troupe_actor_mailbox_depth_max"}) {
    INFO(family);
    CHECK_THAT(t, Catch::Contains(std::string("\n# TYPE ") + family + " "));
  }
  CHECK_THAT(t, Catch::Contains("\ntroupe_cluster_members{status=\"Up\"} 1\n"));
  CHECK_THAT(t, Catch::Contains("\ntroupe_cluster_unreachable_members 0\n"));
  CHECK_THAT(t, Catch::Contains("\ntroupe_cluster_is_leader 1\n"));
  CHECK_THAT(t, Catch::Contains("\ntroupe_cluster_leader_changes_total 1\n"));
  // Every sample line is `name{labels} value` or `name value` with a number.
  std::size_t samples = 0;
  std::size_t start = 0;
  while (start < t.size()) {
    const auto end = t.find('\n', start);
    REQUIRE(end != std::string::npos);  // the text ends with a newline
    const std::string line = t.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    INFO(line);
    REQUIRE(line.starts_with("troupe_"));
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    std::size_t used = 0;
    (void)std::stod(line.substr(space + 1), &used);
    CHECK(used == line.size() - space - 1);
    ++samples;
  }
  CHECK(samples > 20);
  // The cluster daemon's own messages (joining, gossip, ticks) were handled by then; a
  // worker adds a turn's messages to the count when the turn ends, and the turn that made
  // the node up may still be running (it was, once, under ASan), so wait for the count.
  const std::string processed = "\ntroupe_actor_messages_processed_total{system=\"mgmt\"} ";
  auto processed_count = [&](const std::string& text) {
    const auto at = text.find(processed);
    REQUIRE(at != std::string::npos);
    return std::stod(text.substr(at + processed.size()));
  };
  double count = processed_count(t);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    count = processed_count(request(*port, "GET", "/metrics").body);
  }
  CHECK(count > 0);

  CHECK(request(*port, "GET", "/metricsx").status == 404);
  CHECK(request(*port, "PUT", "/metrics").status == 405);
}

TEST_CASE("management server: /metrics has each peer's traffic and outbound queues", "[integration][management][metrics]") {
  cluster_node first(any_port());
  first.join_and_await_up();
  cluster_node second;
  second.cluster.join(first.cluster.self_address());
  await_condition(first.system, [&] { return second.self_status() == member_status::up; }, 10s, "second up");
  const auto port = first.cluster.management_port();
  REQUIRE(port);
  const std::string peer = "{peer=\"" + troupe::cluster::model::to_string(second.cluster.self_address()) + "\"";
  std::string t;
  // Gossip and heartbeats flow on the control lane both ways once the second is up.
  await_condition(first.system, [&] {
    t = request(*port, "GET", "/metrics").body;
    return t.find("\ntroupe_remote_peer_connected" + peer + "} 1\n") != std::string::npos &&
           t.find("\ntroupe_remote_peer_messages_sent_total" + peer + ",lane=\"control\"} 0\n") == std::string::npos;
  }, 10s, "the second node's figures");
  for (const char* family : {"troupe_remote_peer_messages_sent_total", "troupe_remote_peer_messages_received_total",
                             "troupe_remote_peer_bytes_sent_total", "troupe_remote_peer_bytes_received_total",
                             "troupe_remote_outbound_queue_messages", "troupe_remote_outbound_queue_bytes",
                             "troupe_remote_outbound_queue_dropped_total"}) {
    INFO(family);
    CHECK_THAT(t, Catch::Contains(std::string("\n") + family + peer));
  }
  CHECK_THAT(t, Catch::Contains("\ntroupe_remote_outbound_queue_dropped_total" + peer + ",lane=\"ordinary\"} 0\n"));
}
