// Fuzzes the handshake: input = [mode][frame stream]. Mode bit 0: both sides have the
// cookie; bit 1: play the client (default: the server). The stream is cut into frames and
// fed to one side's state machine; its answers must be well-formed frames, its status may
// only move forward, and every handshake message in the input that decodes must survive
// encode -> decode unchanged.
#include "fuzz_common.hpp"
#include "troupe/remote/wire/handshake.hpp"

using namespace troupe::remote::wire;
using troupe::remote::wire::fuzz::check;

namespace {

template <class Decode>
void round_trips(std::span<const std::uint8_t> body, Decode decode) {
  const auto m = decode(body);
  if (!m) {
    check(!m.error().empty(), "a failure without a reason");
    return;
  }
  const auto back = decode(encode(*m));
  check(back.has_value() && *back == *m, "a handshake message changed through encoding");
}

void use_message(frame_type type, std::span<const std::uint8_t> body) {
  switch (type) {
    case frame_type::hello: return round_trips(body, decode_hello);
    case frame_type::challenge: return round_trips(body, decode_challenge);
    case frame_type::proof: return round_trips(body, decode_proof);
    case frame_type::accepted: return round_trips(body, decode_accepted);
    case frame_type::rejected: return round_trips(body, decode_rejected);
    default: return;
  }
}

// What a side sends must be whole, decodable handshake frames.
void check_output(const byte_buffer& out) {
  frame_decoder d(max_possible_body_size);
  const auto s = d.feed(out, [](frame_view f) {
    check(is_handshake(f.type), "a handshake sent a non-handshake frame");
    switch (f.type) {
      case frame_type::hello: check(decode_hello(f.body).has_value(), "sent a bad hello"); break;
      case frame_type::challenge: check(decode_challenge(f.body).has_value(), "sent a bad challenge"); break;
      case frame_type::proof: check(decode_proof(f.body).has_value(), "sent a bad proof"); break;
      case frame_type::accepted: check(decode_accepted(f.body).has_value(), "sent a bad accepted"); break;
      case frame_type::rejected: check(decode_rejected(f.body).has_value(), "sent a bad rejected"); break;
      default: break;
    }
  });
  check(s == decode_status::need_more && d.at_frame_boundary(), "sent a broken frame stream");
}

template <class Side>
void drive(Side& side, std::span<const std::uint8_t> stream) {
  frame_decoder d(max_handshake_body_size);
  d.feed(stream, [&](frame_view f) {
    use_message(f.type, f.body);
    const handshake_status before = side.status();
    const handshake_step step = side.on_frame(f);
    check_output(step.to_send);
    check(step.status == side.status(), "step and side disagree on the status");
    check(before == handshake_status::in_progress || step.status == handshake_status::failed,
          "a finished handshake went on");
    check(before != handshake_status::failed || step.to_send.empty(), "a failed handshake spoke");
    check((step.status == handshake_status::failed) == !step.reason.empty(),
          "a failure without a reason, or a reason without a failure");
    if (step.status == handshake_status::established) check(side.peer().node.uid != 0, "a peer with uid 0");
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool with_cookie = data[0] & 1;
  const std::span<const std::uint8_t> stream(data + 1, size - 1);
  if (data[0] & 2) {
    client_handshake c(fuzz::client_settings(with_cookie), fuzz::client_nonce());
    check_output(c.start().to_send);
    drive(c, stream);
  } else {
    server_handshake s(fuzz::server_settings(with_cookie), fuzz::server_nonce());
    drive(s, stream);
  }
  return 0;
}
