// Fuzzes decode_envelope: whatever decodes must re-encode to the very same bytes (the codec
// is strict), and go through a frame and back unchanged.
#include "fuzz_common.hpp"
#include "troupe/remote/wire/envelope_codec.hpp"

using namespace troupe::remote::wire;
using troupe::remote::wire::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> body(data, size);
  const auto e = decode_envelope(body);
  if (!e) {
    check(e.error().rfind("malformed envelope: ", 0) == 0, "a reason without its prefix");
    return 0;
  }
  // 1. Views stay inside the body.
  const auto inside = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    return n == 0 || (b >= data && b + n <= data + size);
  };
  check(inside(e->recipient_path.data(), e->recipient_path.size()), "recipient outside the body");
  check(inside(e->manifest.data(), e->manifest.size()), "manifest outside the body");
  check(inside(e->payload.data(), e->payload.size()), "payload outside the body");
  if (e->sender) {
    check(inside(e->sender->address.data(), e->sender->address.size()), "sender outside the body");
    check(inside(e->sender->path.data(), e->sender->path.size()), "sender path outside the body");
  }

  // 2. Re-encoding gives the same bytes.
  byte_buffer again;
  encode_envelope(again, *e);
  check(encoded_size(*e) == size, "encoded_size disagrees with the body");
  check(again.size() == size && std::equal(again.begin(), again.end(), data), "re-encoding differs");

  // 3. Through a frame and a decoder.
  byte_buffer framed;
  check(!append_envelope_frame(framed, *e, size), "an envelope refused at its own size");
  check(append_envelope_frame(framed, *e, size == 0 ? 0 : size - 1).has_value() == (size > 0),
        "an envelope accepted above the limit");
  frame_decoder d(size);
  int frames = 0;
  d.feed(framed, [&](frame_view f) {
    ++frames;
    const auto back = decode_envelope(f.body);
    check(back.has_value() && same_envelope(*back, *e), "an envelope changed through a frame");
  });
  check(frames == 1, "one frame expected");
  return 0;
}
