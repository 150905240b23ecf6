// The CBOR encoding of the cluster protocol (layout in protocol.hpp and below).
//
// A gossip is written as
//   {"system": "sys",                         default system name of the address table
//    "nodes": [{"host", "port", "uid"}, ...],  address table ("system" only when it differs)
//    "roles": ["a", ...], "app_versions": ["1.0", ...],
//    "members": [{"node": i, "status": code, "up": n, "roles": [r, ...], "app_version": k}],
//    "seen": [i, ...],
//    "reachability": {"versions": [{"observer": i, "version": v}],
//                     "records": [{"observer": i, "subject": j, "status": code, "version": v}]},
//    "version": [[node_id, counter], ...],
//    "tombstones": [{"node": i, "at": ns}]}
// where i, j index "nodes", r "roles", k "app_versions". A member's "up", "roles" and
// "app_version" are left out at their defaults (never up, none, unknown); every other key
// is required. Status codes are the wire tables below, not the enums' order.
#include "troupe/cluster/protocol.hpp"

#include <cstddef>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

#include "troupe/cluster/protocol_fields.hpp"

namespace troupe::cluster::protocol {
namespace {

using json = nlohmann::json;
using namespace fields;
using fields::to_json;
using model::member_status;
using model::reachability_status;
using model::unique_address;

// ---------------------------------------------------------------------------------------
// Wire codes (fixed: never renumber, only add)

std::uint64_t status_code(member_status s) {
  switch (s) {
    case member_status::joining: return 0;
    case member_status::weakly_up: return 1;
    case member_status::up: return 2;
    case member_status::leaving: return 3;
    case member_status::exiting: return 4;
    case member_status::down: return 5;
    case member_status::removed: return 6;
    case member_status::preparing_for_shutdown: return 7;
    case member_status::ready_for_shutdown: return 8;
  }
  throw std::logic_error("unknown member status");
}
member_status member_status_of(const json& v, const std::string& path) {
  static constexpr member_status by_code[] = {
      member_status::joining, member_status::weakly_up, member_status::up,
      member_status::leaving, member_status::exiting,   member_status::down,
      member_status::removed, member_status::preparing_for_shutdown,
      member_status::ready_for_shutdown};
  const auto code = as_unsigned(v, path);
  if (code >= std::size(by_code)) fail(path, "unknown member status code " + std::to_string(code));
  return by_code[code];
}

std::uint64_t reachability_code(reachability_status s) {
  switch (s) {
    case reachability_status::reachable: return 0;
    case reachability_status::unreachable: return 1;
    case reachability_status::terminated: return 2;
  }
  throw std::logic_error("unknown reachability status");
}
reachability_status reachability_status_of(const json& v, const std::string& path) {
  static constexpr reachability_status by_code[] = {
      reachability_status::reachable, reachability_status::unreachable, reachability_status::terminated};
  const auto code = as_unsigned(v, path);
  if (code >= std::size(by_code)) fail(path, "unknown reachability status code " + std::to_string(code));
  return by_code[code];
}

// ---------------------------------------------------------------------------------------
// Vector clock: [[node_id, counter], ...] (pairs: an entry never gains fields)

json to_json(const model::vector_clock& v) {
  json out = json::array();
  for (const auto& [node, counter] : v.versions()) out.push_back(json::array({node, counter}));
  return out;
}
model::vector_clock vector_clock_of(const json& v, const std::string& path) {
  std::map<model::vector_clock::node_id, std::uint64_t> counters;
  const json& entries = as_array(v, path);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string at = item_path(path, i);
    const json& pair = as_array(entries[i], at);
    if (pair.size() != 2) fail(at, "expected [node, counter], got " + std::to_string(pair.size()) + " items");
    const auto node = as_unsigned(pair[0], at + "[0]");
    if (!counters.emplace(node, as_unsigned(pair[1], at + "[1]")).second)
      fail(at, "node " + std::to_string(node) + " appears twice");
  }
  return model::vector_clock{std::move(counters)};
}

// ---------------------------------------------------------------------------------------
// Gossip

// Strings written once, referred to by index.
class string_table {
 public:
  std::size_t index(const std::string& s) {
    const auto [it, added] = index_.emplace(s, items_.size());
    if (added) items_.push_back(s);
    return it->second;
  }
  json to_json() const { return json(items_); }

