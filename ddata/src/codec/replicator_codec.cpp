// The replicators' peer protocol on the wire (layout in replicator_codec.hpp).
#include "troupe/ddata/replicator_codec.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <utility>

#include "troupe/remote/serialization.hpp"

namespace troupe::ddata {

namespace {

constexpr std::uint8_t flag_deleted = 1;
constexpr std::uint8_t flag_has_value = 2;

/// Thrown by the writer for a value that has no wire form; caught by `encode_addressed`.
struct encode_failure {
  ddata_error error;
};

std::string_view as_chars(const wire::bytes& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// ---------------------------------------------------------------------------------------
// Writing

class body_writer {
 public:
  body_writer(wire::writer& w, const data_codecs& codecs) : w_(w), codecs_(codecs) {}

  void value(const replicated_data& d) {
    auto b = codecs_.encode(d);
    if (!b) throw encode_failure{b.error()};
    w_.text(d.type_tag());
    w_.text(as_chars(*b));
  }

  void envelope(const data_envelope& e) {
    const bool has_value = !e.deleted && !e.data.empty();
    w_.byte(static_cast<std::uint8_t>((e.deleted ? flag_deleted : 0) | (has_value ? flag_has_value : 0)));
    if (has_value) value(e.data);
    w_.varint(e.pruning.size());
    for (const auto& [removed, state] : e.pruning) {
      w_.replica(removed);
      if (const auto* init = std::get_if<pruning_initialized>(&state)) {
        w_.byte(0);
        w_.replica(init->owner);
        w_.varint(init->seen.size());
        for (const auto& r : init->seen) w_.replica(r);
      } else {
        w_.byte(1);
        w_.zigzag(std::get<pruning_performed>(state).obsolete_at.count());
      }
    }
    w_.varint(e.delta_versions.size());
    for (const auto& [origin, version] : e.delta_versions) {
      w_.replica(origin);
      w_.varint(version);
    }
  }

  void body(const write& m) {
    w_.varint(m.op);
    w_.text(m.key);
    envelope(m.envelope);
  }
  void body(const write_ack& m) { w_.varint(m.op); }
  void body(const write_nack& m) {
    w_.varint(m.op);
    w_.text(m.reason);
  }
  void body(const read& m) {
    w_.varint(m.op);
    w_.text(m.key);
  }
  void body(const read_result& m) {
    w_.varint(m.op);
    w_.text(m.key);
    w_.byte(m.envelope ? 1 : 0);
    if (m.envelope) envelope(*m.envelope);
  }
  void body(const delta_propagation& m) {
    w_.varint(m.deltas.size());
    for (const auto& [key, d] : m.deltas) {
      w_.text(key);
      value(d.delta);
      w_.varint(d.from_seq);
      w_.varint(d.to_seq);
    }
  }
  void body(const gossip_status& m) {
    w_.varint(m.chunk);
    w_.varint(m.total_chunks);
    w_.byte(m.complete ? 1 : 0);
    w_.varint(m.digests.size());
    for (const auto& [key, d] : m.digests) {
      w_.text(key);
      w_.varint(d);
    }
  }
  void body(const gossip& m) {
    w_.byte(m.send_back ? 1 : 0);
    w_.varint(m.entries.size());
    for (const auto& [key, e] : m.entries) {
      w_.text(key);
      envelope(e);
    }
  }

 private:
  wire::writer& w_;
  const data_codecs& codecs_;
};

// ---------------------------------------------------------------------------------------
// Reading

class body_reader {
 public:
  body_reader(wire::reader& r, const data_codecs& codecs, std::vector<undecodable_value>& bad)
      : r_(r), codecs_(codecs), bad_(bad) {}

  bool boolean() {
    const std::uint8_t b = r_.byte();
    if (b > 1) r_.fail("boolean " + std::to_string(b) + " is not 0 or 1");
    return b == 1;
  }

  std::uint32_t u32() {
    const std::uint64_t v = r_.varint();
    if (v > 0xffffffffULL) r_.fail(std::to_string(v) + " out of range for uint32");
    return static_cast<std::uint32_t>(v);
  }

  /// A value; an empty one (and `key` listed as undecodable) when its bytes cannot be read.
  replicated_data value(const data_key& key) {
    std::string tag;
    {
      auto f = r_.field("type");
      tag = r_.text();
    }
    std::string bytes;
    {
      auto f = r_.field("value");
      bytes = r_.text();
    }
    auto d = codecs_.decode(tag, std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    if (!d) {
      bad_.push_back({key, d.error().message});
      return {};
    }
    return std::move(d).value();
  }

  /// An envelope; `ok` false when its value was undecodable.
  data_envelope envelope(const data_key& key, bool& ok) {
    data_envelope e;
    ok = true;
    std::uint8_t flags = 0;
    {
      auto f = r_.field("flags");
      flags = r_.byte();
      if ((flags & ~(flag_deleted | flag_has_value)) != 0 || flags == (flag_deleted | flag_has_value))
        r_.fail("flags " + std::to_string(flags) + " not 0, 1 or 2");
    }
    e.deleted = (flags & flag_deleted) != 0;
    if ((flags & flag_has_value) != 0) {
      const std::size_t before = bad_.size();
      e.data = value(key);
      ok = bad_.size() == before;
    }
    {
      auto f = r_.field("pruning");
      const std::size_t n = r_.count();
      for (std::size_t i = 0; i < n; ++i) {
        auto g = r_.item(i);
        replica_id removed = r_.replica();
        pruning_state state;
        const std::uint8_t kind = r_.byte();
        if (kind == 0) {
          pruning_initialized init;
          init.owner = r_.replica();
          auto h = r_.field("seen");
          const std::size_t m = r_.count();
          for (std::size_t j = 0; j < m; ++j) {
            auto jj = r_.item(j);
            if (!init.seen.insert(r_.replica()).second) r_.fail("the replica appears twice");
          }
          state = std::move(init);
        } else if (kind == 1) {
          state = pruning_performed{std::chrono::nanoseconds{r_.zigzag()}};
        } else {
          r_.fail("pruning kind " + std::to_string(kind) + " not 0 or 1");
        }
        if (!e.pruning.emplace(std::move(removed), std::move(state)).second) r_.fail("the replica appears twice");
      }
    }
    {
      auto f = r_.field("delta_versions");
      const std::size_t n = r_.count();
      for (std::size_t i = 0; i < n; ++i) {
        auto g = r_.item(i);
        replica_id origin = r_.replica();
        const std::uint64_t v = r_.varint();
        if (!e.delta_versions.emplace(std::move(origin), v).second) r_.fail("the replica appears twice");
      }
    }
    return e;
  }

  data_key key() {
    auto f = r_.field("key");
    return r_.text();
  }
  std::uint64_t op() {
    auto f = r_.field("op");
    return r_.varint();
  }

  void body(write& m) {
    m.op = op();
    m.key = key();
    auto f = r_.field("envelope");
    bool ok = true;
    m.envelope = envelope(m.key, ok);
  }
  void body(write_ack& m) { m.op = op(); }
  void body(write_nack& m) {
    m.op = op();
    auto f = r_.field("reason");
    m.reason = r_.text();
  }
  void body(read& m) {
    m.op = op();
    m.key = key();
  }
  void body(read_result& m) {
    m.op = op();
    m.key = key();
    auto f = r_.field("envelope");
    if (boolean()) {
      bool ok = true;
      m.envelope = envelope(m.key, ok);
    }
  }
  void body(delta_propagation& m) {
    auto f = r_.field("deltas");
    const std::size_t n = r_.count();
    for (std::size_t i = 0; i < n; ++i) {
      auto g = r_.item(i);
      data_key k = key();
      const std::size_t before = bad_.size();
      delta_entry d;
      d.delta = value(k);
      {
        auto h = r_.field("from_seq");
        d.from_seq = r_.varint();
      }
      {
        auto h = r_.field("to_seq");
        d.to_seq = r_.varint();
      }
      if (m.deltas.contains(k)) r_.fail("the key appears twice");
      if (bad_.size() == before) m.deltas.emplace(std::move(k), std::move(d));
    }
  }
  void body(gossip_status& m) {
    {
      auto f = r_.field("chunk");
      m.chunk = u32();
    }
    {
      auto f = r_.field("total_chunks");
      m.total_chunks = u32();
      if (m.total_chunks == 0 || m.chunk >= m.total_chunks)
        r_.fail("chunk " + std::to_string(m.chunk) + " of " + std::to_string(m.total_chunks));
    }
    {
      auto f = r_.field("complete");
      m.complete = boolean();
    }
    auto f = r_.field("digests");
    const std::size_t n = r_.count();
    for (std::size_t i = 0; i < n; ++i) {
      auto g = r_.item(i);
      data_key k = key();
      const digest d = r_.varint();
      if (!m.digests.emplace(std::move(k), d).second) r_.fail("the key appears twice");
    }
  }
  void body(gossip& m) {
    {
      auto f = r_.field("send_back");
      m.send_back = boolean();
    }
    auto f = r_.field("entries");
    const std::size_t n = r_.count();
    std::vector<data_key> dropped;
    for (std::size_t i = 0; i < n; ++i) {
      auto g = r_.item(i);
      data_key k = key();
      bool ok = true;
      data_envelope e = envelope(k, ok);
      if (m.entries.contains(k) || std::find(dropped.begin(), dropped.end(), k) != dropped.end())
        r_.fail("the key appears twice");
      if (ok) {
        m.entries.emplace(std::move(k), std::move(e));
      } else {
        dropped.push_back(std::move(k));
      }
    }
  }

 private:
  wire::reader& r_;
  const data_codecs& codecs_;
  std::vector<undecodable_value>& bad_;
};

template <class M>
void register_one(remote::serialization& s, const std::shared_ptr<const data_codecs>& codecs) {
  s.register_custom<addressed<M>>(
      serializer_id, std::string(manifest_of<M>()),
      [codecs](const addressed<M>& m) {
        auto b = encode_addressed(m, *codecs);
        // The registry turns these into error values naming the type.
        if (!b) throw std::runtime_error(b.error().message);
        return std::move(b).value();
      },
      [codecs](std::span<const std::uint8_t> b) {
        auto m = decode_addressed<M>(b, *codecs);
        if (!m) throw std::runtime_error(m.error().message);
        return std::move(m).value();
      });
}

}  // namespace


template <class M>
expected<wire::bytes, ddata_error> encode_addressed(const addressed<M>& m, const data_codecs& codecs) {
  try {
    wire::writer w;
    w.replica(m.from);
    w.replica(m.to);
    body_writer(w, codecs).body(m.message);
    return w.finish();
  } catch (const encode_failure& e) {
    return unexpected<ddata_error>{{e.error.code, std::string(manifest_of<M>()) + ": " + e.error.message}};
  }
}

template <class M>
expected<addressed<M>, ddata_error> decode_addressed(std::span<const std::uint8_t> bytes, const data_codecs& codecs) {
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
    body_reader(r, codecs, out.undecodable).body(out.message);
    r.finish();
    return out;
  } catch (const std::exception& e) {
    return unexpected<ddata_error>{{ddata_errc::malformed, std::string(manifest_of<M>()) + ": " + e.what()}};
  }
}

#define TROUPE_DDATA_PEER_MESSAGE(M)                                                                   \
  template expected<wire::bytes, ddata_error> encode_addressed<M>(const addressed<M>&, const data_codecs&); \
  template expected<addressed<M>, ddata_error> decode_addressed<M>(std::span<const std::uint8_t>, const data_codecs&);
TROUPE_DDATA_PEER_MESSAGE(write)
TROUPE_DDATA_PEER_MESSAGE(write_ack)
TROUPE_DDATA_PEER_MESSAGE(write_nack)
TROUPE_DDATA_PEER_MESSAGE(read)
TROUPE_DDATA_PEER_MESSAGE(read_result)
TROUPE_DDATA_PEER_MESSAGE(delta_propagation)
TROUPE_DDATA_PEER_MESSAGE(gossip_status)
TROUPE_DDATA_PEER_MESSAGE(gossip)
#undef TROUPE_DDATA_PEER_MESSAGE

void register_replicator_protocol(remote::serialization& s, std::shared_ptr<const data_codecs> codecs) {
  register_one<write>(s, codecs);
  register_one<write_ack>(s, codecs);
  register_one<write_nack>(s, codecs);
  register_one<read>(s, codecs);
  register_one<read_result>(s, codecs);
  register_one<delta_propagation>(s, codecs);
  register_one<gossip_status>(s, codecs);
  register_one<gossip>(s, codecs);
}

}  // namespace troupe::ddata
