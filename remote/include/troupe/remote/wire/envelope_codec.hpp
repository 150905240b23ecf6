// envelope_codec: the body of an `envelope` frame, one user or system message.
//
// Compact binary, since every message pays for it. `varint` is unsigned LEB128 (7 bits
// per byte, low groups first, at most 10 bytes, shortest form only); `string` is a varint
// byte count and that many bytes:
//
//   u8      flags      bit 0: sender present; bit 1: system message; bits 2-7: zero
//   varint  seq        system messages only: their sequence number on this association
//   string  recipient path          ("/user/a/b")
//   varint  recipient uid
//   string  sender address          sender present only ("troupe://sys@host:port", or
//   string  sender path              "" for "the node at the other end of this connection")
//   varint  sender uid
//   varint  serializer id           (at most 2^32 - 1)
//   string  manifest
//   varint  payload size            must be exactly the bytes left
//   bytes   payload
//
// Every length is checked against the bytes that remain; a truncated body, a length that
// runs past the end, trailing bytes, a non-shortest varint or a set reserved flag bit is an
// error value naming the field, never a read past the end. Decoding is strict so that
// `encode(decode(b)) == b` for every body `b` that decodes (the fuzz target checks it).
//
//   wire::envelope e{.recipient_path = "/user/echo", .recipient_uid = 7,
//                    .serializer = 2, .manifest = "", .payload = bytes};
//   if (auto too_big = wire::append_envelope_frame(out, e, settings.max_frame_size))
//     dead_letter(too_big->reason());
//   ...
//   wire::result<wire::envelope> d = wire::decode_envelope(frame.body);  // views into body
//
// Pure: links only the standard library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "troupe/remote/wire/frame.hpp"
#include "troupe/remote/wire/result.hpp"

namespace troupe::remote::wire {

/// The actor that sent a message (its reply-to).
struct sender_ref {
  std::string_view address;  ///< "troupe://sys@host:port"; "" = the peer node itself
  std::string_view path;     ///< "/user/a"
  std::uint64_t uid = 0;     ///< the actor's incarnation

  friend bool operator==(const sender_ref&, const sender_ref&) = default;
};

/// One message. Every view points into the caller's strings (to encode) or into the
/// frame body (after decoding): keep that alive while the envelope is used.
struct envelope {
  std::string_view recipient_path;  ///< "/user/a/b" on the receiving node
  std::uint64_t recipient_uid = 0;  ///< 0: any incarnation
  std::optional<sender_ref> sender;
  std::uint32_t serializer = 0;  ///< serialization id (see troupe/remote/serialization.hpp)
  std::string_view manifest;     ///< the type's name for that serializer
  std::span<const std::uint8_t> payload;
  std::optional<std::uint64_t> seq;  ///< set for system messages: sequenced and acked

  /// True for a system message (watch, unwatch, terminated, supervision).
  bool is_system() const noexcept { return seq.has_value(); }
};

/// True when both envelopes carry the same fields and bytes.
bool same_envelope(const envelope& a, const envelope& b) noexcept;

/// Bytes `encode_envelope` appends for `e`.
std::size_t encoded_size(const envelope& e) noexcept;
/// Appends the body of `e` (no frame header) to `out`.
void encode_envelope(byte_buffer& out, const envelope& e);
/// Appends a whole envelope frame; when its body is above `max_body_size`, appends
/// nothing and returns why (the sender's "message too large" error).
[[nodiscard]] std::optional<frame_too_large> append_envelope_frame(
    byte_buffer& out, const envelope& e, std::size_t max_body_size = default_max_body_size);
/// The envelope in `body`; its views point into `body`.
result<envelope> decode_envelope(std::span<const std::uint8_t> body);

/// The varint primitives of the format, for other binary codecs of the wire.
/// Appends `v` as unsigned LEB128.
void append_varint(byte_buffer& out, std::uint64_t v);
/// Bytes `append_varint` writes for `v` (1 to 10).
std::size_t varint_size(std::uint64_t v) noexcept;

}  // namespace troupe::remote::wire
