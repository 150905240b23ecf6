// The cache's wire messages: every one round-trips through the serialization registry with
// arbitrary bytes as values, and a malformed one is refused with a reason, never delivered.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <troupe/actor/message.hpp>
#include <troupe/cache/protocol.hpp>
#include <troupe/remote/serialization.hpp>

namespace rs = troupe::remote;
namespace tcache = troupe::cache;

namespace {

template <class T>
T round_trip(const rs::serialization& s, T value) {
  auto wire = s.encode(troupe::make_message(std::move(value)));
  REQUIRE(wire);
  auto back = s.decode(wire->serializer, wire->manifest, wire->payload);
  REQUIRE(back);
  const T* t = back->template get_if<T>();
  REQUIRE(t != nullptr);
  return *t;
}

}  // namespace

TEST_CASE("cache protocol: messages round-trip with any bytes as values", "[unit]") {
  rs::serialization s;
  tcache::register_protocol(s);
  static constexpr char raw[] = "\0\xff\xfe not utf-8 \x80";
  const std::string bytes(raw, sizeof raw - 1);  // every byte but the literal's terminator
  REQUIRE(bytes.size() == 15);

  auto put = round_trip(s, tcache::put_request{"k", bytes, 1500});
  CHECK((put.key == "k" && put.value == bytes && put.ttl_ms == 1500));
  auto got = round_trip(s, tcache::get_reply{true, bytes, ""});
  CHECK((got.found && got.value == bytes));
  CHECK(round_trip(s, tcache::put_reply{false, "too_large"}).error == "too_large");
  CHECK(round_trip(s, tcache::get_request{"k"}).key == "k");
  CHECK(round_trip(s, tcache::remove_request{"k"}).key == "k");
  CHECK(round_trip(s, tcache::remove_reply{true}).removed);
  CHECK(round_trip(s, tcache::load_claim{"k"}).key == "k");
  auto answer = round_trip(s, tcache::load_answer{tcache::load_answer::kind::grant, "", "", 7});
  CHECK((answer.answer == tcache::load_answer::kind::grant && answer.claim == 7));
  auto done = round_trip(s, tcache::load_done{"k", bytes, 0, 7});
  CHECK((done.value == bytes && done.claim == 7));
  auto failed = round_trip(s, tcache::load_failed{"k", "down", 7});
  CHECK((failed.error == "down" && failed.claim == 7));
}

TEST_CASE("cache protocol: a malformed message is refused", "[unit]") {
  rs::serialization s;
  tcache::register_protocol(s);
  const auto decode = [&](const std::string& manifest, const nlohmann::json& j) {
    const auto b = nlohmann::json::to_cbor(j);
    return s.decode(rs::serializer_id::cbor, manifest, b);
  };
  CHECK_FALSE(s.decode(rs::serializer_id::cbor, "cache.put", std::vector<std::uint8_t>{0xff, 0x00}));
  CHECK_FALSE(decode("cache.put", {{"key", "k"}, {"ttl-ms", 0}}));                     // no value
  CHECK_FALSE(decode("cache.put", {{"key", "k"}, {"value", "text"}, {"ttl-ms", 0}}));  // not bytes
  CHECK_FALSE(decode("cache.get", {{"key", 3}}));                                      // mistyped
  CHECK_FALSE(
      decode("cache.load_answer",
             {{"answer", 7}, {"value", nlohmann::json::binary({})}, {"error", ""}, {"claim", 1}}));  // unknown kind
  CHECK(decode("cache.get", {{"key", "k"}}));
}
