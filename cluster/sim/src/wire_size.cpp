#include "troupe/cluster/sim/wire_size.hpp"

#include <set>
#include <string>

namespace troupe::cluster::sim {
namespace {

constexpr std::size_t frame_header = 4 + 1;  // length prefix and message type

std::size_t string_size(const std::string& s) { return varint_size(s.size()) + s.size(); }

// A unique address written in full: host, port, uid (the system name is written once).
std::size_t full_address_size(const model::unique_address& a) {
  return string_size(a.address.host) + 2 + 8;
}

std::size_t version_size(const model::vector_clock& v) {
  std::size_t n = varint_size(v.versions().size());
  for (const auto& [node, counter] : v.versions()) n += 8 + varint_size(counter);
  return n;
}

}  // namespace

std::size_t varint_size(std::uint64_t value) noexcept {
  std::size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

std::size_t gossip_size(const model::gossip& g) {
  const auto& members = g.members();
  // 1. Address table: the system name once, then each member (index = position).
  std::size_t n = members.empty() ? 1 : string_size(members.front().address().system);
  n += varint_size(members.size());
  for (const auto& m : members) n += full_address_size(m.unique_address());

  // 2. Role and version tables, written once.
  std::set<std::string> roles;
  std::set<std::string> versions;
  for (const auto& m : members) {
    roles.insert(m.roles().begin(), m.roles().end());
    versions.insert(m.app_version().text());
  }
  n += varint_size(roles.size()) + varint_size(versions.size());
  for (const auto& r : roles) n += string_size(r);
  for (const auto& v : versions) n += string_size(v);

  // 3. Members: address index, status, up number, role indices, version index.
  const std::size_t index_bytes = varint_size(members.size());
  for (const auto& m : members) {
    n += index_bytes + 1 + varint_size(static_cast<std::uint32_t>(m.up_number()));
    n += varint_size(m.roles().size()) + m.roles().size() * varint_size(roles.size());
    n += varint_size(versions.size());
  }

  // 4. Seen set: address indices.
  n += varint_size(g.seen_count()) + g.seen_count() * index_bytes;

  // 5. Reachability: per observer its index and version, then its records.
  const auto& versions_by_observer = g.reachability().versions();
  n += varint_size(versions_by_observer.size());
  for (const auto& [observer, version] : versions_by_observer) n += index_bytes + varint_size(version);
  const auto records = g.reachability().records();
  n += varint_size(records.size());
  for (const auto& r : records) n += 2 * index_bytes + 1 + varint_size(r.version);

  // 6. Version and tombstones (removed nodes are not in the address table).
  n += version_size(g.version());
  n += varint_size(g.tombstones().size());
  for (const auto& [node, when] : g.tombstones()) n += full_address_size(node) + 8;
  return n;
}

std::size_t gossip_envelope_size(const model::gossip& g) {
  return frame_header + 2 * (2 + 8 + 16) + gossip_size(g);
}

std::size_t gossip_status_size(const model::gossip& g) {
  return frame_header + 2 * (2 + 8 + 16) + version_size(g.version()) + 8;
}

std::size_t gossip_status_size(const model::gossip_digest& d) {
  return frame_header + 2 * (2 + 8 + 16) + version_size(d.version) + 8;
}

std::size_t heartbeat_size() noexcept { return frame_header + (2 + 8 + 16) + 8 + 8; }

}  // namespace troupe::cluster::sim
