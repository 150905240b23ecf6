// The cluster wire protocol: every message round-trips, random gossips round-trip, unknown
// keys are ignored, missing or mistyped keys are errors naming them, garbage is an error.
#include "troupe/cluster/protocol.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/model/random_gossip.hpp"
#include "troupe/actor/message.hpp"
#include "troupe/remote/serialization.hpp"

using namespace std::chrono_literals;
using troupe::cluster::model::address;
using troupe::cluster::model::app_version;
using troupe::cluster::model::gossip;
using troupe::cluster::model::gossip_overview;
using troupe::cluster::model::member;
using troupe::cluster::model::member_status;
using troupe::cluster::model::reachability;
using troupe::cluster::model::unique_address;
using troupe::cluster::model::vector_clock;
using troupe::cluster::model::testing::random_history;
using troupe::cluster::model::testing::test_node;
namespace protocol = troupe::cluster::protocol;
using json = nlohmann::json;

namespace {

const unique_address a = test_node(1);
const unique_address b = test_node(2);
const unique_address c = test_node(3);

// A gossip with every part filled: statuses, roles, versions, up numbers, a stray seen
// mark free of members (invalid but representable), reachability records and versions,
// a version, and a tombstone.
gossip rich_gossip() {
  std::vector<member> members{
      member::restore(a, member_status::up, {"backend", "frontend"}, app_version{"1.2.3"}, 1),
      member::restore(b, member_status::leaving, {"backend"}, app_version{"1.2.4-RC1"}, 2),
      member::restore(c, member_status::joining, {}, {}, member::no_up_number),
  };
  reachability r = reachability{}.unreachable(a, c).unreachable(b, c).reachable(b, c).terminated(a, b);
  const gossip_overview overview{{a, b}, r};
  const vector_clock v = vector_clock{}.increment(a).increment(a).increment(c);
  const std::map<unique_address, gossip::time> tombstones{{test_node(9), 123456789ns}};
  return gossip{members, overview, v, tombstones};
}

template <class T>
T round_trip(const T& m) {
  const auto wire = protocol::encode(m);
  auto back = protocol::decode<T>(wire);
  INFO((back ? std::string("ok") : back.error()));
  REQUIRE(back);
  return *back;
}

template <class T>
json as_json(const T& m) {
  const auto wire = protocol::encode(m);
  return json::from_cbor(wire);
}

template <class T>
troupe::expected<T, std::string> decode_json(const json& j) {
  return protocol::decode<T>(json::to_cbor(j));
}

// A gossip of `n` up members with two roles, one app version, seen by all and changed by
// all (a cluster at rest after its members joined).
gossip cluster_at_rest(int n) {
  std::vector<member> members;
  vector_clock v;
  std::set<unique_address> seen;
  for (int i = 1; i <= n; ++i) {
    const auto node = test_node(i, 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(i));
    members.push_back(member::restore(node, member_status::up, {i % 2 ? "backend" : "frontend"},
                                      app_version{"1.0.0"}, i));
    v = v.increment(node);
    seen.insert(node);
  }
  return gossip{members, gossip_overview{seen, {}}, v, {}};
}

}  // namespace

TEST_CASE("every cluster message round-trips", "[unit][protocol]") {
  const gossip g = rich_gossip();
  REQUIRE_FALSE(g.tombstones().empty());
  CHECK(round_trip(protocol::init_join{}) == protocol::init_join{});
  CHECK(round_trip(protocol::init_join_ack{a.address}) == protocol::init_join_ack{a.address});
  CHECK(round_trip(protocol::init_join_nack{b.address}) == protocol::init_join_nack{b.address});
  const protocol::join j{a, {"backend", "frontend"}, app_version{"2.0.0"}};
  CHECK(round_trip(j) == j);
  const protocol::join bare{b, {}, {}};
  CHECK(round_trip(bare) == bare);
  const protocol::welcome w{a, g};
  CHECK(round_trip(w) == w);
  CHECK(round_trip(protocol::leave{c.address}) == protocol::leave{c.address});
  CHECK(round_trip(protocol::down{c.address}) == protocol::down{c.address});
  CHECK(round_trip(protocol::exiting_confirmed{b}) == protocol::exiting_confirmed{b});
  const protocol::gossip_envelope env{a, b, g};
  CHECK(round_trip(env) == env);
  const protocol::gossip_status st{a, b, g.digest()};
  CHECK(round_trip(st) == st);
  const protocol::heartbeat hb{a.address, 42, std::chrono::nanoseconds{-5}};
  CHECK(round_trip(hb) == hb);
  const protocol::heartbeat_rsp rsp{b, UINT64_MAX, std::chrono::nanoseconds{INT64_MAX}};
  CHECK(round_trip(rsp) == rsp);
  CHECK(round_trip(gossip{}) == gossip{});
}

