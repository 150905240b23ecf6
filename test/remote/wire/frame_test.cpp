#include "troupe/remote/wire/frame.hpp"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using troupe::remote::wire::append_frame;
using troupe::remote::wire::begin_frame;
using troupe::remote::wire::byte_buffer;
using troupe::remote::wire::decode_status;
using troupe::remote::wire::default_max_body_size;
using troupe::remote::wire::end_frame;
using troupe::remote::wire::frame_decoder;
using troupe::remote::wire::frame_header_size;
using troupe::remote::wire::frame_type;
using troupe::remote::wire::frame_view;
using troupe::remote::wire::max_handshake_body_size;

namespace {

struct owned_frame {
  frame_type type;
  byte_buffer body;
  friend bool operator==(const owned_frame&, const owned_frame&) = default;
};

byte_buffer bytes_of(std::string_view s) { return {s.begin(), s.end()}; }

byte_buffer encode_all(const std::vector<owned_frame>& frames, std::size_t max = default_max_body_size) {
  byte_buffer out;
  for (const auto& f : frames) REQUIRE_FALSE(append_frame(out, f.type, f.body, max));
  return out;
}

// Feeds `stream` in pieces whose sizes come from `split`; collects every frame.
template <class Split>
std::vector<owned_frame> decode_in_pieces(frame_decoder& d, const byte_buffer& stream, Split split,
                                          decode_status& last) {
  std::vector<owned_frame> out;
  std::size_t pos = 0;
  last = decode_status::need_more;
  while (pos < stream.size() && last != decode_status::bad) {
    const std::size_t n = std::min(split(), stream.size() - pos);
    last = d.feed(std::span(stream.data() + pos, n), [&](frame_view f) {
      out.push_back({f.type, byte_buffer(f.body.begin(), f.body.end())});
    });
    pos += n;
  }
  return out;
}

std::vector<owned_frame> random_frames(std::mt19937_64& rng, std::size_t count, std::size_t max_body) {
  static constexpr frame_type types[] = {frame_type::hello,    frame_type::challenge,
                                         frame_type::proof,    frame_type::accepted,
                                         frame_type::rejected, frame_type::envelope,
                                         frame_type::control,  frame_type::chunk};
  std::vector<owned_frame> frames;
  for (std::size_t i = 0; i < count; ++i) {
    owned_frame f{types[rng() % std::size(types)], {}};
    // Mostly small bodies, some empty, some at the limit.
    const auto pick = rng() % 10;
    const std::size_t size = pick == 0 ? 0 : pick == 1 ? max_body : rng() % 300;
    for (std::size_t j = 0; j < size; ++j) f.body.push_back(static_cast<std::uint8_t>(rng()));
    frames.push_back(std::move(f));
  }
  return frames;
}

}  // namespace

TEST_CASE("a frame is its big-endian length, its type and its body", "[unit][frame]") {
  byte_buffer out;
  REQUIRE_FALSE(append_frame(out, frame_type::envelope, bytes_of("abc")));
  CHECK(out == byte_buffer{0, 0, 0, 4, 16, 'a', 'b', 'c'});

  frame_decoder d;
  std::span<const std::uint8_t> in(out);
  frame_view f;
  REQUIRE(d.next(in, f) == decode_status::good);
  CHECK(f.type == frame_type::envelope);
  CHECK(byte_buffer(f.body.begin(), f.body.end()) == bytes_of("abc"));
  CHECK(in.empty());
  CHECK(d.at_frame_boundary());
  CHECK(d.next(in, f) == decode_status::need_more);
}

TEST_CASE("an empty body is a frame of length 1", "[unit][frame]") {
  byte_buffer out;
  REQUIRE_FALSE(append_frame(out, frame_type::accepted, {}));
  CHECK(out == byte_buffer{0, 0, 0, 1, 4});
  frame_decoder d;
  std::vector<frame_type> seen;
  CHECK(d.feed(out, [&](frame_view f) {
    seen.push_back(f.type);
    CHECK(f.body.empty());
  }) == decode_status::need_more);
  CHECK(seen == std::vector{frame_type::accepted});
}

