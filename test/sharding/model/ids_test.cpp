#include "troupe/sharding/model/ids.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

using troupe::sharding::model::default_shard_of;
using troupe::sharding::model::stable_hash;

TEST_CASE("stable_hash is FNV-1a 64 then the splitmix64 finaliser, bit for bit", "[unit][sharding][ids]") {
  // Reference values computed independently (a few lines of Python) from the definition in
  // ids.hpp. The FNV-1a step alone gives the published test vectors: "" -> the offset basis
  // 0xcbf29ce484222325, "a" -> 0xaf63dc4c8601ec8c, "foobar" -> 0x85944171f73967e8.
  CHECK(stable_hash("") == 0xf52a15e9a9b5e89bULL);
  CHECK(stable_hash("a") == 0x02c0bdbf481420f8ULL);
  CHECK(stable_hash("foobar") == 0x404da9e3b74078c2ULL);
  CHECK(stable_hash("alice") == 0xc5d1556d66774a5cULL);
  CHECK(stable_hash("cart-42") == 0x5d4e9a12b0062cc6ULL);
  CHECK(stable_hash("127.0.0.1:2551/sys#0") == 0xc52b058bcb59b147ULL);
}

TEST_CASE("stable_hash reads every byte, including NUL and bytes above 0x7f", "[unit][sharding][ids]") {
  const std::string with_nul("a\0b", 3);
  CHECK(stable_hash(with_nul) != stable_hash("ab"));
  CHECK(stable_hash(with_nul) != stable_hash("a"));
  CHECK(stable_hash("\xff") != stable_hash("\x7f"));
  CHECK(stable_hash(std::string_view{"alice-and-bob"}.substr(0, 5)) == stable_hash("alice"));
}

TEST_CASE("default_shard_of is the decimal text of the hash modulo the shard count", "[unit][sharding][ids]") {
  CHECK(default_shard_of("alice", 100) == "72");  // 0xc5d1556d66774a5c % 100
  CHECK(default_shard_of("cart-42", 100) == "42");
  CHECK(default_shard_of("", 100) == "3");
  CHECK(default_shard_of("alice", 1) == "0");
  CHECK(default_shard_of("alice", 100) == default_shard_of("alice", 100));
  CHECK(default_shard_of("foobar", 0xffffffffU) == std::to_string(0x404da9e3b74078c2ULL % 0xffffffffULL));
}

TEST_CASE("default_shard_of spreads 100k ids evenly over 100 shards", "[unit][sharding][ids]") {
  // Ids of the shape applications use ("user-17"), whose FNV-1a hashes differ only in a few
  // bytes: the finaliser must still spread them. With 1000 ids expected per shard the
  // standard deviation of a count is about 31.5, so [850, 1150] is more than 4.7 sigma on
  // either side, and the chi-squared statistic (99 degrees of freedom, mean 99, standard
  // deviation 14) stays far below 200.
  constexpr std::uint32_t shards = 100;
  constexpr int ids = 100'000;
  std::vector<int> counts(shards, 0);
  for (int i = 0; i < ids; ++i) {
    const std::string shard = default_shard_of("user-" + std::to_string(i), shards);
    const unsigned long index = std::stoul(shard);
    REQUIRE(index < shards);
    REQUIRE(shard == std::to_string(index));
    ++counts[index];
  }
  const auto [low, high] = std::minmax_element(counts.begin(), counts.end());
  CAPTURE(*low, *high);
  CHECK(*low >= 850);
  CHECK(*high <= 1150);
  double chi_squared = 0;
  for (const int c : counts) chi_squared += (c - 1000.0) * (c - 1000.0) / 1000.0;
  CAPTURE(chi_squared);
  CHECK(chi_squared < 200);
}