 private:
  std::map<std::string, std::size_t> index_;
  std::vector<std::string> items_;
};

// Unique addresses written once: the members first, in member order.
class address_table {
 public:
  std::size_t index(const unique_address& a) {
    const auto [it, added] = index_.emplace(a, items_.size());
    if (added) items_.push_back(a);
    return it->second;
  }
  json to_json() const {
    const std::string system = items_.empty() ? std::string() : items_.front().address.system;
    json nodes = json::array();
    for (const auto& a : items_) {
      json n{{"host", a.address.host}, {"port", a.address.port}, {"uid", a.uid}};
      if (a.address.system != system) n["system"] = a.address.system;
      nodes.push_back(std::move(n));
    }
    return json{{"system", system}, {"nodes", std::move(nodes)}};
  }

 private:
  std::map<unique_address, std::size_t> index_;
  std::vector<unique_address> items_;
};

json to_json(const model::gossip& g) {
  address_table nodes;
  string_table roles;
  string_table app_versions;

  // 1. Members, which also fill the address table in member order.
  json members = json::array();
  for (const auto& m : g.members()) {
    json e{{"node", nodes.index(m.unique_address())}, {"status", status_code(m.status())}};
    if (m.up_number() != model::member::no_up_number) e["up"] = m.up_number();
    if (!m.roles().empty()) {
      json r = json::array();
      for (const auto& role : m.roles()) r.push_back(roles.index(role));
      e["roles"] = std::move(r);
    }
    if (!m.app_version().text().empty()) e["app_version"] = app_versions.index(m.app_version().text());
    members.push_back(std::move(e));
  }

  // 2. Seen set.
  json seen = json::array();
  for (const auto& n : g.seen_by()) seen.push_back(nodes.index(n));

  // 3. Reachability: observer versions and records, as `reachability::restore` takes them.
  json versions = json::array();
  for (const auto& [observer, version] : g.reachability().versions())
    versions.push_back(json{{"observer", nodes.index(observer)}, {"version", version}});
  json records = json::array();
  for (const auto& r : g.reachability().records())
    records.push_back(json{{"observer", nodes.index(r.observer)},
                           {"subject", nodes.index(r.subject)},
                           {"status", reachability_code(r.status)},
                           {"version", r.version}});

  // 4. Tombstones.
  json tombstones = json::array();
  for (const auto& [node, at] : g.tombstones())
    tombstones.push_back(json{{"node", nodes.index(node)}, {"at", at.count()}});

  json out = nodes.to_json();
  out["roles"] = roles.to_json();
  out["app_versions"] = app_versions.to_json();
  out["members"] = std::move(members);
  out["seen"] = std::move(seen);
  out["reachability"] = json{{"versions", std::move(versions)}, {"records", std::move(records)}};
  out["version"] = to_json(g.version());
  out["tombstones"] = std::move(tombstones);
  return out;
}

// An index into a table of `size` entries named `table`.
std::size_t index_of(const json& v, const std::string& path, std::size_t size, const char* table) {
  const auto i = as_unsigned(v, path);
  if (i >= size)
    fail(path, "index " + std::to_string(i) + " outside the " + table + " table (" + std::to_string(size) +
                   " entries)");
  return static_cast<std::size_t>(i);
}

std::vector<std::string> strings_of(const json& v, const std::string& path) {
  std::vector<std::string> out;
  const json& items = as_array(v, path);
  for (std::size_t i = 0; i < items.size(); ++i) out.push_back(as_text(items[i], item_path(path, i)));
  return out;
}

model::gossip gossip_of(const json& v, const std::string& path) {
  const json& g = as_map(v, path);

  // 1. Tables.
  std::vector<unique_address> nodes;
  {
    const std::string nodes_path = key_path(path, "nodes");
    const json& items = as_array(required(g, path, "nodes"), nodes_path);
    std::string system;
    if (!items.empty()) system = as_text(required(g, path, "system"), key_path(path, "system"));
    for (std::size_t i = 0; i < items.size(); ++i)
      nodes.push_back(unique_address_of(items[i], item_path(nodes_path, i), &system));
  }
  const auto roles = strings_of(required(g, path, "roles"), key_path(path, "roles"));
  const auto app_versions = strings_of(required(g, path, "app_versions"), key_path(path, "app_versions"));
  const auto node_at = [&](const json& i, const std::string& at) -> const unique_address& {
    return nodes[index_of(i, at, nodes.size(), "nodes")];
  };

  // 2. Members.
  std::vector<model::member> members;
  {
    const std::string members_path = key_path(path, "members");
    const json& items = as_array(required(g, path, "members"), members_path);
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string at = item_path(members_path, i);
      const json& m = as_map(items[i], at);
      const unique_address& node = node_at(required(m, at, "node"), key_path(at, "node"));
      const member_status status = member_status_of(required(m, at, "status"), key_path(at, "status"));
      std::int32_t up = model::member::no_up_number;
      if (const json* u = optional(m, "up"))
        up = static_cast<std::int32_t>(as_signed(*u, key_path(at, "up"), std::numeric_limits<std::int32_t>::min(),
                                                 std::numeric_limits<std::int32_t>::max()));
      std::set<std::string> member_roles;
      if (const json* r = optional(m, "roles")) {
        const std::string roles_path = key_path(at, "roles");
        const json& indices = as_array(*r, roles_path);
        for (std::size_t k = 0; k < indices.size(); ++k)
          member_roles.insert(roles[index_of(indices[k], item_path(roles_path, k), roles.size(), "roles")]);
      }
      model::app_version version;
      if (const json* a = optional(m, "app_version"))
        version = model::app_version{
            app_versions[index_of(*a, key_path(at, "app_version"), app_versions.size(), "app_versions")]};
      members.push_back(model::member::restore(node, status, std::move(member_roles), std::move(version), up));
    }
  }

