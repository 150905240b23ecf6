#include "troupe/base/node_address.hpp"

#include <unordered_set>

#include <catch2/catch.hpp>

using troupe::node_address;
using troupe::parse_node_address;
using troupe::unique_node_address;

TEST_CASE("node address: to_string brackets an IPv6 literal, and parse reads back what it wrote",
          "[unit][base][address]") {
  const node_address v4{"orders", "127.0.0.2", 2552};
  const node_address v6{"orders", "::1", 2552};
  const node_address name{"orders", "node-1.example", 0};
  CHECK(to_string(v4) == "troupe://orders@127.0.0.2:2552");
  CHECK(to_string(v6) == "troupe://orders@[::1]:2552");
  CHECK(to_string(unique_node_address{v6, 7}) == "troupe://orders@[::1]:2552#7");
  for (const auto& a : {v4, v6, name}) {
    INFO(to_string(a));
    const auto back = parse_node_address(to_string(a));
    REQUIRE(back);
    CHECK(*back == a);
  }
  // What writers before the brackets produced still reads: the last colon is the port's.
  const auto old = parse_node_address("troupe://orders@::1:2552");
  REQUIRE(old);
  CHECK(*old == v6);
}

TEST_CASE("node address: parse refuses what is not one", "[unit][base][address]") {
  for (const char* bad : {"", "troupe://", "akka://orders@h:1", "troupe://@h:1", "troupe://orders@:1",
                          "troupe://orders@h", "troupe://orders@h:", "troupe://orders@h:65536",
                          "troupe://orders@h:12x", "troupe://orders@h:1/user/a", "troupe://orders@[::1]",
                          "troupe://orders@[::1]2552", "troupe://orders@[]:1", "troupe://orders@[::1:1",
                          "troupe://orders@h:-1"}) {
    INFO(bad);
    CHECK_FALSE(parse_node_address(bad));
  }
}

TEST_CASE("node address: order, equality and hash agree", "[unit][base][address]") {
  const unique_node_address a{{"s", "h", 1}, 1}, b{{"s", "h", 1}, 2}, c{{"s", "h", 2}, 1};
  CHECK(a < b);
  CHECK(b < c);  // the address orders first, the uid second
  CHECK(a != b);
  std::unordered_set<unique_node_address> set{a, b, c, a};
  CHECK(set.size() == 3);
  std::unordered_set<node_address> nodes{a.address, b.address, c.address};
  CHECK(nodes.size() == 2);
}