TEST_CASE("many frames decode from one buffer, in place", "[unit][frame]") {
  std::mt19937_64 rng(Catch::rngSeed());
  CAPTURE(Catch::rngSeed());
  const auto frames = random_frames(rng, 200, 1000);
  const byte_buffer stream = encode_all(frames);

  frame_decoder d(1000);
  std::vector<owned_frame> got;
  bool all_in_place = true;
  CHECK(d.feed(stream, [&](frame_view f) {
    all_in_place = all_in_place && (f.body.empty() || (f.body.data() >= stream.data() &&
                                                       f.body.data() + f.body.size() <= stream.data() + stream.size()));
    got.push_back({f.type, byte_buffer(f.body.begin(), f.body.end())});
  }) == decode_status::need_more);
  CHECK(got == frames);
  CHECK(all_in_place);
  CHECK(d.buffered() == 0);
}

TEST_CASE("frames fed byte by byte decode the same", "[unit][frame]") {
  std::mt19937_64 rng(Catch::rngSeed());
  CAPTURE(Catch::rngSeed());
  const auto frames = random_frames(rng, 50, 700);
  const byte_buffer stream = encode_all(frames);
  frame_decoder d(700);
  decode_status last{};
  CHECK(decode_in_pieces(d, stream, [] { return std::size_t{1}; }, last) == frames);
  CHECK(last == decode_status::need_more);
  CHECK(d.at_frame_boundary());
}

TEST_CASE("frames fed in random splits decode the same", "[unit][frame]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  for (int round = 0; round < 50; ++round) {
    CAPTURE(round);
    std::mt19937_64 rng(seed + round);
    const auto frames = random_frames(rng, 40, 2000);
    const byte_buffer stream = encode_all(frames);
    const std::size_t max_piece = 1 + rng() % 4000;
    frame_decoder d(2000);
    decode_status last{};
    CHECK(decode_in_pieces(d, stream, [&] { return 1 + rng() % max_piece; }, last) == frames);
    CHECK(last == decode_status::need_more);
    CHECK(d.at_frame_boundary());
  }
}

TEST_CASE("a truncated frame waits for more and holds only what it got", "[unit][frame]") {
  byte_buffer out;
  REQUIRE_FALSE(append_frame(out, frame_type::control, byte_buffer(100, 7)));
  frame_decoder d;
  frame_view f;
  std::span<const std::uint8_t> in(out.data(), 3);
  CHECK(d.next(in, f) == decode_status::need_more);
  CHECK(d.buffered() == 3);
  CHECK_FALSE(d.at_frame_boundary());
  in = std::span<const std::uint8_t>(out.data() + 3, 50);
  CHECK(d.next(in, f) == decode_status::need_more);
  CHECK(d.buffered() == 53);
  in = std::span<const std::uint8_t>(out.data() + 53, out.size() - 53);
  REQUIRE(d.next(in, f) == decode_status::good);
  CHECK(f.type == frame_type::control);
  CHECK(byte_buffer(f.body.begin(), f.body.end()) == byte_buffer(100, 7));
  CHECK(d.at_frame_boundary());
}

TEST_CASE("the sender refuses a body above the maximum, naming both sizes", "[unit][frame]") {
  byte_buffer out{1, 2, 3};
  const auto refused = append_frame(out, frame_type::envelope, byte_buffer(1001, 0), 1000);
  REQUIRE(refused);
  CHECK(refused->body_size == 1001);
  CHECK(refused->max_body_size == 1000);
  CHECK(refused->reason() == "envelope frame body of 1001 bytes exceeds the maximum of 1000 bytes (max-frame-size)");
  CHECK(out == byte_buffer{1, 2, 3});
  CHECK_FALSE(append_frame(out, frame_type::envelope, byte_buffer(1000, 0), 1000));
  CHECK(out.size() == 3 + frame_header_size + 1000);
}

TEST_CASE("a frame written in place is patched, or removed when too large", "[unit][frame]") {
  byte_buffer out{9};
  auto start = begin_frame(out, frame_type::control);
  out.insert(out.end(), {1, 2});
  REQUIRE_FALSE(end_frame(out, start, 10));
  CHECK(out == byte_buffer{9, 0, 0, 0, 3, 17, 1, 2});

  start = begin_frame(out, frame_type::envelope);
  out.insert(out.end(), 11, 0);
  const auto refused = end_frame(out, start, 10);
  REQUIRE(refused);
  CHECK(refused->type == frame_type::envelope);
  CHECK(refused->body_size == 11);
  CHECK(out == byte_buffer{9, 0, 0, 0, 3, 17, 1, 2});
}

