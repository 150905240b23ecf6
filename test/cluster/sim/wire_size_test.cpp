#include "troupe/cluster/sim/wire_size.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace troupe::cluster::model;
using namespace troupe::cluster::sim;

namespace {

unique_address node(int i) {
  return {{"troupe-sim", "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), 2552},
          0x1000u + static_cast<std::uint64_t>(i)};
}

gossip cluster_of(int n) {
  std::vector<member> ms;
  for (int i = 0; i < n; ++i) ms.push_back(*member{node(i)}.copy_up(i + 1));
  gossip g{ms};
  for (int i = 0; i < n; ++i) g = g.seen(node(i));
  return g.increment(node(0));
}

}  // namespace

TEST_CASE("varints take 7 bits per byte", "[unit][sim_wire_size]") {
  CHECK(varint_size(0) == 1);
  CHECK(varint_size(127) == 1);
  CHECK(varint_size(128) == 2);
  CHECK(varint_size(16383) == 2);
  CHECK(varint_size(16384) == 3);
  CHECK(varint_size(~0ULL) == 10);
}

TEST_CASE("a full gossip grows linearly with the members, a status does not",
          "[unit][sim_wire_size]") {
  const std::size_t small = gossip_size(cluster_of(10));
  const std::size_t large = gossip_size(cluster_of(100));
  const double per_member = static_cast<double>(large - small) / 90.0;
  CHECK(per_member > 20);  // host, port, uid, status, up number, seen index
  CHECK(per_member < 40);
  CHECK(gossip_status_size(cluster_of(100)) == gossip_status_size(cluster_of(10)));
  CHECK(gossip_status_size(cluster_of(100)) < gossip_envelope_size(cluster_of(100)));
  CHECK(gossip_envelope_size(cluster_of(10)) > gossip_size(cluster_of(10)));
}

TEST_CASE("reachability records and tombstones count", "[unit][sim_wire_size]") {
  const gossip g = cluster_of(5);
  const gossip with_record = g.with_reachability(g.reachability().unreachable(node(0), node(1)));
  CHECK(gossip_size(with_record) > gossip_size(g));
  const gossip removed = g.remove(node(4), std::chrono::seconds{1});
  CHECK(gossip_size(removed) > gossip_size(cluster_of(4)));
}
