// actor_uri: the URIs other nodes use for a node's actors, IPv6 hosts in brackets.
#include <catch2/catch.hpp>

#include <troupe/cluster/model/actor_uri.hpp>

namespace model = troupe::cluster::model;

TEST_CASE("actor_uri: IPv4 and host names as they are, IPv6 in brackets", "[unit]") {
  CHECK(model::node_uri({"shop", "10.0.0.7", 2552}) == "troupe://shop@10.0.0.7:2552");
  CHECK(model::node_uri({"shop", "node-3.example", 25520}) == "troupe://shop@node-3.example:25520");
  CHECK(model::node_uri({"shop", "::1", 2552}) == "troupe://shop@[::1]:2552");
  CHECK(model::actor_uri({"shop", "fe80::1", 1}, "/system/ddata-replicator") ==
        "troupe://shop@[fe80::1]:1/system/ddata-replicator");
  CHECK(model::actor_uri({"s", "127.0.0.1", 2551}, "/user/a/b") == "troupe://s@127.0.0.1:2551/user/a/b");
}