TEST_CASE("addresses of another actor system in one gossip keep their system name", "[unit][protocol]") {
  const unique_address other{{"other", "10.0.0.7", 2552}, 7};
  const gossip g{{member{a}, member{other}}};
  const gossip back = round_trip(g);
  CHECK(back == g);
  REQUIRE(back.find(other));
  CHECK(back.find(other)->address().system == "other");
}

TEST_CASE("random gossips round-trip exactly", "[unit][protocol]") {
  const auto seed = Catch::rngSeed();
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 300; ++round) {
    CAPTURE(seed, round);
    random_history h{rng, 1 + static_cast<int>(troupe::cluster::model::testing::draw(rng, 8))};
    const gossip g = h.replica(rng);
    const auto wire = protocol::encode(g);
    auto back = protocol::decode<gossip>(wire);
    INFO((back ? std::string("ok") : back.error()));
    REQUIRE(back);
    CHECK(*back == g);
    CHECK(back->members() == g.members());
    CHECK(back->seen_by() == g.seen_by());
    CHECK(back->reachability() == g.reachability());
    CHECK(back->version() == g.version());
    CHECK(back->tombstones() == g.tombstones());
    CHECK(back->digest() == g.digest());
    CHECK(protocol::encode(*back) == wire);  // canonical: one gossip, one encoding
  }
}

TEST_CASE("unknown keys are ignored at every level", "[unit][protocol]") {
  const gossip g = rich_gossip();
  json j = as_json(protocol::gossip_envelope{a, b, g});
  j["added_in_v9"] = json::array({1, 2, 3});
  j["from"]["zone"] = "eu-west";
  j["gossip"]["compression"] = "none";
  j["gossip"]["members"][0]["data_center"] = "dc1";
  j["gossip"]["nodes"][1]["rack"] = 4;
  j["gossip"]["reachability"]["records"][0]["why"] = "timeout";
  j["gossip"]["tombstones"][0]["reason"] = "downed";
  auto back = decode_json<protocol::gossip_envelope>(j);
  INFO((back ? std::string("ok") : back.error()));
  REQUIRE(back);
  CHECK(*back == protocol::gossip_envelope{a, b, g});

  json hb = as_json(protocol::heartbeat{a.address, 1, 2ns});
  hb["padding"] = std::string(100, 'x');
  CHECK(decode_json<protocol::heartbeat>(hb));
}

TEST_CASE("a missing required key is an error naming it", "[unit][protocol]") {
  SECTION("top-level keys of every message") {
    const gossip g = rich_gossip();
    const auto each_key_required = [](const json& full, auto decoder, std::string_view manifest,
                                      const std::set<std::string>& optional_keys) {
      for (const auto& [key, value] : full.items()) {
        CAPTURE(manifest, key);
        json j = full;
        j.erase(key);
        const auto r = decoder(j);
        if (optional_keys.contains(key)) {
          CHECK(r);
        } else {
          REQUIRE_FALSE(r);
          CHECK_THAT(r.error(), Catch::StartsWith(std::string(manifest)));
          CHECK_THAT(r.error(), Catch::Contains(key + ": missing"));
        }
      }
    };
    each_key_required(as_json(protocol::init_join_ack{a.address}), decode_json<protocol::init_join_ack>,
                      protocol::init_join_ack::manifest, {});
    each_key_required(as_json(protocol::init_join_nack{a.address}), decode_json<protocol::init_join_nack>,
                      protocol::init_join_nack::manifest, {});
    each_key_required(as_json(protocol::join{a, {"r"}, app_version{"1"}}), decode_json<protocol::join>,
                      protocol::join::manifest, {"roles", "app_version"});
    each_key_required(as_json(protocol::welcome{a, g}), decode_json<protocol::welcome>,
                      protocol::welcome::manifest, {});
    each_key_required(as_json(protocol::leave{a.address}), decode_json<protocol::leave>,
                      protocol::leave::manifest, {});
    each_key_required(as_json(protocol::down{a.address}), decode_json<protocol::down>,
                      protocol::down::manifest, {});
    each_key_required(as_json(protocol::exiting_confirmed{a}), decode_json<protocol::exiting_confirmed>,
                      protocol::exiting_confirmed::manifest, {});
    each_key_required(as_json(protocol::gossip_envelope{a, b, g}), decode_json<protocol::gossip_envelope>,
                      protocol::gossip_envelope::manifest, {});
    each_key_required(as_json(protocol::gossip_status{a, b, g.digest()}),
                      decode_json<protocol::gossip_status>, protocol::gossip_status::manifest, {});
    each_key_required(as_json(protocol::heartbeat{a.address, 1, 2ns}), decode_json<protocol::heartbeat>,
                      protocol::heartbeat::manifest, {});
    each_key_required(as_json(protocol::heartbeat_rsp{a, 1, 2ns}), decode_json<protocol::heartbeat_rsp>,
                      protocol::heartbeat_rsp::manifest, {});
    each_key_required(as_json(g), decode_json<gossip>, "gossip", {});
  }

  SECTION("nested keys name their full path") {
    json j = as_json(protocol::gossip_envelope{a, b, rich_gossip()});
    j["gossip"]["members"][1].erase("status");
    auto r = decode_json<protocol::gossip_envelope>(j);
    REQUIRE_FALSE(r);
    CHECK(r.error() == "cluster.gossip: gossip.members[1].status: missing");

    j = as_json(protocol::gossip_envelope{a, b, rich_gossip()});
    j["gossip"]["reachability"]["records"][0].erase("subject");
    r = decode_json<protocol::gossip_envelope>(j);
    REQUIRE_FALSE(r);
    CHECK(r.error() == "cluster.gossip: gossip.reachability.records[0].subject: missing");

    j = as_json(protocol::gossip_envelope{a, b, rich_gossip()});
    j["to"].erase("uid");
    r = decode_json<protocol::gossip_envelope>(j);
    REQUIRE_FALSE(r);
    CHECK(r.error() == "cluster.gossip: to.uid: missing");
  }
}

