// codec: every ddata value, and every delta (a value of the same type), as bytes and back.
//
//   const wire::bytes b = encode(counter);
//   expected<gcounter, ddata_error> back = decode<gcounter>(b);
//   if (!back) log(back.error().message);   // "ddata.gcounter: counts[1].count: truncated"
//   assert(*back == counter);
//
// `wire_codec<T>` writes and reads the body of a `T` (layout in wire.hpp). Provided for
// std::string, integers, bool, and every type of this module with such elements; specialize
// it for other element or CRDT types. Bodies:
//
//   gcounter:      count | (replica, varint count > 0)*
//   pncounter:     gcounter increments | gcounter decrements
//   flag:          byte 0 or 1
//   gset<T>:       count | T*                              (no duplicate)
//   lww_register:  T value | zigzag timestamp | replica writer
//   dot_context:   count | (replica, varint counter > 0)* | count | (replica, counter)*
//   dot kernel:    dot_context | count | (K key | count > 0 | (replica, counter, P)*)*
//   orset<T>:      dot kernel of T without payload;  ormap<K, V>: dot kernel of K with V
//   lww_map, pncounter_map: their ormap
//   integers:      zigzag (signed) or varint (unsigned), range-checked;  string: text
//
// Decoding checks what a well-behaved replica always writes: no zero count, no duplicate
// replica, element, key or dot, every dot in the context; anything else is a `malformed`
// error naming the field. Decoding never throws.
//
// Pure: standard library only.
#pragma once

#include <concepts>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "troupe/base/expected.hpp"
#include "troupe/ddata/crdt.hpp"
#include "troupe/ddata/dot_context.hpp"
#include "troupe/ddata/dot_kernel.hpp"
#include "troupe/ddata/error.hpp"
#include "troupe/ddata/flag.hpp"
#include "troupe/ddata/gcounter.hpp"
#include "troupe/ddata/gset.hpp"
#include "troupe/ddata/lww_map.hpp"
#include "troupe/ddata/lww_register.hpp"
#include "troupe/ddata/ormap.hpp"
#include "troupe/ddata/orset.hpp"
#include "troupe/ddata/pncounter.hpp"
#include "troupe/ddata/pncounter_map.hpp"
#include "troupe/ddata/wire.hpp"

