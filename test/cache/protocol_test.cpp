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

TEST_CASE("cache protocol: the replica messages round-trip with any bytes as values", "[unit]") {
  rs::serialization s;
  tcache::register_protocol(s);
  const std::string bytes("\0\xff\x80 raw", 7);
  auto copy = round_trip(s, tcache::replica_copy{"3", 9, 2, 4096, 1, 3, {{"k", bytes, 250}, {"j", "", 0}}});
  CHECK((copy.bucket == "3" && copy.version == 9 && copy.epoch == 2 && copy.capacity == 4096));
  CHECK((copy.part == 1 && copy.parts == 3 && copy.entries.size() == 2));
  CHECK((copy.entries[0].key == "k" && copy.entries[0].value == bytes && copy.entries[0].ttl_ms == 250));
  auto write = round_trip(s, tcache::replica_write{"3", 10, 2, 4096, false, "k", bytes, 1000});
  CHECK((write.version == 10 && !write.remove && write.value == bytes && write.ttl_ms == 1000));
  CHECK(round_trip(s, tcache::replica_write{"3", 11, 2, 4096, true, "k", "", 0}).remove);
  auto ack = round_trip(s, tcache::replica_ack{"3", 11, 2, true});
  CHECK((ack.version == 11 && ack.epoch == 2 && ack.missing));
  CHECK(round_trip(s, tcache::replica_drop{"3", 11}).version == 11);
  CHECK(round_trip(s, tcache::replica_query{"3", 4}).asker == 4);
  auto held = round_trip(s, tcache::replica_held{"3", 4, true, 11, 0, 1, {{"k", bytes, 0}}});
  CHECK((held.found && held.asker == 4 && held.version == 11 && held.entries.at(0).value == bytes));
  CHECK(tcache::replica_store_path("sessions") == "/system/cache-replicas-sessions");
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
  // No "missing"; an entry without its value.
  CHECK_FALSE(decode("cache.replica_ack", {{"bucket", "3"}, {"version", 1}, {"epoch", 1}}));
  const nlohmann::json no_value = {{"key", "k"}};
  nlohmann::json held = {{"bucket", "3"}, {"asker", 0}, {"found", true}, {"version", 1}, {"part", 0}, {"parts", 1}};
  held["entries"] = nlohmann::json::array({no_value});
  CHECK_FALSE(decode("cache.replica_held", held));
  CHECK(decode("cache.get", {{"key", "k"}}));
}
