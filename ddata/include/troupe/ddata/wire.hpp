// wire: the flat binary layout of ddata values, and a writer and a reader for it.
//
//   value:    0x01 (layout version) | replica table | body
//   table:    varint count | per replica: text system, text host, varint port, varint uid
//   body:     the type's fields (codec.hpp); a replica is a varint index into the table
//   varint:   unsigned LEB128, at most 10 bytes;  zigzag: signed, as protobuf's sint64
//   text:     varint length | bytes
//
// Each replica is written once per value however many counters and dots name it, as the
// cluster's gossip does with its address table. The reader is fed untrusted bytes: every
// problem is a `decode_error` whose message names the field ("entries[2].dots[0].replica:
// index 7 of a table of 3"), counts are checked against the bytes left before anything is
// allocated, and no input makes it crash; `decode` (codec.hpp) turns the exception into an
// error value.
//
// Pure: standard library only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "troupe/ddata/replica_id.hpp"

namespace troupe::ddata::wire {

/// Encoded bytes.
using bytes = std::vector<std::uint8_t>;

/// The layout version, the first byte of every value.
inline constexpr std::uint8_t layout_version = 1;

/// A decoding problem: "<field path>: <problem>".
struct decode_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Writes one value: fields into the body, replicas into the table.
class writer {
 public:
  /// One byte.
  void byte(std::uint8_t b) { body_.push_back(b); }
  /// Unsigned LEB128.
  void varint(std::uint64_t v);
  /// Zigzag then LEB128.
  void zigzag(std::int64_t v) {
    varint((static_cast<std::uint64_t>(v) << 1) ^ (v < 0 ? ~std::uint64_t{0} : std::uint64_t{0}));
  }
  /// Length, then the bytes.
  void text(std::string_view t);
  /// The replica's index in the table (added on first use).
  void replica(const replica_id& r);
  /// Version, table and body.
  bytes finish() const;

 private:
  bytes body_;
  std::map<replica_id, std::uint64_t> index_;
  std::vector<const replica_id*> table_;  // keys of index_, in index order
};

/// Reads one value written by `writer`; throws `decode_error` naming the field.
class reader {
 public:
  /// Reads the version and the table.
  explicit reader(std::span<const std::uint8_t> wire);

  /// Names the field read until the scope ends, for error messages.
  class scope {
   public:
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;
    ~scope() { r_.path_.pop_back(); }

   private:
    friend class reader;
    explicit scope(reader& r) : r_(r) {}
    reader& r_;
  };
  /// "name" until the scope ends.
  [[nodiscard]] scope field(const char* name) {
    path_.emplace_back(name, 0);
    return scope(*this);
  }
  /// "[i]" until the scope ends.
  [[nodiscard]] scope item(std::size_t i) {
    path_.emplace_back(nullptr, i);
    return scope(*this);
  }

  /// One byte.
  std::uint8_t byte();
  /// Unsigned LEB128.
  std::uint64_t varint();
  /// Zigzag LEB128.
  std::int64_t zigzag() {
    const std::uint64_t u = varint();
    return static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  /// Length-prefixed bytes.
  std::string text();
  /// A replica by its table index.
  const replica_id& replica();
  /// A count of items that take at least one byte each: no larger than the bytes left.
  std::size_t count();
  /// Fails when bytes are left over.
  void finish() const;

  /// Throws `decode_error("<path>: <problem>")`.
  [[noreturn]] void fail(std::string_view problem) const;

 private:
  std::span<const std::uint8_t> in_;
  std::vector<replica_id> table_;
  std::vector<std::pair<const char*, std::size_t>> path_;  // a field name, or an index (nullptr)
};

}  // namespace troupe::ddata::wire
