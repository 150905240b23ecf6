// The coordinator sends the region set only when the set changes. A completed hand-off
// does not change it: sending it anyway cost, at 1,000 regions, 1,000 messages naming
// 1,000 regions per moved shard (troupe-sim's rolling restart found it).
#include <catch2/catch.hpp>

#include <variant>

#include <troupe/sharding/model/coordinator_core.hpp>

using namespace std::chrono_literals;
namespace model = troupe::sharding::model;

namespace {

model::region_id region(std::uint16_t port) { return {{"sys", "127.0.0.1", port}, 1}; }

model::register_region registration(const model::region_id& r, std::vector<model::shard_id> hosted = {}) {
  model::register_region m;
  m.region = r;
  m.hosted = std::move(hosted);
  return m;
}

std::size_t region_sets(const std::vector<model::coordinator_output>& out) {
  std::size_t n = 0;
  for (const auto& o : out) n += std::holds_alternative<model::region_set>(o.message);
  return n;
}

}  // namespace

TEST_CASE("coordinator_core: a completed hand-off sends no region set (the set did not change)",
          "[unit][sharding][coordinator]") {
  const auto a = region(1), b = region(2);
  model::coordinator_core core{{}, {a, 7}, model::least_shard(), 0s};
  model::member_view v;
  v.members = v.up = {a, b};
  core.on_view(v, 0s);
  core.receive(registration(a), 0s);
  core.receive(registration(b, {"1", "2", "3", "4"}), 0s);  // b hosts all four
  REQUIRE_FALSE(core.recovering());
  (void)core.take_outbox();

  // 1. A rebalance round moves shards from b to a; every region acknowledges.
  core.on_tick(model::coordinator_tick::rebalance, 10s);
  const auto moving = core.handoffs_in_progress();
  REQUIRE_FALSE(moving.empty());
  const auto shard = *moving.begin();
  core.receive(model::begin_handoff_ack{a, shard}, 10s);
  core.receive(model::begin_handoff_ack{b, shard}, 10s);
  (void)core.take_outbox();

  // 2. The owner reports it stopped: the shard gets its new home; the region set is as it was.
  const auto regions_before = core.table().regions().size();
  core.receive(model::shard_stopped{b, shard}, 10s);
  const auto out = core.take_outbox();
  CHECK(core.table().regions().size() == regions_before);
  CHECK(region_sets(out) == 0);
}
