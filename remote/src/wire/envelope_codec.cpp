#include "troupe/remote/wire/envelope_codec.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>
#include <string>

namespace troupe::remote::wire {
namespace {

constexpr std::uint8_t flag_sender = 0x01;
constexpr std::uint8_t flag_system = 0x02;
constexpr std::uint8_t known_flags = flag_sender | flag_system;

// Reads the body front to back; the first problem met is kept and every later read
// returns an empty value, so the decoder reads straight through and checks once.
class body_reader {
 public:
  explicit body_reader(std::span<const std::uint8_t> body) : rest_(body), size_(body.size()) {}

  std::uint8_t byte(const char* field) {
    field_start_ = offset();
    if (!ok()) return 0;
    if (rest_.empty()) {
      fail(field, "is missing: the body ends");
      return 0;
    }
    const std::uint8_t b = rest_.front();
    rest_ = rest_.subspan(1);
    return b;
  }

  std::uint64_t varint(const char* field, std::uint64_t max = std::numeric_limits<std::uint64_t>::max()) {
    field_start_ = offset();
    if (!ok()) return 0;
    if (!rest_.empty() && rest_.front() < 0x80 && rest_.front() <= max) {  // one byte: most fields
      const std::uint64_t v = rest_.front();
      rest_ = rest_.subspan(1);
      return v;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0;; ++i) {
      const char* problem = nullptr;
      const std::uint8_t b = i < rest_.size() ? rest_[i] : 0;
      if (i == rest_.size()) problem = "is truncated: the body ends inside a varint";
      else if (i == 9 && b > 1) problem = "overflows 64 bits";  // the 10th byte holds bit 63 only
      else if (b == 0 && i > 0) problem = "is not in shortest form";
      if (problem) {
        fail(field, problem);
        return 0;
      }
      v |= std::uint64_t{b & 0x7Fu} << (7 * i);
      if (b & 0x80) continue;
      rest_ = rest_.subspan(i + 1);
      if (v > max) {
        fail(field, "is " + std::to_string(v) + ", above " + std::to_string(max));
        return 0;
      }
      return v;
    }
  }

  std::span<const std::uint8_t> bytes(const char* field) {
    const std::uint64_t n = varint(field);  // sets field_start_
    if (!ok()) return {};
    if (n > rest_.size()) {
      fail(field, "claims " + std::to_string(n) + " bytes but only " +
                      std::to_string(rest_.size()) + " remain");
      return {};
    }
    auto b = rest_.first(static_cast<std::size_t>(n));
    rest_ = rest_.subspan(static_cast<std::size_t>(n));
    return b;
  }

  std::string_view text(const char* field) {
    const auto b = bytes(field);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }

  // A problem found after the field was read, reported where the unread bytes start.
  void fail_at_end(const char* field, std::string problem) {
    field_start_ = offset();
    fail(field, std::move(problem));
  }

  bool ok() const noexcept { return error_.empty(); }
  bool at_end() const noexcept { return rest_.empty(); }
  std::size_t remaining() const noexcept { return rest_.size(); }
  std::size_t offset() const noexcept { return size_ - rest_.size(); }
  const std::string& error() const noexcept { return error_; }

  // Reasons give the offset where the field at fault starts.
  void fail(const char* field, std::string problem) {
    if (!ok()) return;
    error_ = "malformed envelope: " + std::string(field) + " " + problem + " (at byte " +
             std::to_string(field_start_) + " of " + std::to_string(size_) + ")";
  }