  // 3. Seen set.
  model::gossip_overview overview;
  {
    const std::string seen_path = key_path(path, "seen");
    const json& items = as_array(required(g, path, "seen"), seen_path);
    for (std::size_t i = 0; i < items.size(); ++i) overview.seen.insert(node_at(items[i], item_path(seen_path, i)));
  }

  // 4. Reachability.
  {
    const std::string reach_path = key_path(path, "reachability");
    const json& r = as_map(required(g, path, "reachability"), reach_path);
    std::map<unique_address, std::uint64_t> versions;
    const std::string versions_path = key_path(reach_path, "versions");
    const json& version_items = as_array(required(r, reach_path, "versions"), versions_path);
    for (std::size_t i = 0; i < version_items.size(); ++i) {
      const std::string at = item_path(versions_path, i);
      const json& e = as_map(version_items[i], at);
      const unique_address& observer = node_at(required(e, at, "observer"), key_path(at, "observer"));
      if (!versions.emplace(observer, as_unsigned(required(e, at, "version"), key_path(at, "version"))).second)
        fail(at, "observer " + model::to_string(observer) + " appears twice");
    }
    std::vector<model::reachability_record> records;
    const std::string records_path = key_path(reach_path, "records");
    const json& record_items = as_array(required(r, reach_path, "records"), records_path);
    for (std::size_t i = 0; i < record_items.size(); ++i) {
      const std::string at = item_path(records_path, i);
      const json& e = as_map(record_items[i], at);
      records.push_back(model::reachability_record{
          node_at(required(e, at, "observer"), key_path(at, "observer")),
          node_at(required(e, at, "subject"), key_path(at, "subject")),
          reachability_status_of(required(e, at, "status"), key_path(at, "status")),
          as_unsigned(required(e, at, "version"), key_path(at, "version"))});
    }
    overview.reachability = model::reachability::restore(records, std::move(versions));
  }

