// Remote settings and actor URIs: parsed and validated with errors naming the key.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <troupe/remote/settings.hpp>

using troupe::remote::remote_settings;

TEST_CASE("remote settings take defaults and overrides", "[unit][remote-settings]") {
  auto d = remote_settings::parse(std::string("{}"));
  REQUIRE(d);
  CHECK(d->max_frame_size == 256 * 1024);
  CHECK(d->outbound_queue_size == 3072);
  CHECK(d->max_pending_handshakes == 512);
  CHECK(d->max_pending_handshakes_per_host == 128);
  CHECK(d->cookie.empty());
  CHECK_FALSE(d->insecure);
  CHECK(remote_settings::parse(std::string(R"({"insecure": true})"))->insecure);
  auto s = remote_settings::parse(std::string(R"({"host": "127.0.0.2", "port": 0, "cookie": "x",
                                                   "watch-failure-threshold": 12.5,
                                                   "max-pending-handshakes": 64,
                                                   "max-pending-handshakes-per-host": 8})"));
  REQUIRE(s);
  CHECK(s->host == "127.0.0.2");
  CHECK(s->port == 0);
  CHECK(s->cookie == "x");
  CHECK(s->watch_failure_threshold == 12.5);
  CHECK(s->max_pending_handshakes == 64);
  CHECK(s->max_pending_handshakes_per_host == 8);
}

TEST_CASE("bad remote settings name the key and the expected value", "[unit][remote-settings]") {
  auto check = [](const char* text, const char* key, const char* words) {
    auto s = remote_settings::parse(std::string(text));
    REQUIRE_FALSE(s);
    CHECK(s.error().key == key);
    CHECK_THAT(std::string(s.error().what()), Catch::Contains(words));
  };
  check(R"({"port": 70000})", "port", "[0, 65535]");
  check(R"({"prot": 1})", "prot", "unknown key");
  check(R"({"host": 3})", "host", "expected a string");
  check(R"({"reconnect-backoff-min-ms": 500, "reconnect-backoff-max-ms": 100})", "reconnect-backoff-max-ms", ">=");
  check(R"({"tls": {"enabled": true}})", "tls", "certificate");
  check(R"({"watch-failure-threshold": -1})", "watch-failure-threshold", "> 0");
  check(R"({"max-pending-handshakes-per-host": 0})", "max-pending-handshakes-per-host", "[1, 1048576]");
  check(R"({"insecure": "yes"})", "insecure", "expected true or false");
  check(R"({"tls": {"check-peer-address": 1}})", "tls.check-peer-address", "expected true or false");
  check(R"({"insecure": true, "cookie": "s3cret"})", "insecure", "either authenticates its peers or does not");
  check("{not json", "<json>", "not valid JSON");
  check(R"({"tls": {"enable": true}})", "tls.enable", "unknown key; expected one of: enabled, certificate");
  check(R"({"tls": {"ca": 3}})", "tls.ca", "expected a string, got 3");
  check(R"({"tls": []})", "tls", "expected a JSON object");
  check(R"({"host": ""})", "host", "expected a host name or IP address");
}

TEST_CASE("actor URIs parse into address and path", "[unit][remote-settings]") {
  auto u = troupe::remote::parse_actor_uri("troupe://shop@127.0.0.2:2552/user/a/b");
  REQUIRE(u);
  CHECK(u->address.system == "shop");
  CHECK(u->address.host == "127.0.0.2");
  CHECK(u->address.port == 2552);
  CHECK(u->path == "/user/a/b");
  CHECK(to_string(u->address) == "troupe://shop@127.0.0.2:2552");
  CHECK(troupe::remote::parse_actor_uri("troupe://shop@h:1")->path.empty());
  // An IPv6 host is bracketed, both ways.
  auto v6 = troupe::remote::parse_actor_uri("troupe://shop@[fe80::1]:2552/user/a");
  REQUIRE(v6);
  CHECK(v6->address.host == "fe80::1");
  CHECK(v6->path == "/user/a");
  CHECK(to_string(v6->address) == "troupe://shop@[fe80::1]:2552");
  for (const char* bad : {"akka://shop@h:1/user", "troupe://h:1/user", "troupe://shop@h/user",
                          "troupe://shop@h:99999/user", "troupe://shop@h:12x/user", "troupe://@h:1"}) {
    CAPTURE(bad);
    CHECK_FALSE(troupe::remote::parse_actor_uri(bad));
  }
}

TEST_CASE("large-message destinations match path elements with wildcards", "[unit][remote-settings]") {
  using troupe::remote::path_matches;
  CHECK(path_matches("/user/big", "/user/big"));
  CHECK(path_matches("/user/*/images", "/user/shop/images"));
  CHECK(path_matches("/user/upload-*", "/user/upload-7"));
  CHECK(path_matches("/user/*-store", "/user/blob-store"));
  CHECK_FALSE(path_matches("/user/*/images", "/user/shop/images/2"));
  CHECK_FALSE(path_matches("/user/upload-*", "/user/download-7"));
  CHECK_FALSE(path_matches("/user/big", "/user"));
  auto s = remote_settings::parse(std::string(R"({"large-message-destinations": ["relative"]})"));
  REQUIRE_FALSE(s);
  CHECK(s.error().key == "large-message-destinations");
}

TEST_CASE("control-message destinations are paths like the large ones", "[unit][remote-settings]") {
  auto s = remote_settings::parse(std::string(R"({"control-message-destinations": ["/system/cluster/*"]})"));
  REQUIRE(s);
  CHECK(s->control_message_destinations == std::vector<std::string>{"/system/cluster/*"});
  auto bad = remote_settings::parse(std::string(R"({"control-message-destinations": "/system"})"));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().key == "control-message-destinations");
  CHECK_THAT(std::string(bad.error().what()), Catch::Contains("expected an array of strings"));
  auto not_string = remote_settings::parse(std::string(R"({"large-message-destinations": ["/user/a", 7]})"));
  REQUIRE_FALSE(not_string);
  CHECK(not_string.error().key == "large-message-destinations");
  CHECK_THAT(std::string(not_string.error().what()), Catch::Contains("got 7 at index 1"));
  auto empty = remote_settings::parse(std::string(R"({"control-message-destinations": [""]})"));
  REQUIRE_FALSE(empty);
  CHECK(empty.error().key == "control-message-destinations");
  CHECK_THAT(std::string(empty.error().what()), Catch::Contains("starting with '/'"));
}
