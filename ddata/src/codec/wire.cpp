#include "troupe/ddata/wire.hpp"

#include <limits>
#include <set>

namespace troupe::ddata::wire {

void writer::varint(std::uint64_t v) {
  while (v >= 0x80) {
    body_.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  body_.push_back(static_cast<std::uint8_t>(v));
}

void writer::text(std::string_view t) {
  varint(t.size());
  body_.insert(body_.end(), t.begin(), t.end());
}

void writer::replica(const replica_id& r) {
  auto [it, added] = index_.emplace(r, table_.size());
  if (added) table_.push_back(&it->first);
  varint(it->second);
}

bytes writer::finish() const {
  writer head;
  head.byte(layout_version);
  head.varint(table_.size());
  for (const replica_id* r : table_) {
    head.text(r->address.system);
    head.text(r->address.host);
    head.varint(r->address.port);
    head.varint(r->uid);
  }
  bytes out = std::move(head.body_);
  out.insert(out.end(), body_.begin(), body_.end());
  return out;
}

reader::reader(std::span<const std::uint8_t> wire) : in_(wire) {
  {
    auto f = field("version");
    const std::uint8_t v = byte();
    if (v != layout_version) fail("unknown layout " + std::to_string(v));
  }
  auto f = field("replicas");
  const std::size_t n = count();
  table_.reserve(n);
  std::set<replica_id> seen;
  for (std::size_t i = 0; i < n; ++i) {
    auto g = item(i);
    replica_id r;
    r.address.system = text();
    r.address.host = text();
    const std::uint64_t port = varint();
    if (port > std::numeric_limits<std::uint16_t>::max()) fail("port " + std::to_string(port) + " out of range");
    r.address.port = static_cast<std::uint16_t>(port);
    r.uid = varint();
    if (!seen.insert(r).second) fail("the replica appears twice in the table");
    table_.push_back(std::move(r));
  }
}

std::uint8_t reader::byte() {
  if (in_.empty()) fail("truncated");
  const std::uint8_t b = in_[0];
  in_ = in_.subspan(1);
  return b;
}

std::uint64_t reader::varint() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in_.empty()) fail("truncated");
    const std::uint8_t b = in_[0];
    in_ = in_.subspan(1);
    if (shift == 63 && (b & 0x7e) != 0) fail("varint out of range");
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return v;
  }
  fail("varint longer than 10 bytes");
}

std::string reader::text() {
  const std::uint64_t n = varint();
  if (n > in_.size()) fail("truncated");
  std::string t(reinterpret_cast<const char*>(in_.data()), static_cast<std::size_t>(n));
  in_ = in_.subspan(static_cast<std::size_t>(n));
  return t;
}

const replica_id& reader::replica() {
  const std::uint64_t i = varint();
  if (i >= table_.size()) {
    fail("replica index " + std::to_string(i) + " of a table of " + std::to_string(table_.size()));
  }
  return table_[static_cast<std::size_t>(i)];
}

std::size_t reader::count() {
  const std::uint64_t n = varint();
  if (n > in_.size()) fail("count " + std::to_string(n) + " larger than the " + std::to_string(in_.size()) + " bytes left");
  return static_cast<std::size_t>(n);
}

void reader::finish() const {
  if (!in_.empty()) fail(std::to_string(in_.size()) + " bytes after the value");
}

void reader::fail(std::string_view problem) const {
  std::string where;
  for (const auto& [name, index] : path_) {
    if (name == nullptr) {
      where += '[' + std::to_string(index) + ']';
    } else {
      if (!where.empty()) where += '.';
      where += name;
    }
  }
  if (where.empty()) where = "value";
  throw decode_error(where + ": " + std::string(problem));
}

}  // namespace troupe::ddata::wire
