// The singleton managers' messages on the wire: round trips, errors that name the field,
// tolerance of unknown keys, and random and mutated bytes that must never crash a decoder.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/remote/serialization.hpp>
#include <troupe/sharding/singleton_protocol.hpp>

namespace model = troupe::sharding::model;
using troupe::cluster::model::unique_address;
using troupe::sharding::decode_singleton_message;
using troupe::sharding::encode_singleton_message;
using json = nlohmann::json;

namespace {

const unique_address a{{"sys", "127.0.0.1", 2551}, 0xfedcba9876543210ULL};
const unique_address b{{"sys", "10.1.2.3", 65535}, 1};

std::vector<model::singleton_message> all_messages() {
  return {model::hand_over_to_me{a, b}, model::hand_over_in_progress{b, a}, model::hand_over_done{a, b},
          model::take_over_from_me{b, a}};
}

std::string manifest_of(const model::singleton_message& m) {
  return std::visit([](const auto& x) { return std::string(x.manifest); }, m);
}

std::vector<std::uint8_t> cbor(const json& j) { return json::to_cbor(j); }

json address_json(const unique_address& u) {
  return {{"system", u.address.system}, {"host", u.address.host}, {"port", u.address.port}, {"uid", u.uid}};
}

}  // namespace

TEST_CASE("singleton protocol: every message survives the round trip", "[unit][singleton][protocol]") {
  for (const auto& m : all_messages()) {
    INFO(manifest_of(m));
    const auto wire = encode_singleton_message(m);
    auto back = decode_singleton_message(manifest_of(m), wire);
    REQUIRE(back);
    CHECK(*back == m);
    // A named-key map: {"from": ..., "to": ...}.
    const json j = json::from_cbor(wire);
    CHECK(j.at("from").at("uid") == model::sender_of(m).uid);
    CHECK(j.at("to").at("host") == model::recipient_of(m).address.host);
  }
}

TEST_CASE("singleton protocol: unknown keys are ignored, missing or mistyped ones named", "[unit][singleton][protocol]") {
  const std::string manifest{model::hand_over_done::manifest};
  json ok{{"from", address_json(a)}, {"to", address_json(b)}, {"future", {{"x", 1}}}};
  ok["to"]["extra"] = true;
  auto back = decode_singleton_message(manifest, cbor(ok));
  REQUIRE(back);
  CHECK(*back == model::singleton_message{model::hand_over_done{a, b}});

  struct row {
    json message;
    std::string error;
  };
  json no_uid = ok;
  no_uid["to"].erase("uid");
  json bad_port = ok;
  bad_port["from"]["port"] = 70000;
  json negative_uid = ok;
  negative_uid["from"]["uid"] = -1;
  json text_to = ok;
  text_to["to"] = "somewhere";
  const std::vector<row> rows{
      {json{{"to", address_json(b)}}, "singleton.hand_over_done: from: missing"},
      {no_uid, "singleton.hand_over_done: to.uid: missing"},
      {bad_port, "singleton.hand_over_done: from.port: 70000 is above the limit 65535"},
      {negative_uid, "singleton.hand_over_done: from.uid: must not be negative"},
      {text_to, "singleton.hand_over_done: to: expected a map, got string"},
  };
  for (const auto& r : rows) {
    const auto d = decode_singleton_message(manifest, cbor(r.message));
    REQUIRE_FALSE(d);
    CHECK(d.error() == r.error);
  }
  CHECK_FALSE(decode_singleton_message(manifest, std::vector<std::uint8_t>{}));
  CHECK_FALSE(decode_singleton_message(manifest, cbor(json::array({1, 2}))));
  const auto unknown = decode_singleton_message("singleton.nonsense", cbor(ok));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == "unknown singleton message \"singleton.nonsense\"");
}

TEST_CASE("singleton protocol: registered under serializer 6 with the singleton.* manifests",
          "[unit][singleton][protocol]") {
  troupe::remote::serialization s;
  troupe::sharding::register_singleton_protocol(s);
  troupe::sharding::register_singleton_protocol(s);  // idempotent
  const auto m = model::take_over_from_me{a, b};
  const auto wire = s.encode(troupe::make_message(m));
  REQUIRE(wire);
  CHECK(wire->serializer == 6);
  CHECK(wire->manifest == "singleton.take_over_from_me");
  const auto back = s.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  const model::take_over_from_me* got = back->get_if<model::take_over_from_me>();
  CHECK((got && *got == m));
  // Garbage is an error value from the registry, naming the message.
  const std::vector<std::uint8_t> garbage{0xa1, 0x64, 'f', 'r', 'o', 'm', 0x01};
  const auto bad = s.decode(6, "singleton.take_over_from_me", garbage);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("singleton.take_over_from_me"));
}

TEST_CASE("singleton protocol: random and mutated bytes never crash the decoders", "[unit][singleton][protocol]") {
  std::mt19937_64 rng{Catch::rngSeed()};
  std::vector<std::vector<std::uint8_t>> valid;
  for (const auto& m : all_messages()) valid.push_back(encode_singleton_message(m));
  const std::vector<std::string> manifests{"singleton.hand_over_to_me", "singleton.hand_over_in_progress",
                                           "singleton.hand_over_done", "singleton.take_over_from_me"};
  std::size_t decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<std::uint8_t> bytes;
    if (i % 2 == 0) {
      bytes.resize(rng() % 64);
      for (auto& x : bytes) x = static_cast<std::uint8_t>(rng());
    } else {
      // A valid message with a few bytes flipped, cut short or extended.
      bytes = valid[rng() % valid.size()];
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !bytes.empty(); ++k)
        bytes[rng() % bytes.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      if (rng() % 4 == 0) bytes.resize(rng() % (bytes.size() + 1));
      if (rng() % 8 == 0) bytes.push_back(static_cast<std::uint8_t>(rng()));
    }
    auto d = decode_singleton_message(manifests[rng() % manifests.size()], bytes);
    if (d) {
      ++decoded;
      // Whatever decodes encodes again to something that decodes to the same message.
      auto again = decode_singleton_message(
          std::visit([](const auto& x) { return std::string(x.manifest); }, *d), encode_singleton_message(*d));
      REQUIRE(again);
      CHECK(*again == *d);
    } else {
      CHECK_FALSE(d.error().empty());
    }
  }
  CHECK(decoded > 0);  // some mutations keep a valid message (a flipped uid bit)
}
