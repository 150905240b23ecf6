// postgres_wire: PostgreSQL's binary forms of the values the plugin sends and reads, as
// pure functions over bytes (no libpq): int8, one-dimensional arrays (the parameters of
// the multi-row INSERTs, which unnest them), and the plugin's own form of an event's tags.
//
//   pg_array ids(pg_oid::text);
//   for (auto& e : events) ids.add(e.persistence_id);
//   std::string param = ids.finish();      // a binary parameter of type text[]
//
// The format: src/backend/utils/adt/arrayfuncs.c (array_send / array_recv) and
// src/backend/libpq/pqformat.c of PostgreSQL; integers are big-endian.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::persistence::pg {

/// The type oids the plugin uses (src/include/catalog/pg_type.dat).
enum class pg_oid : std::uint32_t { bytea = 17, int8 = 20, text = 25 };

inline void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

inline void put_be64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

inline std::uint32_t get_be32(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

inline std::uint64_t get_be64(std::string_view in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

/// An int8 in binary form.
inline std::string int8_value(std::int64_t v) {
  std::string out;
  put_be64(out, static_cast<std::uint64_t>(v));
  return out;
}

/// An int8 read back; nullopt when `in` is not 8 bytes.
inline std::optional<std::int64_t> read_int8(std::string_view in) {
  if (in.size() != 8) return std::nullopt;
  return static_cast<std::int64_t>(get_be64(in));
}

/// A one-dimensional array without NULLs, built element by element.
class pg_array {
 public:
  explicit pg_array(pg_oid element) : element_(element) {}

  void add(std::string_view bytes) {
    put_be32(elements_, static_cast<std::uint32_t>(bytes.size()));
    elements_.append(bytes);
    ++count_;
  }
  void add_int8(std::int64_t v) {
    put_be32(elements_, 8);
    put_be64(elements_, static_cast<std::uint64_t>(v));
    ++count_;
  }
  std::size_t size() const noexcept { return count_; }

  /// The array in binary form: ndim, has-nulls, element oid, then (length, lower bound 1)
  /// and the elements (each length-prefixed); ndim 0 and no dimension when empty.
  std::string finish() const {
    std::string out;
    out.reserve(20 + elements_.size());
    put_be32(out, count_ == 0 ? 0 : 1);
    put_be32(out, 0);
    put_be32(out, static_cast<std::uint32_t>(element_));
    if (count_ != 0) {
      put_be32(out, static_cast<std::uint32_t>(count_));
      put_be32(out, 1);
    }
    out.append(elements_);
    return out;
  }

 private:
  pg_oid element_;
  std::string elements_;
  std::size_t count_ = 0;
};

/// The tags of an event as one bytea: each a 4-byte big-endian length, then its bytes.
inline std::string encode_tags(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) {
    put_be32(out, static_cast<std::uint32_t>(t.size()));
    out.append(t);
  }
  return out;
}

/// encode_tags read back; nullopt when truncated.
inline std::optional<std::vector<std::string>> decode_tags(std::string_view in) {
  std::vector<std::string> out;
  while (!in.empty()) {
    if (in.size() < 4) return std::nullopt;
    const std::uint32_t len = get_be32(in);
    in.remove_prefix(4);
    if (in.size() < len) return std::nullopt;
    out.emplace_back(in.substr(0, len));
    in.remove_prefix(len);
  }
  return out;
}

/// FNV-1a (Fowler, Noll, Vo), 64 bits: a stable key for pg_advisory_lock from a name.
inline std::int64_t advisory_key(std::string_view name) {
  std::uint64_t h = 14695981039346656037ULL;
  for (const char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return static_cast<std::int64_t>(h);
}

}  // namespace troupe::persistence::pg
