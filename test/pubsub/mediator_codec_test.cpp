// The mediators' peer protocol on the wire: round trips, malformed input rejected with the
// field named, and the registration with the serialization registry.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <troupe/pubsub/fwd.hpp>
#include <troupe/pubsub/mediator_codec.hpp>
#include <troupe/remote/serialization.hpp>

namespace ps = troupe::pubsub;

namespace {

ps::node_id node(std::uint16_t port) { return ps::node_id{{"sys", "127.0.0.1", port}, 0xfeedbeefULL + port}; }

ps::delta sample_delta() {
  ps::delta d;
  ps::delta_bucket b{node(1), 2, 9, {}};
  b.entries[{ps::entry_kind::topic, "news", "", "troupe://sys@127.0.0.1:1/user/a"}] = {3, 77, false};
  b.entries[{ps::entry_kind::topic, "jobs", "workers", "troupe://sys@127.0.0.1:1/user/w"}] = {5, 1, false};
  b.entries[{ps::entry_kind::path, "/user/svc", "", "troupe://sys@127.0.0.1:1/user/svc"}] = {9, 0, true};
  d.buckets.push_back(b);
  d.buckets.push_back({node(2), 0, 1, {{{ps::entry_kind::topic, "t", "", "troupe://sys@127.0.0.1:2/user/x"}, {1, 5, false}}}});
  return d;
}

}  // namespace

TEST_CASE("pubsub codec: status and delta round trip", "[unit]") {
  ps::addressed<ps::status> s{node(1), node(2), ps::status{{{node(1), 4}, {node(3), 12}}, false}};
  const auto sb = ps::encode_addressed(s);
  const auto s2 = ps::decode_addressed<ps::status>(sb);
  REQUIRE(s2);
  CHECK(s2->from == s.from);
  CHECK(s2->to == s.to);
  CHECK(s2->message == s.message);

  ps::addressed<ps::delta> d{node(2), node(1), sample_delta()};
  const auto db = ps::encode_addressed(d);
  const auto d2 = ps::decode_addressed<ps::delta>(db);
  REQUIRE(d2);
  CHECK(d2->message == d.message);
  CHECK(d2->from == node(2));

  ps::addressed<ps::delta> empty{node(2), node(1), {}};
  const auto e2 = ps::decode_addressed<ps::delta>(ps::encode_addressed(empty));
  REQUIRE(e2);
  CHECK(e2->message.buckets.empty());
}

TEST_CASE("pubsub codec: malformed input is rejected, never crashes", "[unit]") {
  ps::addressed<ps::delta> d{node(2), node(1), sample_delta()};
  const auto good = ps::encode_addressed(d);
  {
    INFO("every truncation fails");
    for (std::size_t n = 0; n < good.size(); ++n) {
      const std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
      CHECK_FALSE(ps::decode_addressed<ps::delta>(cut));
    }
  }
  {
    INFO("trailing bytes fail");
    auto longer = good;
    longer.push_back(0);
    CHECK_FALSE(ps::decode_addressed<ps::delta>(longer));
  }
  {
    INFO("a bad kind is named");
    ps::addressed<ps::delta> one{node(2), node(1), {}};
    one.message.buckets.push_back({node(1), 0, 1, {{{ps::entry_kind::path, "p", "", "r"}, {1, 0, false}}}});
    auto b = ps::encode_addressed(one);
    // The entry's kind byte follows: owner index, from 0, to 1, count 1.
    const std::vector<std::uint8_t> tail{0x01, 0x00, 0x01, 0x01, 0x01};
    auto it = std::find_end(b.begin(), b.end(), tail.begin(), tail.end());
    REQUIRE(it != b.end());
    *(it + 4) = 9;
    const auto bad = ps::decode_addressed<ps::delta>(b);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().find("kind") != std::string::npos);
    CHECK(bad.error().find("pubsub.delta") == 0);
  }
  {
    INFO("an entry outside its bucket's version range is refused");
    ps::addressed<ps::delta> out{node(2), node(1), {}};
    out.message.buckets.push_back({node(1), 3, 4, {{{ps::entry_kind::topic, "t", "", "r"}, {2, 0, false}}}});
    CHECK_FALSE(ps::decode_addressed<ps::delta>(ps::encode_addressed(out)));
  }
  {
    INFO("random bytes and random flips never crash");
    std::mt19937_64 rng(Catch::rngSeed());
    for (int i = 0; i < 2000; ++i) {
      auto b = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
      (void)ps::decode_addressed<ps::delta>(b);
      (void)ps::decode_addressed<ps::status>(b);
      std::vector<std::uint8_t> noise(rng() % 64);
      for (auto& x : noise) x = static_cast<std::uint8_t>(rng());
      (void)ps::decode_addressed<ps::delta>(noise);
      (void)ps::decode_addressed<ps::status>(noise);
    }
    SUCCEED();
  }
}

TEST_CASE("pubsub codec: registered under serializer 8", "[unit]") {
  troupe::remote::serialization s;
  ps::register_mediator_protocol(s);
  ps::addressed<ps::status> st{node(1), node(2), ps::status{{{node(1), 4}}, true}};
  const auto wire = s.encode(troupe::make_message(st));
  REQUIRE(wire);
  CHECK(wire->serializer == ps::serializer_id);
  CHECK(wire->manifest == "pubsub.status");
  const auto back = s.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  const auto* m = back->get_if<ps::addressed<ps::status>>();
  REQUIRE(m);
  CHECK(m->message == st.message);
  // A malformed payload is an error value naming the manifest (the transport logs and drops it).
  const std::vector<std::uint8_t> junk{1, 2, 3};
  const auto bad = s.decode(ps::serializer_id, "pubsub.delta", junk);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("pubsub.delta") != std::string::npos);
}
