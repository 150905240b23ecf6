// The mediators' peer protocol on the wire (layout in mediator_codec.hpp).
#include "troupe/pubsub/mediator_codec.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

#include "troupe/remote/serialization.hpp"

namespace troupe::pubsub {

namespace {

namespace wire = ddata::wire;

void write_body(wire::writer& w, const status& s) {
  w.byte(s.reply_wanted ? 1 : 0);
  w.varint(s.versions.size());
  for (const auto& [owner, v] : s.versions) {
    w.replica(owner);
    w.varint(v);
  }
}

void write_body(wire::writer& w, const delta& d) {
  w.varint(d.buckets.size());
  for (const auto& b : d.buckets) {
    w.replica(b.owner);
    w.varint(b.from_version);
    w.varint(b.to_version);
    w.varint(b.entries.size());
    for (const auto& [k, v] : b.entries) {
      w.byte(static_cast<std::uint8_t>(k.kind));
      w.text(k.name);
      w.text(k.group);
      w.text(k.ref);
      w.varint(v.version);
      w.varint(v.uid);
      w.byte(v.removed ? 1 : 0);
    }
  }
}

bool read_flag(wire::reader& r) {
  const std::uint8_t b = r.byte();
  if (b > 1) r.fail("flag " + std::to_string(b) + " is not 0 or 1");
  return b == 1;
}

void read_body(wire::reader& r, status& s) {
  {
    auto f = r.field("reply_wanted");
    s.reply_wanted = read_flag(r);
  }
  auto f = r.field("versions");
  const std::size_t n = r.count();
  for (std::size_t i = 0; i < n; ++i) {
    auto g = r.item(i);
    node_id owner = r.replica();
    const std::uint64_t v = r.varint();
    if (!s.versions.emplace(std::move(owner), v).second) r.fail("the node appears twice");
  }
}

void read_body(wire::reader& r, delta& d) {
  auto f = r.field("buckets");
  const std::size_t n = r.count();
  d.buckets.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto g = r.item(i);
    delta_bucket b;
    b.owner = r.replica();
    b.from_version = r.varint();
    b.to_version = r.varint();
    if (b.from_version > b.to_version) r.fail("from_version above to_version");
    auto h = r.field("entries");
    const std::size_t m = r.count();
    for (std::size_t j = 0; j < m; ++j) {
      auto jj = r.item(j);
      entry_key k;
      {
        auto kf = r.field("kind");
        const std::uint8_t kind = r.byte();
        if (kind > static_cast<std::uint8_t>(entry_kind::path)) r.fail("kind " + std::to_string(kind) + " not 0 or 1");
        k.kind = static_cast<entry_kind>(kind);
      }
      k.name = r.text();
      k.group = r.text();
      k.ref = r.text();
      value_holder v;
      v.version = r.varint();
      v.uid = r.varint();
      {
        auto rf = r.field("removed");
        v.removed = read_flag(r);
      }
      if (v.version <= b.from_version || v.version > b.to_version) r.fail("version outside the bucket's range");
      if (!b.entries.emplace(std::move(k), v).second) r.fail("the entry appears twice");
    }
    d.buckets.push_back(std::move(b));
  }
}

template <class M>
void register_one(remote::serialization& s) {
  s.register_custom<addressed<M>>(
      serializer_id, std::string(manifest_of<M>()), [](const addressed<M>& m) { return encode_addressed(m); },
      [](std::span<const std::uint8_t> b) {
        auto m = decode_addressed<M>(b);
        // The registry turns this into an error value naming the manifest: the transport
        // logs it and drops the message.
        if (!m) throw std::runtime_error(m.error());
        return std::move(m).value();
      });
}

}  // namespace

template <class M>
ddata::wire::bytes encode_addressed(const addressed<M>& m) {
  wire::writer w;
  w.replica(m.from);
  w.replica(m.to);
  write_body(w, m.message);
  return w.finish();
}

template <class M>
expected<addressed<M>, std::string> decode_addressed(std::span<const std::uint8_t> bytes) {
  try {
    wire::reader r(bytes);
    addressed<M> out;
    {
      auto f = r.field("from");
      out.from = r.replica();
    }
    {
      auto f = r.field("to");
      out.to = r.replica();
    }
    read_body(r, out.message);
    r.finish();
    return out;
  } catch (const std::exception& e) {
    return unexpected<std::string>{std::string(manifest_of<M>()) + ": " + e.what()};
  }
}

template ddata::wire::bytes encode_addressed<status>(const addressed<status>&);
template ddata::wire::bytes encode_addressed<delta>(const addressed<delta>&);
template expected<addressed<status>, std::string> decode_addressed<status>(std::span<const std::uint8_t>);
template expected<addressed<delta>, std::string> decode_addressed<delta>(std::span<const std::uint8_t>);

void register_mediator_protocol(remote::serialization& s) {
  register_one<status>(s);
  register_one<delta>(s);
}

}  // namespace troupe::pubsub