TEST_CASE("the receiver refuses an oversized length prefix before buffering the body", "[unit][frame]") {
  frame_decoder d(1000);
  // Length 1002 = type byte + 1001 body bytes, one above the limit.
  const byte_buffer header{0, 0, 0x03, 0xEA};
  std::span<const std::uint8_t> in(header);
  frame_view f;
  CHECK(d.next(in, f) == decode_status::bad);
  CHECK(d.error() ==
        "frame length 1002 announces a body of 1001 bytes, above the maximum of 1000 bytes (max-frame-size)");
  CHECK(d.buffered() == 0);

  frame_decoder huge;
  const byte_buffer all_ones{0xFF, 0xFF, 0xFF, 0xFF, 16};
  CHECK(huge.feed(all_ones, [](frame_view) { FAIL("no frame expected"); }) == decode_status::bad);
  CHECK_THAT(huge.error(), Catch::Contains("4294967294 bytes") && Catch::Contains("262144"));

  frame_decoder exact(1000);
  byte_buffer ok;
  REQUIRE_FALSE(append_frame(ok, frame_type::envelope, byte_buffer(1000, 1), 1000));
  int frames = 0;
  CHECK(exact.feed(ok, [&](frame_view) { ++frames; }) == decode_status::need_more);
  CHECK(frames == 1);
}

TEST_CASE("a zero length and an unknown type are bad, and bad stays bad", "[unit][frame]") {
  frame_decoder zero;
  const byte_buffer z{0, 0, 0, 0, 16, 0, 0, 0, 1, 16};
  CHECK(zero.feed(z, [](frame_view) { FAIL("no frame expected"); }) == decode_status::bad);
  CHECK(zero.error() == "frame length 0: a frame holds at least its type byte");
  CHECK(zero.is_bad());

  frame_decoder unknown;
  const byte_buffer u{0, 0, 0, 2, 0x63, 'x'};
  CHECK(unknown.feed(u, [](frame_view) { FAIL("no frame expected"); }) == decode_status::bad);
  CHECK(unknown.error() == "unknown frame type 0x63");

  // A good frame after the bad one is not decoded: the stream cannot be resynchronised.
  byte_buffer good;
  REQUIRE_FALSE(append_frame(good, frame_type::control, bytes_of("x")));
  CHECK(unknown.feed(good, [](frame_view) { FAIL("no frame expected"); }) == decode_status::bad);
  CHECK(unknown.error() == "unknown frame type 0x63");
}

TEST_CASE("frames before a bad one are delivered", "[unit][frame]") {
  byte_buffer stream;
  REQUIRE_FALSE(append_frame(stream, frame_type::hello, bytes_of("a")));
  REQUIRE_FALSE(append_frame(stream, frame_type::proof, bytes_of("b")));
  stream.insert(stream.end(), {0, 0, 0, 1, 0xEE});
  frame_decoder d;
  std::vector<frame_type> seen;
  CHECK(d.feed(stream, [&](frame_view f) { seen.push_back(f.type); }) == decode_status::bad);
  CHECK(seen == std::vector{frame_type::hello, frame_type::proof});
}

TEST_CASE("the limit can be raised once the handshake is done", "[unit][frame]") {
  frame_decoder d(max_handshake_body_size);
  byte_buffer stream;
  REQUIRE_FALSE(append_frame(stream, frame_type::accepted, {}));
  REQUIRE_FALSE(append_frame(stream, frame_type::envelope, byte_buffer(10'000, 5)));
  std::span<const std::uint8_t> in(stream);
  frame_view f;
  REQUIRE(d.next(in, f) == decode_status::good);
  CHECK(f.type == frame_type::accepted);
  d.set_max_body_size(default_max_body_size);
  REQUIRE(d.next(in, f) == decode_status::good);
  CHECK(f.body.size() == 10'000);

  frame_decoder strict(max_handshake_body_size);
  CHECK(strict.feed(stream, [](frame_view) {}) == decode_status::bad);
}

TEST_CASE("garbage bytes end bad or waiting, never with a frame past the input", "[unit][frame]") {
  const auto seed = Catch::rngSeed();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  int bad = 0;
  for (int round = 0; round < 2000; ++round) {
    byte_buffer garbage(rng() % 64);
    for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
    frame_decoder d(1024);
    const auto status = d.feed(garbage, [&](frame_view f) {
      CHECK(f.body.size() <= 1024);
      CHECK(f.body.data() >= garbage.data());
      CHECK(f.body.data() + f.body.size() <= garbage.data() + garbage.size());
    });
    CHECK(status != decode_status::good);
    if (status == decode_status::bad) {
      ++bad;
      CHECK_FALSE(d.error().empty());
    }
    CHECK(d.buffered() <= frame_header_size + 1024);
  }
  CHECK(bad > 1000);  // random bytes nearly always announce more than 1 KiB
}