  // 5. Version and tombstones.
  model::vector_clock version = vector_clock_of(required(g, path, "version"), key_path(path, "version"));
  std::map<unique_address, model::gossip::time> tombstones;
  {
    const std::string tombstones_path = key_path(path, "tombstones");
    const json& items = as_array(required(g, path, "tombstones"), tombstones_path);
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string at = item_path(tombstones_path, i);
      const json& e = as_map(items[i], at);
      const unique_address& node = node_at(required(e, at, "node"), key_path(at, "node"));
      const model::gossip::time when{as_signed(required(e, at, "at"), key_path(at, "at"))};
      if (!tombstones.emplace(node, when).second) fail(at, "node " + model::to_string(node) + " appears twice");
    }
  }
  return model::gossip{std::move(members), std::move(overview), std::move(version), std::move(tombstones)};
}

// ---------------------------------------------------------------------------------------
// Messages: each one `to_json` and one `read` from its map.

bytes to_bytes(const json& j) { return json::to_cbor(j); }

json to_json(const init_join&) { return json::object(); }
json to_json(const init_join_ack& m) { return json{{"address", to_json(m.address)}}; }
json to_json(const init_join_nack& m) { return json{{"address", to_json(m.address)}}; }
json to_json(const join& m) {
  return json{{"node", to_json(m.node)}, {"roles", json(m.roles)}, {"app_version", m.app_version.text()}};
}
json to_json(const welcome& m) { return json{{"from", to_json(m.from)}, {"gossip", to_json(m.gossip)}}; }
json to_json(const leave& m) { return json{{"address", to_json(m.address)}}; }
json to_json(const down& m) { return json{{"address", to_json(m.address)}}; }
json to_json(const exiting_confirmed& m) { return json{{"node", to_json(m.node)}}; }
json to_json(const gossip_envelope& m) {
  return json{{"from", to_json(m.from)}, {"to", to_json(m.to)}, {"gossip", to_json(m.gossip)}};
}
json to_json(const gossip_status& m) {
  return json{{"from", to_json(m.from)},
              {"to", to_json(m.to)},
              {"version", to_json(m.digest.version)},
              {"seen_digest", m.digest.seen_digest}};
}
json to_json(const heartbeat& m) {
  return json{{"from", to_json(m.from)}, {"seq", m.sequence_nr}, {"created", m.creation_time.count()}};
}
json to_json(const heartbeat_rsp& m) {
  return json{{"from", to_json(m.from)}, {"seq", m.sequence_nr}, {"created", m.creation_time.count()}};
}

template <class T>
struct reader;

const std::string root;  // messages' keys are named without a prefix

template <>
struct reader<init_join> {
  static init_join read(const json&) { return {}; }
};
template <>
struct reader<init_join_ack> {
  static init_join_ack read(const json& j) { return {address_of(required(j, root, "address"), "address")}; }
};
template <>
struct reader<init_join_nack> {
  static init_join_nack read(const json& j) { return {address_of(required(j, root, "address"), "address")}; }
};
template <>
struct reader<join> {
  static join read(const json& j) {
    join m;
    m.node = unique_address_of(required(j, root, "node"), "node");
    if (const json* r = optional(j, "roles")) {
      const json& items = as_array(*r, "roles");
      for (std::size_t i = 0; i < items.size(); ++i) m.roles.insert(as_text(items[i], item_path("roles", i)));
    }
    if (const json* v = optional(j, "app_version")) m.app_version = model::app_version{as_text(*v, "app_version")};
    return m;
  }
};
template <>
struct reader<welcome> {
  static welcome read(const json& j) {
    return {unique_address_of(required(j, root, "from"), "from"), gossip_of(required(j, root, "gossip"), "gossip")};
  }
};
template <>
struct reader<leave> {
  static leave read(const json& j) { return {address_of(required(j, root, "address"), "address")}; }
};
template <>
struct reader<down> {
  static down read(const json& j) { return {address_of(required(j, root, "address"), "address")}; }
};
template <>
struct reader<exiting_confirmed> {
  static exiting_confirmed read(const json& j) { return {unique_address_of(required(j, root, "node"), "node")}; }
};
template <>
struct reader<gossip_envelope> {
  static gossip_envelope read(const json& j) {
    return {unique_address_of(required(j, root, "from"), "from"), unique_address_of(required(j, root, "to"), "to"),
            gossip_of(required(j, root, "gossip"), "gossip")};
  }
};
template <>
struct reader<gossip_status> {
  static gossip_status read(const json& j) {
    return {unique_address_of(required(j, root, "from"), "from"),
            unique_address_of(required(j, root, "to"), "to"),
            model::gossip_digest{vector_clock_of(required(j, root, "version"), "version"),
                                 as_unsigned(required(j, root, "seen_digest"), "seen_digest")}};
  }
};
template <>
struct reader<heartbeat> {
  static heartbeat read(const json& j) {
    return {address_of(required(j, root, "from"), "from"), as_unsigned(required(j, root, "seq"), "seq"),
            std::chrono::nanoseconds{as_signed(required(j, root, "created"), "created")}};
  }
};
template <>
struct reader<heartbeat_rsp> {
  static heartbeat_rsp read(const json& j) {
    return {unique_address_of(required(j, root, "from"), "from"), as_unsigned(required(j, root, "seq"), "seq"),
            std::chrono::nanoseconds{as_signed(required(j, root, "created"), "created")}};
  }
};
template <>
struct reader<model::gossip> {
  static constexpr std::string_view manifest = "gossip";
  static model::gossip read(const json& j) { return gossip_of(j, "gossip"); }
};

