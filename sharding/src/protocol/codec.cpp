// Sharding's messages (layout in protocol.hpp), registered under serializer 6: CBOR maps,
// except the two that carry entities' messages, which have a flat form of their own.
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "internal/actors.hpp"
#include "troupe/cluster/protocol_fields.hpp"
#include "troupe/remote/serialization.hpp"
#include "troupe/sharding/protocol.hpp"

namespace troupe::sharding {

namespace {

using json = nlohmann::json;
using namespace cluster::protocol::fields;

json ua(const model::region_id& r) { return to_json(r); }
model::region_id ua_of(const json& j, const char* key) { return unique_address_of(required(j, "", key), key); }
std::string text_of(const json& j, const char* key) { return as_text(required(j, "", key), key); }

json coordinator_json(const model::coordinator_id& c) {
  return json{{"node", ua(c.node)}, {"incarnation", c.incarnation}};
}
model::coordinator_id coordinator_of(const json& j) {
  const json& c = as_map(required(j, "", "coordinator"), "coordinator");
  return {unique_address_of(required(c, "coordinator", "node"), "coordinator.node"),
          as_unsigned(required(c, "coordinator", "incarnation"), "coordinator.incarnation")};
}

json regions_json(const std::vector<model::region_id>& rs) {
  json out = json::array();
  for (const auto& r : rs) out.push_back(ua(r));
  return out;
}
std::vector<model::region_id> regions_of(const json& j, const char* key) {
  std::vector<model::region_id> out;
  const json& a = as_array(required(j, "", key), key);
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(unique_address_of(a[i], item_path(key, i)));
  return out;
}

json strings_json(const std::vector<std::string>& ss) { return json(ss); }
std::vector<std::string> strings_of(const json& j, const char* key) {
  std::vector<std::string> out;
  const json& a = as_array(required(j, "", key), key);
  for (std::size_t i = 0; i < a.size(); ++i) out.push_back(as_text(a[i], item_path(key, i)));
  return out;
}

/// A message in its own wire form: {"serializer", "manifest", "bytes"}.
// ---------------------------------------------------------------------------------------
// The hot pair, forwarded messages and envelopes, in a flat form written in one pass:
//
//   forward:  0x02 | to's uid (8 bytes, little endian) | text entity | nested
//   envelope: 0x01 | text entity | nested
//   nested:   varint serializer | text manifest | the message's bytes (the rest)
//   text:     varint length | UTF-8 bytes;  varint: unsigned LEB128, at most 10 bytes
//
// The first byte is the layout's version. A CBOR map per message cost a tree of JSON
// values on each side, a fifth of the CPU of sharding_tell_remote. A forward's first layout
// (0x01) also carried the whole address of its receiver and the shard id: the connection
// names the address, and the receiving region maps the entity to its shard itself when it
// needs to (only when the entity does not run there), so both went.

constexpr std::uint8_t envelope_version = 1;
constexpr std::uint8_t forward_version = 2;

/// Appends to the buffer the transport encodes into (no buffer of its own per message).
class flat_writer {
 public:
  explicit flat_writer(remote::bytes& out) : out_(out) {}
  void byte(std::uint8_t b) { out_.push_back(b); }
  void varint(std::uint64_t v) {
    std::uint8_t b[10];
    std::size_t n = 0;
    while (v >= 0x80) {
      b[n++] = static_cast<std::uint8_t>(v | 0x80);
      v >>= 7;
    }
    b[n++] = static_cast<std::uint8_t>(v);
    out_.insert(out_.end(), b, b + n);
  }
  void fixed64(std::uint64_t v) {
    std::uint8_t b[8];
    for (std::size_t i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
    out_.insert(out_.end(), b, b + 8);
  }
  void text(std::string_view t) {
    varint(t.size());
    out_.insert(out_.end(), t.begin(), t.end());
  }
  /// The message in its own wire form, written in place; throws when it has none (its type
  /// is unknown) or its encoder throws.
  void nested(const remote::serialization& s, const message& m) {
    auto as = s.encoding_of(m);
    if (!as) throw std::runtime_error(as.error());
    varint(as.value().serializer);
    text(as.value().manifest);
    if (auto w = s.encode_into(m, out_); !w) throw std::runtime_error(w.error());
  }

 private:
  remote::bytes& out_;
};

/// Reads what flat_writer wrote; every problem is a decode_error naming the field.
class flat_reader {
 public:
  explicit flat_reader(std::span<const std::uint8_t> in) : in_(in) {}
  void version(std::uint8_t expected) {
    if (in_.empty()) fail("version", "missing");
    if (in_[0] != expected) fail("version", "unknown layout " + std::to_string(in_[0]));
    in_ = in_.subspan(1);
  }
  std::uint64_t fixed64(const char* field) {
    if (in_.size() < 8) fail(field, "truncated");
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(in_[i]) << (8 * i);
    in_ = in_.subspan(8);
    return v;
  }
  std::uint64_t varint(const char* field) {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (in_.empty()) fail(field, "truncated");
      const std::uint8_t b = in_[0];
      in_ = in_.subspan(1);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    fail(field, "varint longer than 10 bytes");
  }
  std::string text(const char* field) { return std::string(text_view(field)); }
  /// Valid as long as the bytes read.
  std::string_view text_view(const char* field) {
    const std::uint64_t n = varint(field);
    if (n > in_.size()) fail(field, "truncated");
    const std::string_view t(reinterpret_cast<const char*>(in_.data()), static_cast<std::size_t>(n));
    in_ = in_.subspan(static_cast<std::size_t>(n));
    return t;
  }
  message nested(const remote::serialization& s) {
    const std::uint64_t serializer = varint("payload.serializer");
    if (serializer > 0xffffffffu) fail("payload.serializer", "out of range");
    const std::string_view manifest = text_view("payload.manifest");
    auto m = s.decode(static_cast<std::uint32_t>(serializer), manifest, in_);
    in_ = {};
    if (!m) fail("payload", m.error());
    return std::move(m).value();
  }

