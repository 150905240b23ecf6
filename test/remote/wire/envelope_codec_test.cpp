#include "troupe/remote/wire/envelope_codec.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

namespace wire = troupe::remote::wire;
using wire::byte_buffer;

namespace {

std::span<const std::uint8_t> as_span(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Strings behind a random envelope's views.
struct random_envelope {
  std::string recipient, sender_address, sender_path, manifest, payload;
  wire::envelope e;
};

std::string random_text(std::mt19937_64& rng, std::size_t max) {
  std::string s(rng() % (max + 1), '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::uint64_t random_u64(std::mt19937_64& rng) {
  // All varint widths: shift a random value right by 0..63 bits.
  return rng() >> (rng() % 64);
}

void fill(random_envelope& r, std::mt19937_64& rng) {
  r.recipient = "/user/" + random_text(rng, 30);
  r.sender_address = rng() % 3 == 0 ? "" : "troupe://sys@127.0.0." + std::to_string(rng() % 255) + ":2552";
  r.sender_path = "/user/" + random_text(rng, 20);
  r.manifest = random_text(rng, 40);
  r.payload = random_text(rng, 1000);
  r.e = wire::envelope{};
  r.e.recipient_path = r.recipient;
  r.e.recipient_uid = random_u64(rng);
  if (rng() % 2) r.e.sender = wire::sender_ref{r.sender_address, r.sender_path, random_u64(rng)};
  r.e.serializer = static_cast<std::uint32_t>(random_u64(rng));
  r.e.manifest = r.manifest;
  r.e.payload = as_span(r.payload);
  if (rng() % 2) r.e.seq = random_u64(rng);
}

byte_buffer body_of(const wire::envelope& e) {
  byte_buffer out;
  wire::encode_envelope(out, e);
  return out;
}

}  // namespace

TEST_CASE("an envelope's layout is flags, fields and a sized payload", "[unit][envelope]") {
  const std::string payload = "hi";
  wire::envelope e;
  e.recipient_path = "/a";
  e.recipient_uid = 300;
  e.serializer = 2;
  e.manifest = "";
  e.payload = as_span(payload);
  CHECK(body_of(e) == byte_buffer{0x00, 2, '/', 'a', 0xAC, 0x02, 2, 0, 2, 'h', 'i'});

  e.seq = 1;
  e.sender = wire::sender_ref{"", "/b", 0};
  CHECK(body_of(e) ==
        byte_buffer{0x03, 1, 2, '/', 'a', 0xAC, 0x02, 0, 2, '/', 'b', 0, 2, 0, 2, 'h', 'i'});
  CHECK(wire::encoded_size(e) == body_of(e).size());
}

TEST_CASE("envelopes survive encoding, and decode to views into the body", "[unit][envelope]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 500; ++i) {
    CAPTURE(i);
    random_envelope r;
    fill(r, rng);
    const byte_buffer body = body_of(r.e);
    CHECK(wire::encoded_size(r.e) == body.size());
    const auto d = wire::decode_envelope(body);
    REQUIRE(d);
    CHECK(wire::same_envelope(*d, r.e));
    CHECK(d->is_system() == r.e.seq.has_value());
    if (!d->payload.empty()) {
      CHECK(d->payload.data() >= body.data());
      CHECK(d->payload.data() + d->payload.size() == body.data() + body.size());
    }
    CHECK(body_of(*d) == body);
  }
}

TEST_CASE("the largest values of each field survive", "[unit][envelope]") {
  wire::envelope e;
  e.recipient_path = "/user/x";
  e.recipient_uid = UINT64_MAX;
  e.sender = wire::sender_ref{"troupe://s@h:1", "/user/y", UINT64_MAX};
  e.serializer = UINT32_MAX;
  e.seq = UINT64_MAX;
  const byte_buffer body = body_of(e);
  const auto d = wire::decode_envelope(body);
  REQUIRE(d);
  CHECK(wire::same_envelope(*d, e));
}

TEST_CASE("every truncation of an envelope is an error, never a read past the end", "[unit][envelope]") {
  const std::string payload(100, 'p');
  wire::envelope e;
  e.recipient_path = "/user/recipient";
  e.recipient_uid = 123456789;
  e.sender = wire::sender_ref{"troupe://sys@127.0.0.1:2552", "/user/sender", 987654321};
  e.serializer = 100;
  e.manifest = "shop.order";
  e.payload = as_span(payload);
  e.seq = 77;
  const byte_buffer body = body_of(e);
  for (std::size_t n = 0; n < body.size(); ++n) {
    CAPTURE(n);
    // A copy of exactly n bytes, so ASan would see a read past it.
    const byte_buffer cut(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(n));
    const auto d = wire::decode_envelope(cut);
    REQUIRE_FALSE(d);
    CHECK_THAT(d.error(), Catch::StartsWith("malformed envelope: "));
  }
  CHECK(wire::decode_envelope(byte_buffer{}).error() ==
        "malformed envelope: flags is missing: the body ends (at byte 0 of 0)");
}

TEST_CASE("lying lengths, bad varints, reserved flags and trailing bytes are refused", "[unit][envelope]") {
  CHECK(wire::decode_envelope(byte_buffer{0x00, 0x7F, '/'}).error() ==
        "malformed envelope: recipient path claims 127 bytes but only 1 remain (at byte 1 of 3)");
  CHECK(wire::decode_envelope(byte_buffer{0x00, 0x80, 0x00}).error() ==
        "malformed envelope: recipient path is not in shortest form (at byte 1 of 3)");
  byte_buffer overflow{0x00, 0x00};
  overflow.insert(overflow.end(), 9, 0xFF);
  overflow.push_back(0x02);
  CHECK(wire::decode_envelope(overflow).error() ==
        "malformed envelope: recipient uid overflows 64 bits (at byte 2 of 12)");
  CHECK(wire::decode_envelope(byte_buffer{0x04}).error() ==
        "malformed envelope: flags has reserved bits set (4) (at byte 0 of 1)");
  // serializer id 2^32 does not fit 32 bits.
  CHECK(wire::decode_envelope(byte_buffer{0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0}).error() ==
        "malformed envelope: serializer id is 4294967296, above 4294967295 (at byte 3 of 10)");
  CHECK(wire::decode_envelope(byte_buffer{0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 'x', 'y'}).error() ==
        "malformed envelope: body has 1 bytes after the payload (at byte 7 of 8)");
  CHECK(wire::decode_envelope(byte_buffer{0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 'x'}).has_value());
}

TEST_CASE("random bytes never decode past their end, and what decodes re-encodes the same",
          "[unit][envelope]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  int decoded = 0;
  for (int i = 0; i < 20000; ++i) {
    byte_buffer garbage(rng() % 24);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng() % 4 == 0 ? rng() : rng() % 4);
    const auto d = wire::decode_envelope(garbage);
    if (!d) continue;
    ++decoded;
    CHECK(body_of(*d) == garbage);
  }
  CHECK(decoded > 0);
}

