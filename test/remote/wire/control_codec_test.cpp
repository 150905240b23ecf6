#include "troupe/remote/wire/control_codec.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <vector>

namespace wire = troupe::remote::wire;
using json = nlohmann::json;
using wire::byte_buffer;

namespace {

byte_buffer body_of(const wire::control_message& m) {
  byte_buffer out;
  wire::encode_control(out, m);
  return out;
}

const wire::unique_node_address a{{"orders", "127.0.0.1", 2552}, 1};
const wire::unique_node_address b{{"orders", "127.0.0.2", 2552}, 2};

}  // namespace

TEST_CASE("every control message survives encoding", "[unit][control]") {
  const std::vector<wire::control_message> all = {
      wire::heartbeat{},         wire::heartbeat{7},          wire::heartbeat_rsp{},
      wire::heartbeat_rsp{7},    wire::system_ack{UINT64_MAX}, wire::system_nack{3},
      wire::quarantined{a, b},   wire::flush{},               wire::flush_ack{},
      wire::unknown_control{"gossip"}};
  for (const auto& m : all) {
    CAPTURE(std::string(wire::kind_of(m)));
    const auto d = wire::decode_control(body_of(m));
    REQUIRE(d);
    CHECK(*d == m);
  }
}

TEST_CASE("control messages are CBOR maps keyed by kind", "[unit][control]") {
  CHECK(json::from_cbor(body_of(wire::system_ack{5})) == json{{"kind", "system_ack"}, {"seq", 5}});
  CHECK(json::from_cbor(body_of(wire::heartbeat{})) == json{{"kind", "heartbeat"}});
  CHECK(json::from_cbor(body_of(wire::quarantined{a, b}))["to"] ==
        json{{"system", "orders"}, {"host", "127.0.0.2"}, {"port", 2552}, {"uid", 2}});
}

TEST_CASE("unknown keys are ignored and unknown kinds are reported, not refused", "[unit][control]") {
  const auto ack = wire::decode_control(json::to_cbor(json{{"kind", "system_ack"}, {"seq", 9}, {"window", 64}}));
  REQUIRE(ack);
  CHECK(*ack == wire::control_message{wire::system_ack{9}});

  const auto future = wire::decode_control(json::to_cbor(json{{"kind", "compress_table"}, {"table", {1, 2}}}));
  REQUIRE(future);
  CHECK(*future == wire::control_message{wire::unknown_control{"compress_table"}});
  CHECK(wire::kind_of(*future) == "compress_table");

  const auto odd = wire::decode_control(json::to_cbor(json{{"kind", "a\nb"}}));
  REQUIRE(odd);
  CHECK(wire::kind_of(*odd) == "a?b");
}

TEST_CASE("a missing or mistyped field of a known kind is refused, naming it", "[unit][control]") {
  CHECK(wire::decode_control(json::to_cbor(json{{"seq", 1}})).error() ==
        "malformed control message: key 'kind' missing");
  CHECK(wire::decode_control(json::to_cbor(json{{"kind", 7}})).error() ==
        "malformed control message: key 'kind' must be a text string");
  CHECK(wire::decode_control(json::to_cbor(json{{"kind", "system_ack"}})).error() ==
        "malformed system_ack control message: key 'seq' missing");
  CHECK(wire::decode_control(json::to_cbor(json{{"kind", "heartbeat"}, {"seq", -1}})).error() ==
        "malformed heartbeat control message: key 'seq' must be an unsigned integer");
  json q = json::from_cbor(body_of(wire::quarantined{a, b}));
  q["from"].erase("uid");
  CHECK(wire::decode_control(json::to_cbor(q)).error() ==
        "malformed quarantined control message: key 'from.uid' missing");
  CHECK_THAT(wire::decode_control(byte_buffer{0x01}).error(),
             Catch::StartsWith("malformed control message: expected a CBOR map"));
  CHECK_THAT(wire::decode_control(byte_buffer{0xBF}).error(),
             Catch::StartsWith("malformed control message: not CBOR"));
}

TEST_CASE("control frames respect the frame limit", "[unit][control]") {
  byte_buffer out;
  REQUIRE_FALSE(wire::append_control_frame(out, wire::heartbeat{1}));
  const auto refused = wire::append_control_frame(out, wire::unknown_control{std::string(100, 'k')}, 50);
  REQUIRE(refused);
  CHECK(refused->type == wire::frame_type::control);
  wire::frame_decoder d;
  int frames = 0;
  CHECK(d.feed(out, [&](wire::frame_view f) {
    ++frames;
    CHECK(f.type == wire::frame_type::control);
    CHECK(*wire::decode_control(f.body) == wire::control_message{wire::heartbeat{1}});
  }) == wire::decode_status::need_more);
  CHECK(frames == 1);
}