TEST_CASE("a mistyped or out-of-range value is an error naming it", "[unit][protocol]") {
  json hb = as_json(protocol::heartbeat{a.address, 1, 2ns});
  hb["seq"] = "one";
  auto r = decode_json<protocol::heartbeat>(hb);
  REQUIRE_FALSE(r);
  CHECK(r.error() == "cluster.heartbeat: seq: expected an unsigned integer, got string");

  hb = as_json(protocol::heartbeat{a.address, 1, 2ns});
  hb["seq"] = -1;
  CHECK(decode_json<protocol::heartbeat>(hb).error() == "cluster.heartbeat: seq: must not be negative");

  hb = as_json(protocol::heartbeat{a.address, 1, 2ns});
  hb["from"]["port"] = 70000;
  CHECK_THAT(decode_json<protocol::heartbeat>(hb).error(), Catch::Contains("from.port: 70000 is above the limit 65535"));

  json g = as_json(rich_gossip());
  g["members"][0]["status"] = 99;
  CHECK(decode_json<gossip>(g).error() == "gossip: gossip.members[0].status: unknown member status code 99");

  g = as_json(rich_gossip());
  g["seen"][0] = 40;
  CHECK_THAT(decode_json<gossip>(g).error(),
             Catch::Contains("gossip.seen[0]: index 40 outside the nodes table"));

  g = as_json(rich_gossip());
  g["members"][0]["roles"] = json::array({7});
  CHECK_THAT(decode_json<gossip>(g).error(), Catch::Contains("gossip.members[0].roles[0]: index 7 outside the roles table"));

  g = as_json(rich_gossip());
  g["version"] = json::array({json::array({1, 2}), json::array({1, 3})});
  CHECK_THAT(decode_json<gossip>(g).error(), Catch::Contains("gossip.version[1]: node 1 appears twice"));

  g = as_json(rich_gossip());
  g["members"] = json::object();
  CHECK(decode_json<gossip>(g).error() == "gossip: gossip.members: expected an array, got object");
}