namespace troupe::ddata {

/// Writes and reads the body of a `T`: `static void write(wire::writer&, const T&)` and
/// `static T read(wire::reader&)`.
template <class T>
struct wire_codec;

template <>
struct wire_codec<std::string> {
  static void write(wire::writer& w, const std::string& s) { w.text(s); }
  static std::string read(wire::reader& r) { return r.text(); }
};

template <std::integral T>
struct wire_codec<T> {
  static void write(wire::writer& w, T v) {
    if constexpr (std::is_same_v<T, bool>) {
      w.byte(v ? 1 : 0);
    } else if constexpr (std::is_signed_v<T>) {
      w.zigzag(static_cast<std::int64_t>(v));
    } else {
      w.varint(static_cast<std::uint64_t>(v));
    }
  }
  static T read(wire::reader& r) {
    if constexpr (std::is_same_v<T, bool>) {
      const std::uint8_t b = r.byte();
      if (b > 1) r.fail("boolean " + std::to_string(b) + " is not 0 or 1");
      return b == 1;
    } else if constexpr (std::is_signed_v<T>) {
      const std::int64_t v = r.zigzag();
      if (v < std::numeric_limits<T>::min() || v > std::numeric_limits<T>::max()) {
        r.fail(std::to_string(v) + " out of range for " + type_name<T>::get());
      }
      return static_cast<T>(v);
    } else {
      const std::uint64_t v = r.varint();
      if (v > std::numeric_limits<T>::max()) r.fail(std::to_string(v) + " out of range for " + type_name<T>::get());
      return static_cast<T>(v);
    }
  }
};

template <>
struct wire_codec<gcounter> {
  static void write(wire::writer& w, const gcounter& c);
  static gcounter read(wire::reader& r);
};

template <>
struct wire_codec<pncounter> {
  static void write(wire::writer& w, const pncounter& c);
  static pncounter read(wire::reader& r);
};

template <>
struct wire_codec<flag> {
  static void write(wire::writer& w, const flag& f);
  static flag read(wire::reader& r);
};

template <>
struct wire_codec<dot_context> {
  static void write(wire::writer& w, const dot_context& c);
  static dot_context read(wire::reader& r);
};

template <class T>
struct wire_codec<gset<T>> {
  static void write(wire::writer& w, const gset<T>& s) {
    w.varint(s.size());
    for (const T& e : s.elements()) wire_codec<T>::write(w, e);
  }
  static gset<T> read(wire::reader& r) {
    auto f = r.field("elements");
    const std::size_t n = r.count();
    std::set<T> out;
    for (std::size_t i = 0; i < n; ++i) {
      auto g = r.item(i);
      if (!out.insert(wire_codec<T>::read(r)).second) r.fail("duplicate element");
    }
    return gset<T>(std::move(out));
  }
};

template <class T>
struct wire_codec<lww_register<T>> {
  static void write(wire::writer& w, const lww_register<T>& reg) {
    wire_codec<T>::write(w, reg.value());
    w.zigzag(reg.timestamp());
    w.replica(reg.writer());
  }
  static lww_register<T> read(wire::reader& r) {
    T value = [&] {
      auto f = r.field("value");
      return wire_codec<T>::read(r);
    }();
    std::int64_t timestamp = 0;
    {
      auto f = r.field("timestamp");
      timestamp = r.zigzag();
    }
    auto f = r.field("writer");
    const replica_id& writer = r.replica();
    return lww_register<T>(writer, std::move(value), timestamp);
  }
};

template <class K, class P>
struct wire_codec<dot_kernel<K, P>> {
  static void write(wire::writer& w, const dot_kernel<K, P>& k) {
    wire_codec<dot_context>::write(w, k.context());
    w.varint(k.entries().size());
    for (const auto& [key, ds] : k.entries()) {
      wire_codec<K>::write(w, key);
      w.varint(ds.size());
      for (const auto& [d, p] : ds) {
        w.replica(d.replica);
        w.varint(d.counter);
        if constexpr (!std::is_same_v<P, std::monostate>) wire_codec<P>::write(w, p);
      }
    }
  }
  static dot_kernel<K, P> read(wire::reader& r) {
    dot_context context = wire_codec<dot_context>::read(r);
    std::map<K, typename dot_kernel<K, P>::dots> entries;
    {
      auto f = r.field("entries");
      const std::size_t n = r.count();
      for (std::size_t i = 0; i < n; ++i) {
        auto g = r.item(i);
        K key = [&] {
          auto h = r.field("key");
          return wire_codec<K>::read(r);
        }();
        auto h = r.field("dots");
        const std::size_t m = r.count();
        if (m == 0) r.fail("a key without dots");
        typename dot_kernel<K, P>::dots ds;
        for (std::size_t j = 0; j < m; ++j) {
          auto jj = r.item(j);
          dot d{r.replica(), r.varint()};
          if (d.counter == 0) r.fail("a dot with counter 0");
          P payload{};
          if constexpr (!std::is_same_v<P, std::monostate>) payload = wire_codec<P>::read(r);
          if (!ds.emplace(std::move(d), std::move(payload)).second) r.fail("a dot appears twice");
        }
        if (!entries.emplace(std::move(key), std::move(ds)).second) r.fail("the key appears twice");
      }
    }
    dot_kernel<K, P> out(std::move(entries), std::move(context));
    if (auto bad = out.invariant_violation()) {
      auto f = r.field("entries");
      r.fail(*bad);
    }
    return out;
  }
};

template <class T>
struct wire_codec<orset<T>> {
  static void write(wire::writer& w, const orset<T>& s) { wire_codec<typename orset<T>::kernel_type>::write(w, s.kernel()); }
  static orset<T> read(wire::reader& r) { return orset<T>(wire_codec<typename orset<T>::kernel_type>::read(r)); }
};

template <class K, class V>
struct wire_codec<ormap<K, V>> {
  using kernel_codec = wire_codec<typename ormap<K, V>::kernel_type>;
  static void write(wire::writer& w, const ormap<K, V>& m) { kernel_codec::write(w, m.kernel()); }
  static ormap<K, V> read(wire::reader& r) { return ormap<K, V>(kernel_codec::read(r)); }
};

template <class K, class V>
struct wire_codec<lww_map<K, V>> {
  using map_codec = wire_codec<typename lww_map<K, V>::map_type>;
  static void write(wire::writer& w, const lww_map<K, V>& m) { map_codec::write(w, m.underlying()); }
  static lww_map<K, V> read(wire::reader& r) { return lww_map<K, V>(map_codec::read(r)); }
};

template <class K>
struct wire_codec<pncounter_map<K>> {
  using map_codec = wire_codec<typename pncounter_map<K>::map_type>;
  static void write(wire::writer& w, const pncounter_map<K>& m) { map_codec::write(w, m.underlying()); }
  static pncounter_map<K> read(wire::reader& r) { return pncounter_map<K>(map_codec::read(r)); }
};

/// The wire form of `value` (a value or a delta).
template <class T>
wire::bytes encode(const T& value) {
  wire::writer w;
  wire_codec<T>::write(w, value);
  return w.finish();
}

/// The `T` in `bytes`, or a `malformed` error naming the type and the field.
template <class T>
expected<T, ddata_error> decode(std::span<const std::uint8_t> bytes) {
  try {
    wire::reader r(bytes);
    T value = wire_codec<T>::read(r);
    r.finish();
    return value;
  } catch (const std::exception& e) {
    return unexpected<ddata_error>{{ddata_errc::malformed, type_tag<T>() + ": " + e.what()}};
  }
}

}  // namespace troupe::ddata