template <class T>
constexpr std::string_view name_of() {
  if constexpr (std::is_same_v<T, model::gossip>)
    return reader<T>::manifest;
  else
    return T::manifest;
}

}  // namespace

bytes encode(const init_join& m) { return to_bytes(to_json(m)); }
bytes encode(const init_join_ack& m) { return to_bytes(to_json(m)); }
bytes encode(const init_join_nack& m) { return to_bytes(to_json(m)); }
bytes encode(const join& m) { return to_bytes(to_json(m)); }
bytes encode(const welcome& m) { return to_bytes(to_json(m)); }
bytes encode(const leave& m) { return to_bytes(to_json(m)); }
bytes encode(const down& m) { return to_bytes(to_json(m)); }
bytes encode(const exiting_confirmed& m) { return to_bytes(to_json(m)); }
bytes encode(const gossip_envelope& m) { return to_bytes(to_json(m)); }
bytes encode(const gossip_status& m) { return to_bytes(to_json(m)); }
bytes encode(const heartbeat& m) { return to_bytes(to_json(m)); }
bytes encode(const heartbeat_rsp& m) { return to_bytes(to_json(m)); }
bytes encode(const model::gossip& g) { return to_bytes(to_json(g)); }

template <class T>
expected<T, std::string> decode(std::span<const std::uint8_t> wire) {
  try {
    return reader<T>::read(parse_map(wire));
  } catch (const decode_error& e) {
    return unexpected<std::string>{std::string(name_of<T>()) + ": " + e.what()};
  } catch (const json::exception& e) {
    return unexpected<std::string>{std::string(name_of<T>()) + ": " + e.what()};
  }
}

template expected<init_join, std::string> decode<init_join>(std::span<const std::uint8_t>);
template expected<init_join_ack, std::string> decode<init_join_ack>(std::span<const std::uint8_t>);
template expected<init_join_nack, std::string> decode<init_join_nack>(std::span<const std::uint8_t>);
template expected<join, std::string> decode<join>(std::span<const std::uint8_t>);
template expected<welcome, std::string> decode<welcome>(std::span<const std::uint8_t>);
template expected<leave, std::string> decode<leave>(std::span<const std::uint8_t>);
template expected<down, std::string> decode<down>(std::span<const std::uint8_t>);
template expected<exiting_confirmed, std::string> decode<exiting_confirmed>(std::span<const std::uint8_t>);
template expected<gossip_envelope, std::string> decode<gossip_envelope>(std::span<const std::uint8_t>);
template expected<gossip_status, std::string> decode<gossip_status>(std::span<const std::uint8_t>);
template expected<heartbeat, std::string> decode<heartbeat>(std::span<const std::uint8_t>);
template expected<heartbeat_rsp, std::string> decode<heartbeat_rsp>(std::span<const std::uint8_t>);
template expected<model::gossip, std::string> decode<model::gossip>(std::span<const std::uint8_t>);

}  // namespace troupe::cluster::protocol
