// The routers' load messages as bytes: round trips, malformed input rejected with the field
// named, random bytes never crash the decoders; and their registration with the transport's
// registry (serializer 9), which turns a bad payload into an error value.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include <troupe/actor.hpp>
#include <troupe/remote/serialization.hpp>
#include <troupe/remote/transport.hpp>
#include <troupe/routers/cluster_router.hpp>
#include <troupe/routers/load_protocol.hpp>

namespace tr = troupe::routers;

TEST_CASE("load protocol: a query and a report survive the round trip", "[unit]") {
  const tr::load_query q{300, {"/user/worker", "/system/cluster-routee-host/00ab-1"}};
  const auto q2 = tr::decode_load_query(tr::encode(q));
  REQUIRE(q2);
  CHECK(*q2 == q);

  const tr::load_report r{UINT64_MAX, {{"/user/worker", 0}, {"/user/other", UINT32_MAX}}};
  const auto r2 = tr::decode_load_report(tr::encode(r));
  REQUIRE(r2);
  CHECK(*r2 == r);

  const auto empty = tr::decode_load_report(tr::encode(tr::load_report{}));
  REQUIRE(empty);
  CHECK(empty->loads.empty());
}

TEST_CASE("load protocol: malformed bytes are errors naming the field", "[unit]") {
  using bytes = std::vector<std::uint8_t>;
  auto error_of_report = [](const bytes& b) {
    auto r = tr::decode_load_report(b);
    REQUIRE_FALSE(r);
    return r.error();
  };
  CHECK_THAT(error_of_report({}), Catch::Contains("id") && Catch::Contains("truncated"));
  CHECK_THAT(error_of_report({1, 100}), Catch::Contains("loads") && Catch::Contains("exceeds"));
  // A relative path.
  CHECK_THAT(error_of_report({1, 1, 1, 'u', 5}), Catch::Contains("loads[0].path") && Catch::Contains("absolute"));
  // A size of 2^32.
  CHECK_THAT(error_of_report({1, 1, 1, '/', 0x80, 0x80, 0x80, 0x80, 0x10}),
             Catch::Contains("loads[0].size") && Catch::Contains("above"));
  // The same path twice.
  CHECK_THAT(error_of_report({1, 2, 1, '/', 1, 1, '/', 2}), Catch::Contains("listed twice"));
  // Trailing bytes.
  CHECK_THAT(error_of_report({1, 0, 9}), Catch::Contains("trailing"));
  // A varint longer than 64 bits.
  CHECK_THAT(error_of_report(bytes(11, 0xff)), Catch::Contains("varint"));

  auto q = tr::decode_load_query(bytes{1, 1, 4, '/', 'a'});  // a text longer than the bytes left
  REQUIRE_FALSE(q);
  CHECK_THAT(q.error(), Catch::Contains("paths[0]"));
}

TEST_CASE("load protocol: random bytes never crash the decoders", "[unit]") {
  const auto seed = Catch::rngSeed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  const auto valid = tr::encode(tr::load_report{5, {{"/user/a", 3}, {"/user/b", 9}}});
  for (int i = 0; i < 5'000; ++i) {
    std::vector<std::uint8_t> b;
    if (i % 2 == 0) {
      b.resize(rng() % 24);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    } else {  // a valid report with a byte changed or cut short
      b = valid;
      b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      b.resize(rng() % (b.size() + 1));
    }
    (void)tr::decode_load_report(b);
    (void)tr::decode_load_query(b);
  }
  SUCCEED();
}

TEST_CASE("load protocol: registered under serializer 9, a bad payload an error value", "[unit]") {
  troupe::actor_system sys("load-codec");
  auto& ser = sys.extension<troupe::remote::transport>().serialization();
  tr::cluster_routers::get(sys).host();  // registers the routers' messages
  const auto wire = ser.encode(troupe::make_message(tr::load_query{4, {"/user/w"}}));
  REQUIRE(wire);
  CHECK(wire->serializer == tr::load_serializer_id);
  CHECK(wire->manifest == "routers.load_query");
  const auto back = ser.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  CHECK(back->get_if<tr::load_query>()->paths == std::vector<std::string>{"/user/w"});

  const std::vector<std::uint8_t> junk{1, 1, 1, 'x', 0};
  const auto bad = ser.decode(tr::load_serializer_id, "routers.load_report", junk);
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error(), Catch::Contains("absolute"));
  sys.terminate();
  sys.await_termination();
}
