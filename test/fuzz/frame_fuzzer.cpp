// Fuzzes frame_decoder: input = [max-body byte][piece-size byte][stream...].
// The stream is decoded whole and in pieces; both must agree, and the frames decoded must
// re-encode to exactly the bytes they came from.
#include <algorithm>
#include <vector>

#include "fuzz_common.hpp"
#include "troupe/remote/wire/frame.hpp"

using namespace troupe::remote::wire;
using troupe::remote::wire::fuzz::check;

namespace {

struct owned_frame {
  frame_type type;
  byte_buffer body;
  bool operator==(const owned_frame&) const = default;
};

struct decoded {
  std::vector<owned_frame> frames;
  decode_status status = decode_status::need_more;
  std::string error;
  std::size_t buffered = 0;
};

decoded decode(std::span<const std::uint8_t> stream, std::size_t max_body, std::size_t piece) {
  frame_decoder d(max_body);
  decoded out;
  for (std::size_t pos = 0; pos < stream.size() && out.status != decode_status::bad; pos += piece) {
    out.status = d.feed(stream.subspan(pos, std::min(piece, stream.size() - pos)), [&](frame_view f) {
      check(f.body.size() <= max_body, "a frame body above the maximum");
      out.frames.push_back({f.type, byte_buffer(f.body.begin(), f.body.end())});
    });
  }
  out.error = d.error();
  out.buffered = d.buffered();
  check((out.status == decode_status::bad) == !out.error.empty(), "bad status and error disagree");
  check(out.buffered <= frame_header_size + max_body, "buffered more than one frame");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Small limits, so that the fuzzer meets them.
  const std::size_t max_body = std::size_t{data[0]} * 8;
  const std::size_t piece = 1 + data[1] % 64;
  const std::span<const std::uint8_t> stream(data + 2, size - 2);

  // 1. Whole and in pieces: same frames, same end, same reason.
  const decoded whole = decode(stream, max_body, std::max<std::size_t>(stream.size(), 1));
  const decoded pieces = decode(stream, max_body, piece);
  check(whole.frames == pieces.frames, "frames differ between whole and split feeding");
  check(whole.status == pieces.status, "status differs between whole and split feeding");
  check(whole.error == pieces.error, "reason differs between whole and split feeding");

  // 2. The frames re-encode to the front of the stream; on need_more, the rest is pending.
  byte_buffer again;
  for (const auto& f : whole.frames)
    check(!append_frame(again, f.type, f.body, max_body), "a decoded frame refused by the encoder");
  check(again.size() <= stream.size() && std::equal(again.begin(), again.end(), stream.begin()),
        "re-encoded frames differ from the input");
  if (whole.status == decode_status::need_more)
    check(again.size() + whole.buffered == stream.size(), "bytes lost while waiting for more");
  return 0;
}
