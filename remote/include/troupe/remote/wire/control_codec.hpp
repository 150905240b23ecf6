// control_codec: the body of a `control` frame, the transport's own protocol messages.
//
// Each is a CBOR map with a "kind" text key and that kind's fields; unknown keys are
// ignored and a kind this node does not know decodes to `unknown_control` (log it and go
// on), so a newer node can add kinds and fields during a rolling upgrade. A missing or
// mistyped field of a known kind is an error value naming it.
//
//   kind             fields                    meaning
//   "heartbeat"      seq?: u64                 are you there? (watch failure detector)
//   "heartbeat_rsp"  seq?: u64                 yes (echoes the heartbeat's seq)
//   "system_ack"     seq: u64                  every system message up to seq arrived
//   "system_nack"    seq: u64                  up to seq arrived, the next one is missing:
//                                              resend from seq + 1 now (Artery's Nack)
//   "quarantined"    from, to: {system, host,  `from` quarantined `to`: never talk again
//                    port, uid}
//   "flush"          -                         the sender is shutting down this association
//   "flush_ack"      -                         everything before the flush was handled
//
//   byte_buffer out;
//   (void)wire::append_control_frame(out, wire::system_ack{42});
//   ...
//   auto m = wire::decode_control(frame.body);
//   if (!m) close_connection(m.error());
//   else if (auto* ack = std::get_if<wire::system_ack>(&*m)) resend_buffer.ack(ack->seq);
//
// Pure: links nlohmann_json (CBOR).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "troupe/remote/wire/frame.hpp"
#include "troupe/remote/wire/node_address.hpp"
#include "troupe/remote/wire/result.hpp"

namespace troupe::remote::wire {

/// Are you there? (the watch failure detector's probe)
struct heartbeat {
  std::optional<std::uint64_t> seq;
  friend bool operator==(const heartbeat&, const heartbeat&) = default;
};
/// Yes: the answer to a heartbeat, echoing its seq.
struct heartbeat_rsp {
  std::optional<std::uint64_t> seq;
  friend bool operator==(const heartbeat_rsp&, const heartbeat_rsp&) = default;
};
/// Every system message up to `seq` arrived (cumulative).
struct system_ack {
  std::uint64_t seq = 0;
  friend bool operator==(const system_ack&, const system_ack&) = default;
};
/// Up to `seq` arrived and `seq + 1` is missing: resend from there now.
struct system_nack {
  std::uint64_t seq = 0;
  friend bool operator==(const system_nack&, const system_nack&) = default;
};
/// `from` quarantined `to`: neither will talk to the other again.
struct quarantined {
  unique_node_address from;
  unique_node_address to;
  friend bool operator==(const quarantined&, const quarantined&) = default;
};
/// The sender is about to close this association.
struct flush {
  friend bool operator==(const flush&, const flush&) = default;
};
/// Everything sent before the flush was handled.
struct flush_ack {
  friend bool operator==(const flush_ack&, const flush_ack&) = default;
};
/// A kind from a newer node; its fields are not kept, its name is made printable (64 bytes).
struct unknown_control {
  std::string kind;
  friend bool operator==(const unknown_control&, const unknown_control&) = default;
};

/// Any control message.
using control_message = std::variant<heartbeat, heartbeat_rsp, system_ack, system_nack,
                                     quarantined, flush, flush_ack, unknown_control>;

/// Its "kind" key: "heartbeat", ..., or the unknown kind's own name.
std::string_view kind_of(const control_message& m) noexcept;

/// Appends the CBOR body of `m` to `out`.
void encode_control(byte_buffer& out, const control_message& m);
/// Appends a whole control frame; when its body is above `max_body_size`, appends nothing
/// and returns why.
[[nodiscard]] std::optional<frame_too_large> append_control_frame(
    byte_buffer& out, const control_message& m, std::size_t max_body_size = default_max_body_size);
/// The control message in `body`.
result<control_message> decode_control(std::span<const std::uint8_t> body);

}  // namespace troupe::remote::wire
