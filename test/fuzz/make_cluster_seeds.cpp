// Writes the seed corpus of the cluster protocol fuzz target: make_cluster_seeds <dir>
// fills <dir>/cluster with one valid message of each type (a type byte, then the body),
// gossips from the model tests' generator among them. Rerun after a format change.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "cluster/model/random_gossip.hpp"
#include "troupe/cluster/protocol.hpp"

namespace protocol = troupe::cluster::protocol;
namespace model = troupe::cluster::model;
namespace fs = std::filesystem;

namespace {

fs::path out_dir;
int written = 0;

void write(std::uint8_t type, const protocol::bytes& body) {
  const fs::path dir = out_dir / "cluster";
  fs::create_directories(dir);
  std::ofstream out(dir / ("seed-" + std::to_string(written++)), std::ios::binary);
  out.put(static_cast<char>(type));
  out.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  out_dir = argv[1];
  std::mt19937_64 rng{42};
  const auto a = model::testing::test_node(1), b = model::testing::test_node(2);
  model::testing::random_history history(rng, 5);
  const model::gossip g = history.replica(rng);
  write(0, protocol::encode(protocol::init_join{}));
  write(1, protocol::encode(protocol::init_join_ack{a.address}));
  write(2, protocol::encode(protocol::init_join_nack{b.address}));
  write(3, protocol::encode(protocol::join{a, {"backend", "frontend"}, model::app_version("1.2.3")}));
  write(4, protocol::encode(protocol::welcome{b, g}));
  write(5, protocol::encode(protocol::leave{a.address}));
  write(6, protocol::encode(protocol::down{b.address}));
  write(7, protocol::encode(protocol::exiting_confirmed{a}));
  write(8, protocol::encode(protocol::gossip_envelope{a, b, g}));
  write(9, protocol::encode(protocol::gossip_status{a, b, g.digest()}));
  write(10, protocol::encode(protocol::heartbeat{a.address, 7, std::chrono::nanoseconds(123456789)}));
  write(11, protocol::encode(protocol::heartbeat_rsp{b, 7, std::chrono::nanoseconds(123456789)}));
  for (int i = 0; i < 4; ++i) {
    model::testing::random_history h(rng, 3 + i * 4);
    write(12, protocol::encode(h.replica(rng)));
  }
  std::printf("wrote %d seeds to %s/cluster\n", written, out_dir.c_str());
  return 0;
}