 private:
  std::span<const std::uint8_t> rest_;
  std::size_t size_;
  std::size_t field_start_ = 0;
  std::string error_;
};

std::size_t sized(std::size_t n) noexcept { return varint_size(n) + n; }

}  // namespace

std::size_t varint_size(std::uint64_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void append_varint(byte_buffer& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(v));
}

bool same_envelope(const envelope& a, const envelope& b) noexcept {
  return a.recipient_path == b.recipient_path && a.recipient_uid == b.recipient_uid &&
         a.sender == b.sender && a.serializer == b.serializer && a.manifest == b.manifest &&
         std::ranges::equal(a.payload, b.payload) && a.seq == b.seq;
}

std::size_t encoded_size(const envelope& e) noexcept {
  std::size_t n = 1;
  if (e.seq) n += varint_size(*e.seq);
  n += sized(e.recipient_path.size()) + varint_size(e.recipient_uid);
  if (e.sender) n += sized(e.sender->address.size()) + sized(e.sender->path.size()) + varint_size(e.sender->uid);
  n += varint_size(e.serializer) + sized(e.manifest.size()) + sized(e.payload.size());
  return n;
}

namespace {

// Writers into space already sized by encoded_size: no capacity check per byte.
std::uint8_t* put_varint(std::uint8_t* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::uint8_t>(v);
  return p;
}

std::uint8_t* put_bytes(std::uint8_t* p, const void* data, std::size_t n) noexcept {
  p = put_varint(p, n);
  if (n != 0) std::memcpy(p, data, n);
  return p + n;
}

std::uint8_t* put_text(std::uint8_t* p, std::string_view s) noexcept { return put_bytes(p, s.data(), s.size()); }

void encode_sized(byte_buffer& out, const envelope& e, std::size_t size) {
  const std::size_t start = out.size();
  // Grow geometrically: `out` is often a batch of many frames being written.
  if (start + size > out.capacity()) out.reserve(std::max(start + size, 2 * out.capacity()));
  out.resize(start + size);
  std::uint8_t* p = out.data() + start;
  *p++ = static_cast<std::uint8_t>((e.sender ? flag_sender : 0) | (e.seq ? flag_system : 0));
  if (e.seq) p = put_varint(p, *e.seq);
  p = put_text(p, e.recipient_path);
  p = put_varint(p, e.recipient_uid);
  if (e.sender) {
    p = put_text(p, e.sender->address);
    p = put_text(p, e.sender->path);
    p = put_varint(p, e.sender->uid);
  }
  p = put_varint(p, e.serializer);
  p = put_text(p, e.manifest);
  p = put_bytes(p, e.payload.data(), e.payload.size());
  assert(p == out.data() + out.size());
}

}  // namespace

void encode_envelope(byte_buffer& out, const envelope& e) { encode_sized(out, e, encoded_size(e)); }

std::optional<frame_too_large> append_envelope_frame(byte_buffer& out, const envelope& e,
                                                     std::size_t max_body_size) {
  // Refuse before writing anything: the payload may be megabytes.
  const std::size_t size = encoded_size(e);
  if (size > std::min(max_body_size, max_possible_body_size))
    return frame_too_large{frame_type::envelope, size, std::min(max_body_size, max_possible_body_size)};
  const std::size_t start = begin_frame(out, frame_type::envelope);
  encode_sized(out, e, size);
  return end_frame(out, start, max_body_size);
}

result<envelope> decode_envelope(std::span<const std::uint8_t> body) {
  body_reader r(body);
  envelope e;
  // 1. Flags: unknown bits mean a format this node does not know.
  const std::uint8_t flags = r.byte("flags");
  if (r.ok() && (flags & ~known_flags) != 0)
    r.fail("flags", "has reserved bits set (" + std::to_string(flags) + ")");
  // 2. Fields in order, each length checked against what remains.
  if (flags & flag_system) e.seq = r.varint("sequence number");
  e.recipient_path = r.text("recipient path");
  e.recipient_uid = r.varint("recipient uid");
  if (flags & flag_sender) {
    sender_ref s;
    s.address = r.text("sender address");
    s.path = r.text("sender path");
    s.uid = r.varint("sender uid");
    e.sender = s;
  }
  e.serializer = static_cast<std::uint32_t>(r.varint("serializer id", std::numeric_limits<std::uint32_t>::max()));
  e.manifest = r.text("manifest");
  e.payload = r.bytes("payload");
  // 3. The payload ends the body exactly.
  if (r.ok() && !r.at_end())
    r.fail_at_end("body", "has " + std::to_string(r.remaining()) + " bytes after the payload");
  if (!r.ok()) return failure{r.error()};
  return e;
}

}  // namespace troupe::remote::wire