TEST_CASE("an envelope frame above the maximum is refused at the sender", "[unit][envelope]") {
  const std::string payload(1000, 'x');
  wire::envelope e;
  e.recipient_path = "/user/big";
  e.serializer = 3;
  e.payload = as_span(payload);
  byte_buffer out{42};
  const auto refused = wire::append_envelope_frame(out, e, 1000);
  REQUIRE(refused);
  CHECK(refused->type == wire::frame_type::envelope);
  CHECK(refused->body_size == wire::encoded_size(e));
  CHECK(refused->max_body_size == 1000);
  CHECK(out == byte_buffer{42});

  REQUIRE_FALSE(wire::append_envelope_frame(out, e, 2000));
  wire::frame_decoder d(2000);
  int frames = 0;
  CHECK(d.feed(std::span(out).subspan(1), [&](wire::frame_view f) {
    ++frames;
    CHECK(f.type == wire::frame_type::envelope);
    const auto got = wire::decode_envelope(f.body);
    REQUIRE(got);
    CHECK(wire::same_envelope(*got, e));
  }) == wire::decode_status::need_more);
  CHECK(frames == 1);
}

TEST_CASE("varints take 1 to 10 bytes", "[unit][envelope]") {
  CHECK(wire::varint_size(0) == 1);
  CHECK(wire::varint_size(127) == 1);
  CHECK(wire::varint_size(128) == 2);
  CHECK(wire::varint_size(UINT64_MAX) == 10);
  byte_buffer out;
  wire::append_varint(out, UINT64_MAX);
  CHECK(out == byte_buffer{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
}

TEST_CASE("appending many envelope frames to one batch grows the buffer geometrically", "[unit][envelope]") {
  const std::string payload(100, 'x');
  wire::envelope e;
  e.recipient_path = "/user/sink";
  e.serializer = 3;
  e.payload = as_span(payload);
  byte_buffer batch;
  int reallocations = 0;
  for (int i = 0; i < 10'000; ++i) {
    const auto* before = batch.data();
    REQUIRE_FALSE(wire::append_envelope_frame(batch, e));
    if (batch.data() != before) ++reallocations;
  }
  CHECK(reallocations < 40);
}
