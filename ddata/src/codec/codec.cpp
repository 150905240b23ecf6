// The bodies of the non-template types (layout in codec.hpp).
#include "troupe/ddata/codec.hpp"

namespace troupe::ddata {

namespace {

void write_counts(wire::writer& w, const std::map<replica_id, std::uint64_t>& counts) {
  w.varint(counts.size());
  for (const auto& [r, n] : counts) {
    w.replica(r);
    w.varint(n);
  }
}

std::map<replica_id, std::uint64_t> read_counts(wire::reader& r, const char* zero_problem) {
  std::map<replica_id, std::uint64_t> out;
  const std::size_t n = r.count();
  for (std::size_t i = 0; i < n; ++i) {
    auto g = r.item(i);
    const replica_id& who = r.replica();
    const std::uint64_t v = r.varint();
    if (v == 0) r.fail(zero_problem);
    if (!out.emplace(who, v).second) r.fail("the replica appears twice");
  }
  return out;
}

}  // namespace

void wire_codec<gcounter>::write(wire::writer& w, const gcounter& c) { write_counts(w, c.counts()); }

gcounter wire_codec<gcounter>::read(wire::reader& r) {
  auto f = r.field("counts");
  return gcounter(read_counts(r, "a zero count"));
}

void wire_codec<pncounter>::write(wire::writer& w, const pncounter& c) {
  wire_codec<gcounter>::write(w, c.increments());
  wire_codec<gcounter>::write(w, c.decrements());
}

pncounter wire_codec<pncounter>::read(wire::reader& r) {
  gcounter p = [&] {
    auto f = r.field("increments");
    return wire_codec<gcounter>::read(r);
  }();
  auto f = r.field("decrements");
  gcounter n = wire_codec<gcounter>::read(r);
  return pncounter(std::move(p), std::move(n));
}

void wire_codec<flag>::write(wire::writer& w, const flag& f) { w.byte(f.enabled() ? 1 : 0); }

flag wire_codec<flag>::read(wire::reader& r) {
  auto f = r.field("enabled");
  const std::uint8_t b = r.byte();
  if (b > 1) r.fail("flag byte " + std::to_string(b) + " is not 0 or 1");
  return flag(b == 1);
}

void wire_codec<dot_context>::write(wire::writer& w, const dot_context& c) {
  write_counts(w, c.versions());
  w.varint(c.cloud().size());
  for (const dot& d : c.cloud()) {
    w.replica(d.replica);
    w.varint(d.counter);
  }
}

dot_context wire_codec<dot_context>::read(wire::reader& r) {
  auto f = r.field("context");
  std::map<replica_id, std::uint64_t> versions = [&] {
    auto g = r.field("versions");
    return read_counts(r, "a zero version");
  }();
  auto g = r.field("cloud");
  std::set<dot> cloud;
  const std::size_t n = r.count();
  for (std::size_t i = 0; i < n; ++i) {
    auto h = r.item(i);
    dot d{r.replica(), r.varint()};
    if (d.counter == 0) r.fail("a dot with counter 0");
    if (!cloud.insert(std::move(d)).second) r.fail("the dot appears twice");
  }
  return dot_context(std::move(versions), std::move(cloud));
}

}  // namespace troupe::ddata