 private:
  std::span<const std::uint8_t> in_;
};

/// Registers `T` in the flat form: `write(writer, m)` after the version byte, `read(reader, m)`.
template <class T, class Write, class Read>
void add_flat(remote::serialization& s, const char* manifest, std::uint8_t version, Write write, Read read) {
  const remote::serialization* reg = &s;
  s.register_custom_into<T>(
      serializer_id, manifest,
      [reg, write, version](const T& m, remote::bytes& out) {
        flat_writer w(out);
        w.byte(version);
        write(*reg, w, m);
      },
      [reg, read, manifest, version](std::span<const std::uint8_t> wire) {
        try {
          flat_reader r(wire);
          r.version(version);
          T m{};
          read(*reg, r, m);
          return m;
        } catch (const decode_error& e) {
          throw std::runtime_error(std::string(manifest) + ": " + e.what());
        }
      });
}

void add_forward(remote::serialization& s) {
  add_flat<detail::region_forward>(
      s, "sharding.forward", forward_version,
      [](const remote::serialization& reg, flat_writer& w, const detail::region_forward& m) {
        w.fixed64(m.to_uid);
        w.text(m.entity_id);
        w.nested(reg, m.payload);
      },
      [](const remote::serialization& reg, flat_reader& r, detail::region_forward& m) {
        m.to_uid = r.fixed64("to");
        m.entity_id = r.text("entity");
        m.payload = r.nested(reg);
      });
}

void add_envelope(remote::serialization& s) {
  add_flat<sharding_envelope>(
      s, "sharding.envelope", envelope_version,
      [](const remote::serialization& reg, flat_writer& w, const sharding_envelope& m) {
        w.text(m.entity_id);
        w.nested(reg, m.message);
      },
      [](const remote::serialization& reg, flat_reader& r, sharding_envelope& m) {
        m.entity_id = r.text("entity");
        m.message = r.nested(reg);
      });
}

// ---------------------------------------------------------------------------------------
// One writer and one reader per message

struct codec {
  const remote::serialization* s;

