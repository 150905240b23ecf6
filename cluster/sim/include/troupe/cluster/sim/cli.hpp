// cli: troupe-sim's command line for the cluster scenarios. The executable itself is built
// in sharding/sim (its main sends `--scenario shard-*` to the sharding simulator and
// everything else here), since the cluster layer must not depend on sharding.
//
//   int main(int argc, char** argv) { return troupe::cluster::sim::run_cli(argc, argv); }
//
// Exit status: 0 when the scenario met its expectations and no invariant broke, 1 when
// not (the seed and step are printed on stderr), 2 for a bad command line.
#pragma once

namespace troupe::cluster::sim {

/// The options of the cluster scenarios, as printed by --help.
extern const char* const cli_usage;

/// Parses `argv` (troupe-sim's options), runs the scenario and prints its report on stdout;
/// returns the exit status.
int run_cli(int argc, char** argv);

}  // namespace troupe::cluster::sim