TEST_CASE("garbage bytes are an error, never a crash", "[unit][protocol]") {
  using wire_t = std::vector<std::uint8_t>;
  CHECK_THAT(protocol::decode<protocol::heartbeat>(wire_t{}).error(), Catch::Contains("no bytes"));
  CHECK_THAT(protocol::decode<protocol::heartbeat>(wire_t{0xff, 0x00, 0x13}).error(), Catch::Contains("not CBOR"));
  CHECK_THAT(protocol::decode<protocol::heartbeat>(json::to_cbor(json::array({1, 2}))).error(),
             Catch::Contains("expected a CBOR map, got array"));

  // Deep nesting is refused before the parser recurses into it.
  wire_t deep(100000, 0x81);  // [[[[...
  deep.push_back(0x00);
  CHECK_THAT(protocol::decode<gossip>(deep).error(), Catch::Contains("nested deeper"));
  wire_t deep_map{0xa1, 0x61, 'k'};  // {"k": [[[...
  deep_map.insert(deep_map.end(), 100000, 0x81);
  deep_map.push_back(0x00);
  CHECK_FALSE(protocol::decode<protocol::gossip_envelope>(deep_map));

  // A length far beyond the input.
  CHECK_FALSE(protocol::decode<protocol::welcome>(wire_t{0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));
  CHECK_FALSE(protocol::decode<protocol::welcome>(wire_t{0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}));

  // Every truncation of a valid message, and trailing bytes after one.
  const auto full = protocol::encode(protocol::gossip_envelope{a, b, rich_gossip()});
  for (std::size_t n = 0; n < full.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(protocol::decode<protocol::gossip_envelope>(std::span(full).first(n)));
  }
  auto longer = full;
  longer.push_back(0x00);
  CHECK_FALSE(protocol::decode<protocol::gossip_envelope>(longer));

  // Random bytes and random corruptions of a valid message.
  const auto seed = Catch::rngSeed();
  std::mt19937_64 rng{seed};
  CAPTURE(seed);
  for (int round = 0; round < 2000; ++round) {
    wire_t w(rng() % 64);
    for (auto& x : w) x = static_cast<std::uint8_t>(rng());
    (void)protocol::decode<protocol::gossip_envelope>(w);
    (void)protocol::decode<protocol::heartbeat>(w);
    wire_t corrupt = full;
    for (int k = 0; k < 3; ++k) corrupt[rng() % corrupt.size()] = static_cast<std::uint8_t>(rng());
    (void)protocol::decode<protocol::gossip_envelope>(corrupt);
  }
}

TEST_CASE("register_protocol puts every message in the transport's registry", "[unit][protocol]") {
  troupe::remote::serialization s;
  protocol::register_protocol(s);
  const protocol::gossip_envelope env{a, b, rich_gossip()};
  const auto wire = s.encode(troupe::make_message(env));
  REQUIRE(wire);
  CHECK(wire->serializer == protocol::serializer_id);
  CHECK(wire->manifest == "cluster.gossip");
  const auto back = s.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  REQUIRE(back->get_if<protocol::gossip_envelope>());
  CHECK(*back->get_if<protocol::gossip_envelope>() == env);

  const auto hb = s.encode(troupe::make_message(protocol::heartbeat{a.address, 3, 4ns}));
  REQUIRE(hb);
  CHECK(hb->manifest == "cluster.heartbeat");
  CHECK(s.is_registered(troupe::type_id_of<protocol::init_join>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::init_join_ack>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::init_join_nack>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::join>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::welcome>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::leave>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::down>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::exiting_confirmed>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::gossip_status>()));
  CHECK(s.is_registered(troupe::type_id_of<protocol::heartbeat_rsp>()));

  const std::vector<std::uint8_t> garbage{0xff, 0x00};
  const auto bad = s.decode(protocol::serializer_id, "cluster.gossip", garbage);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("cluster.gossip"));
  CHECK_THAT(bad.error(), Catch::Contains("not CBOR"));
}

TEST_CASE("message sizes stay small: heartbeats, statuses, gossips of 5 and 100", "[unit][protocol]") {
  const gossip g5 = cluster_at_rest(5);
  const gossip g100 = cluster_at_rest(100);
  const auto self = *g100.members().begin();
  const auto peer = *(g100.members().begin() + 1);
  const std::size_t heartbeat = protocol::encode(protocol::heartbeat{self.address(), 12345, 1'700'000'000'000'000'000ns}).size();
  const std::size_t heartbeat_rsp = protocol::encode(protocol::heartbeat_rsp{peer.unique_address(), 12345, 1'700'000'000'000'000'000ns}).size();
  const std::size_t status5 = protocol::encode(protocol::gossip_status{self.unique_address(), peer.unique_address(), g5.digest()}).size();
  const std::size_t status100 = protocol::encode(protocol::gossip_status{self.unique_address(), peer.unique_address(), g100.digest()}).size();
  const std::size_t envelope5 = protocol::encode(protocol::gossip_envelope{self.unique_address(), peer.unique_address(), g5}).size();
  const std::size_t envelope100 = protocol::encode(protocol::gossip_envelope{self.unique_address(), peer.unique_address(), g100}).size();
  CHECK(heartbeat < 100);
  CHECK(heartbeat_rsp < 100);
  CHECK(status5 < 300);
  CHECK(status100 < 3000);
  CHECK(envelope5 < 1000);
  CHECK(envelope100 < 12000);
  CHECK(round_trip(g100) == g100);
}
