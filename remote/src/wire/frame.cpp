#include "troupe/remote/wire/frame.hpp"

#include <algorithm>
#include <cassert>

namespace troupe::remote::wire {
namespace {

// A buffer that held a big split frame is released rather than kept per idle connection.
constexpr std::size_t keep_buffer_capacity = 64 * 1024;

void put_u32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t get_u32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::string hex_byte(std::uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  return {'0', 'x', digits[b >> 4], digits[b & 0xF]};
}

}  // namespace

std::string_view to_string(frame_type t) noexcept {
  switch (t) {
    case frame_type::hello: return "hello";
    case frame_type::challenge: return "challenge";
    case frame_type::proof: return "proof";
    case frame_type::accepted: return "accepted";
    case frame_type::rejected: return "rejected";
    case frame_type::envelope: return "envelope";
    case frame_type::control: return "control";
    case frame_type::chunk: return "chunk";
  }
  return "unknown";
}

bool is_frame_type(std::uint8_t b) noexcept {
  return to_string(static_cast<frame_type>(b)) != "unknown";
}

bool is_handshake(frame_type t) noexcept {
  return t >= frame_type::hello && t <= frame_type::rejected;
}

std::string frame_too_large::reason() const {
  return std::string(to_string(type)) + " frame body of " + std::to_string(body_size) +
         " bytes exceeds the maximum of " + std::to_string(max_body_size) +
         " bytes (max-frame-size)";
}

std::optional<frame_too_large> append_frame(byte_buffer& out, frame_type type,
                                            std::span<const std::uint8_t> body,
                                            std::size_t max_body_size) {
  max_body_size = std::min(max_body_size, max_possible_body_size);
  if (body.size() > max_body_size) return frame_too_large{type, body.size(), max_body_size};
  const std::size_t start = out.size();
  out.resize(start + frame_header_size);
  put_u32(out.data() + start, static_cast<std::uint32_t>(body.size() + 1));
  out[start + 4] = static_cast<std::uint8_t>(type);
  out.insert(out.end(), body.begin(), body.end());
  return std::nullopt;
}

std::size_t begin_frame(byte_buffer& out, frame_type type) {
  const std::size_t start = out.size();
  out.resize(start + frame_header_size);
  out[start + 4] = static_cast<std::uint8_t>(type);
  return start;
}

std::optional<frame_too_large> end_frame(byte_buffer& out, std::size_t frame_start,
                                         std::size_t max_body_size) {
  assert(frame_start + frame_header_size <= out.size());
  max_body_size = std::min(max_body_size, max_possible_body_size);
  const std::size_t body_size = out.size() - frame_start - frame_header_size;
  if (body_size > max_body_size) {
    const auto type = static_cast<frame_type>(out[frame_start + 4]);
    out.resize(frame_start);
    return frame_too_large{type, body_size, max_body_size};
  }
  put_u32(out.data() + frame_start, static_cast<std::uint32_t>(body_size + 1));
  return std::nullopt;
}

frame_decoder::frame_decoder(std::size_t max_body_size)
    : max_body_size_(std::min(max_body_size, max_possible_body_size)) {}

void frame_decoder::set_max_body_size(std::size_t max_body_size) noexcept {
  max_body_size_ = std::min(max_body_size, max_possible_body_size);
}

std::size_t frame_decoder::buffered() const noexcept {
  return delivered_from_buffer_ ? 0 : header_size_ + body_.size();
}

decode_status frame_decoder::fail(std::string reason) {
  error_ = std::move(reason);
  header_size_ = 0;
  body_ = byte_buffer();
  return decode_status::bad;
}

decode_status frame_decoder::check_length() {
  length_ = get_u32(header_);
  if (length_ == 0) return fail("frame length 0: a frame holds at least its type byte");
  if (length_ - 1 > max_body_size_)
    return fail("frame length " + std::to_string(length_) + " announces a body of " +
                std::to_string(length_ - 1) + " bytes, above the maximum of " +
                std::to_string(max_body_size_) + " bytes (max-frame-size)");
  return decode_status::good;
}

decode_status frame_decoder::next(std::span<const std::uint8_t>& input, frame_view& frame) {
  if (is_bad()) return decode_status::bad;
  // 1. The body handed out by the previous call is no longer needed.
  if (delivered_from_buffer_) {
    delivered_from_buffer_ = false;
    if (body_.capacity() > keep_buffer_capacity) body_ = byte_buffer();
    else body_.clear();
  }

  // 2. The header: the length is checked as soon as its 4 bytes are in, the type at the 5th,
  //    so a bad prefix is refused before any body byte is buffered.
  while (header_size_ < frame_header_size) {
    if (input.empty()) return decode_status::need_more;
    header_[header_size_++] = input.front();
    input = input.subspan(1);
    if (header_size_ == 4 && check_length() == decode_status::bad) return decode_status::bad;
  }
  if (!is_frame_type(header_[4])) return fail("unknown frame type " + hex_byte(header_[4]));
  const auto type = static_cast<frame_type>(header_[4]);
  const std::size_t body_size = length_ - 1;

  // 3. A body wholly in `input` is handed out in place.
  if (body_.empty() && input.size() >= body_size) {
    frame = frame_view{type, input.first(body_size)};
    input = input.subspan(body_size);
    header_size_ = 0;
    return decode_status::good;
  }

  // 4. Otherwise gather it, growing the buffer no further than this body.
  const std::size_t take = std::min(body_size - body_.size(), input.size());
  if (body_.capacity() < body_.size() + take)
    body_.reserve(std::min(body_size, std::max(body_.size() + take, 2 * body_.capacity())));
  body_.insert(body_.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(take));
  input = input.subspan(take);
  if (body_.size() < body_size) return decode_status::need_more;
  frame = frame_view{type, std::span<const std::uint8_t>(body_)};
  delivered_from_buffer_ = true;
  header_size_ = 0;
  return decode_status::good;
}

}  // namespace troupe::remote::wire