  // Region -> coordinator.
  json write(const model::register_region& m) const {
    json homes = json::array();
    for (const auto& h : m.known_homes) homes.push_back(json{{"shard", h.shard}, {"region", ua(h.region)}});
    return json{{"region", ua(m.region)},         {"proxy", m.proxy},
                {"hosted", strings_json(m.hosted)}, {"known_homes", homes},
                {"regions_version", m.regions_version}, {"known_regions", regions_json(m.known_regions)}};
  }
  void read(const json& j, model::register_region& m) const {
    m.region = ua_of(j, "region");
    m.proxy = as_bool(required(j, "", "proxy"), "proxy");
    m.hosted = strings_of(j, "hosted");
    const json& homes = as_array(required(j, "", "known_homes"), "known_homes");
    for (std::size_t i = 0; i < homes.size(); ++i) {
      const auto p = item_path("known_homes", i);
      const json& h = as_map(homes[i], p);
      m.known_homes.push_back({as_text(required(h, p, "shard"), key_path(p, "shard")),
                               unique_address_of(required(h, p, "region"), key_path(p, "region"))});
    }
    m.regions_version = as_unsigned(required(j, "", "regions_version"), "regions_version");
    m.known_regions = regions_of(j, "known_regions");
  }
  template <class T>
  json write_region_shard(const T& m) const {
    return json{{"region", ua(m.region)}, {"shard", m.shard}};
  }
  template <class T>
  void read_region_shard(const json& j, T& m) const {
    m.region = ua_of(j, "region");
    m.shard = text_of(j, "shard");
  }
  json write(const model::get_shard_home& m) const { return write_region_shard(m); }
  void read(const json& j, model::get_shard_home& m) const { read_region_shard(j, m); }
  json write(const model::shard_started& m) const { return write_region_shard(m); }
  void read(const json& j, model::shard_started& m) const { read_region_shard(j, m); }
  json write(const model::begin_handoff_ack& m) const { return write_region_shard(m); }
  void read(const json& j, model::begin_handoff_ack& m) const { read_region_shard(j, m); }
  json write(const model::shard_stopped& m) const { return write_region_shard(m); }
  void read(const json& j, model::shard_stopped& m) const { read_region_shard(j, m); }
  json write(const model::graceful_shutdown_request& m) const { return json{{"region", ua(m.region)}}; }
  void read(const json& j, model::graceful_shutdown_request& m) const { m.region = ua_of(j, "region"); }
  json write(const model::region_stopped& m) const { return json{{"region", ua(m.region)}}; }
  void read(const json& j, model::region_stopped& m) const { m.region = ua_of(j, "region"); }
  json write(const model::assign_shard& m) const {
    json out{{"shard", m.shard}};
    if (m.region) out["region"] = ua(*m.region);
    return out;
  }
  void read(const json& j, model::assign_shard& m) const {
    m.shard = text_of(j, "shard");
    if (optional(j, "region")) m.region = ua_of(j, "region");
  }

  // Coordinator -> region: each names the coordinator and the region incarnation it is for.
  template <class T>
  json head(const T& m) const {
    return json{{"coordinator", coordinator_json(m.coordinator)}, {"to", ua(m.to)}};
  }
  template <class T>
  void read_head(const json& j, T& m) const {
    m.coordinator = coordinator_of(j);
    m.to = ua_of(j, "to");
  }
  json write(const model::register_ack& m) const { return head(m); }
  void read(const json& j, model::register_ack& m) const { read_head(j, m); }
  json write(const model::please_register& m) const { return head(m); }
  void read(const json& j, model::please_register& m) const { read_head(j, m); }
  json write(const model::graceful_shutdown_ack& m) const { return head(m); }
  void read(const json& j, model::graceful_shutdown_ack& m) const { read_head(j, m); }
  json write(const model::region_set& m) const {
    json out = head(m);
    out["version"] = m.version;
    out["regions"] = regions_json(m.regions);
    return out;
  }
  void read(const json& j, model::region_set& m) const {
    read_head(j, m);
    m.version = as_unsigned(required(j, "", "version"), "version");
    m.regions = regions_of(j, "regions");
  }
  json write(const model::shard_home& m) const {
    json out = head(m);
    out["shard"] = m.shard;
    out["region"] = ua(m.region);
    return out;
  }
  void read(const json& j, model::shard_home& m) const {
    read_head(j, m);
    m.shard = text_of(j, "shard");
    m.region = ua_of(j, "region");
  }
  json write(const model::host_shard& m) const {
    json out = head(m);
    out["shard"] = m.shard;
    return out;
  }
  void read(const json& j, model::host_shard& m) const {
    read_head(j, m);
    m.shard = text_of(j, "shard");
  }
  json write(const model::begin_handoff& m) const {
    json out = head(m);
    out["shard"] = m.shard;
    out["owner"] = ua(m.owner);
    out["id"] = m.id;
    return out;
  }
  void read(const json& j, model::begin_handoff& m) const {
    read_head(j, m);
    m.shard = text_of(j, "shard");
    m.owner = ua_of(j, "owner");
    m.id = as_unsigned(required(j, "", "id"), "id");
  }
  json write(const model::handoff& m) const {
    json out = head(m);
    out["shard"] = m.shard;
    out["id"] = m.id;
    out["flush_from"] = regions_json(m.flush_from);
    return out;
  }
  void read(const json& j, model::handoff& m) const {
    read_head(j, m);
    m.shard = text_of(j, "shard");
    m.id = as_unsigned(required(j, "", "id"), "id");
    m.flush_from = regions_of(j, "flush_from");
  }

