// frame: the unit on a troupe TCP connection, and its incremental decoder.
//
// Layout (all integers big-endian):
//
//   +----------------+------------+---------------------------+
//   | u32 length     | u8 type    | body (length - 1 bytes)   |
//   +----------------+------------+---------------------------+
//     length counts the type byte and the body: it is never 0.
//
// Types: the handshake messages (hello, challenge, proof, accepted, rejected; see
// handshake.hpp), `envelope` (a user or system message, envelope_codec.hpp), `control`
// (internal protocol messages, control_codec.hpp) and `chunk` (reserved for the large lane).
//
// The size limit applies to the body (the bytes after the type byte); settings'
// `max-frame-size` (256 KiB by default, Artery's figure) is that limit on the ordinary and
// control lanes, `max-large-frame-size` on the large lane. The sender refuses a larger body
// (`append_frame` returns `frame_too_large`, nothing is written); the receiver's decoder
// refuses a larger length prefix before it buffers a single body byte.
//
// The decoder is a pure incremental parser in the manner of Boost.Asio's HTTP server
// example: feed it whatever the socket read, in any split, and it yields whole frames.
//
//   wire::frame_decoder decoder(settings.max_frame_size);
//   auto status = decoder.feed(std::span(read_buffer.data(), n), [&](wire::frame_view f) {
//     dispatch(f.type, f.body);        // f.body is valid during this call only
//   });
//   if (status == wire::decode_status::bad) close_connection(decoder.error());
//
// A frame wholly inside the fed bytes is handed out as a view into them (no copy); only a
// frame split across reads is gathered in the decoder's buffer, which never holds more
// than one frame body (at most the maximum).
//
// Pure: no I/O, no clock, no allocation beyond one frame body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::remote::wire {

/// Bytes on the wire.
using byte_buffer = std::vector<std::uint8_t>;

/// What a frame carries; the byte after the length prefix.
enum class frame_type : std::uint8_t {
  hello = 1,       ///< handshake: client -> server, first frame of a connection
  challenge = 2,   ///< handshake: server -> client
  proof = 3,       ///< handshake: client -> server
  accepted = 4,    ///< handshake: server -> client, the connection is established
  rejected = 5,    ///< handshake: either side, with a reason; the connection closes
  envelope = 16,   ///< a user or system message (envelope_codec.hpp)
  control = 17,    ///< an internal protocol message (control_codec.hpp)
  chunk = 18,      ///< reserved for the large lane (a message split over frames); no codec yet
};

/// "hello", "challenge", ..., or "unknown" for a value that is not a frame type.
std::string_view to_string(frame_type t) noexcept;
/// True when `b` is the value of a `frame_type`.
bool is_frame_type(std::uint8_t b) noexcept;
/// True for hello, challenge, proof, accepted and rejected.
bool is_handshake(frame_type t) noexcept;

/// Bytes before the body: the u32 length and the type byte.
inline constexpr std::size_t frame_header_size = 5;
/// Default body limit on the ordinary and control lanes: 256 KiB.
inline constexpr std::size_t default_max_body_size = 256 * 1024;
/// Body limit for a connection until its handshake completes (handshake messages are small).
inline constexpr std::size_t max_handshake_body_size = 4096;
/// The largest limit a u32 length prefix can express.
inline constexpr std::size_t max_possible_body_size = 0xFFFFFFFEu;

/// One decoded frame. `body` points into the bytes fed to the decoder or into its buffer.
struct frame_view {
  frame_type type = frame_type::envelope;  ///< what the body holds
  std::span<const std::uint8_t> body;      ///< the bytes after the type byte
};

/// Why `append_frame` refused a frame; nothing was written.
struct frame_too_large {
  frame_type type = frame_type::envelope;
  std::size_t body_size = 0;      ///< the body the sender asked for
  std::size_t max_body_size = 0;  ///< the limit it exceeds
  /// "envelope frame body of 300000 bytes exceeds the maximum of 262144 bytes (max-frame-size)".
  std::string reason() const;
};

/// Appends `[length][type][body]` to `out`; when `body` is above `max_body_size`, appends
/// nothing and returns why.
[[nodiscard]] std::optional<frame_too_large> append_frame(byte_buffer& out, frame_type type,
                                                          std::span<const std::uint8_t> body,
                                                          std::size_t max_body_size = default_max_body_size);

/// For encoders writing a body in place: appends a header with a length to be patched and
/// returns the frame's offset in `out`. Append the body to `out`, then call `end_frame`.
std::size_t begin_frame(byte_buffer& out, frame_type type);
/// Patches the length of the frame begun at `frame_start`; when its body is above
/// `max_body_size`, removes the frame from `out` (back to `frame_start`) and returns why.
[[nodiscard]] std::optional<frame_too_large> end_frame(byte_buffer& out, std::size_t frame_start,
                                                       std::size_t max_body_size = default_max_body_size);

/// What a decoding step ended with (Asio's good / bad / indeterminate).
enum class decode_status : std::uint8_t {
  good,       ///< a whole frame was decoded
  need_more,  ///< every byte fed was consumed; the next frame is incomplete
  bad,        ///< the stream is malformed (see `frame_decoder::error()`); close the connection
};

/// Incremental frame parser for one connection's inbound byte stream.
class frame_decoder {
 public:
  /// A decoder refusing bodies above `max_body_size` (clamped to `max_possible_body_size`).
  explicit frame_decoder(std::size_t max_body_size = default_max_body_size);

  /// Decodes at most one frame from the front of `input` and drops the bytes it consumed
  /// from `input`. On `good`, `frame` is set; its body is valid until the next call and
  /// while the bytes fed stay unchanged. On `need_more`, `input` is empty.
  /// Once `bad`, the decoder stays bad: every later call returns `bad`.
  decode_status next(std::span<const std::uint8_t>& input, frame_view& frame);

  /// Decodes every frame in `input`, calling `on_frame(frame_view)` for each in order;
  /// returns `need_more` when all of `input` was consumed, or `bad` at the first error
  /// (frames before it were delivered). The view is valid during the call only.
  template <class OnFrame>
  decode_status feed(std::span<const std::uint8_t> input, OnFrame&& on_frame) {
    frame_view f;
    for (;;) {
      const decode_status s = next(input, f);
      if (s != decode_status::good) return s;
      on_frame(f);
    }
  }

  /// Why the stream is bad; empty while it is not.
  const std::string& error() const noexcept { return error_; }
  /// True after a `bad` status.
  bool is_bad() const noexcept { return !error_.empty(); }
  /// The body limit in force.
  std::size_t max_body_size() const noexcept { return max_body_size_; }
  /// Changes the limit, e.g. from `max_handshake_body_size` to the lane's limit once the
  /// handshake is done; it applies from the next length prefix read.
  void set_max_body_size(std::size_t max_body_size) noexcept;
  /// True when no partial frame is pending (the stream may end here cleanly).
  bool at_frame_boundary() const noexcept { return header_size_ == 0 && !is_bad(); }
  /// Bytes of the current partial frame held by the decoder (header and body).
  std::size_t buffered() const noexcept;

 private:
  decode_status fail(std::string reason);
  decode_status check_length();

  std::size_t max_body_size_;
  std::uint8_t header_[frame_header_size] = {};
  std::size_t header_size_ = 0;  // header bytes read of the current frame
  std::uint32_t length_ = 0;     // valid once 4 header bytes are in
  byte_buffer body_;             // a body split across feeds
  bool delivered_from_buffer_ = false;
  std::string error_;
};

}  // namespace troupe::remote::wire