  // Region -> region.
  json write(const model::handoff_marker& m) const {
    return json{{"from", ua(m.from)}, {"to", ua(m.to)}, {"shard", m.shard},
                {"coordinator", coordinator_json(m.coordinator)}, {"id", m.id}};
  }
  void read(const json& j, model::handoff_marker& m) const {
    m.from = ua_of(j, "from");
    m.to = ua_of(j, "to");
    m.shard = text_of(j, "shard");
    m.coordinator = coordinator_of(j);
    m.id = as_unsigned(required(j, "", "id"), "id");
  }

  // Queries.
  json write(const detail::get_region_stats&) const { return json::object(); }
  void read(const json&, detail::get_region_stats&) const {}
  json write(const shard_region_stats& m) const {
    json shards = json::object();
    for (const auto& [shard, n] : m.shards) shards[shard] = n;
    return json{{"region", ua(m.region)}, {"shards", shards}};
  }
  void read(const json& j, shard_region_stats& m) const {
    m.region = ua_of(j, "region");
    const json& shards = as_map(required(j, "", "shards"), "shards");
    for (auto it = shards.begin(); it != shards.end(); ++it)
      m.shards[it.key()] = as_unsigned(it.value(), key_path("shards", it.key().c_str()));
  }
};

template <class T>
void add(remote::serialization& s, const char* manifest) {
  const codec c{&s};
  s.register_custom<T>(
      serializer_id, manifest, [c](const T& m) { return json::to_cbor(c.write(m)); },
      [c, manifest](std::span<const std::uint8_t> wire) {
        try {
          T m{};
          c.read(parse_map(wire), m);
          return m;
        } catch (const decode_error& e) {
          throw std::runtime_error(std::string(manifest) + ": " + e.what());
        } catch (const json::exception& e) {
          throw std::runtime_error(std::string(manifest) + ": " + e.what());
        }
      });
}

}  // namespace

void register_protocol(remote::serialization& s) {
  add<model::register_region>(s, "sharding.register");
  add<model::get_shard_home>(s, "sharding.get_shard_home");
  add<model::shard_started>(s, "sharding.shard_started");
  add<model::begin_handoff_ack>(s, "sharding.begin_handoff_ack");
  add<model::shard_stopped>(s, "sharding.shard_stopped");
  add<model::graceful_shutdown_request>(s, "sharding.graceful_shutdown_request");
  add<model::region_stopped>(s, "sharding.region_stopped");
  add<model::assign_shard>(s, "sharding.assign_shard");
  add<model::register_ack>(s, "sharding.register_ack");
  add<model::please_register>(s, "sharding.please_register");
  add<model::region_set>(s, "sharding.region_set");
  add<model::shard_home>(s, "sharding.shard_home");
  add<model::host_shard>(s, "sharding.host_shard");
  add<model::begin_handoff>(s, "sharding.begin_handoff");
  add<model::handoff>(s, "sharding.handoff");
  add<model::graceful_shutdown_ack>(s, "sharding.graceful_shutdown_ack");
  add<model::handoff_marker>(s, "sharding.handoff_marker");
  add_forward(s);
  add_envelope(s);
  add<detail::get_region_stats>(s, "sharding.get_region_stats");
  add<shard_region_stats>(s, "sharding.region_stats");
}

}  // namespace troupe::sharding
