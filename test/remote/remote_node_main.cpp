// remote_node: one troupe node in its own process, for the process-level tests
// (process_test.cpp starts it; it is not a test itself).
//
//   remote_node <system-name> '<remote settings as JSON>'
//
// Starts an actor system with the transport, spawns /user/echo and prints one line on
// stdout: `<address> <uid>` (e.g. `troupe://beta@127.0.0.1:40123 8312...`). Then it obeys
// one command per line on stdin, answering each with one line on stdout:
//   stats       -> `stats {"messages_received": N, "connections_closed_bad_input": N,
//                          "accept_failures": N, ...}`
//   stop-echo   -> `stopped` (after stopping /user/echo, so its watchers hear of it)
// It exits 0 when stdin closes. Logs go to stderr.
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include <troupe/actor.hpp>
#include <troupe/remote/transport.hpp>

namespace {

// The same manifests as in process_test.cpp: the wire contract between the two programs.
struct ping {
  std::string text;
  troupe::actor_ref reply_to;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ping, text, reply_to)

struct pong {
  std::string text;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(pong, text)

/// Answers a ping to its reply_to (or the sender), and echoes strings to their sender.
class echo final : public troupe::actor {
 public:
  troupe::behavior make_behavior() override {
    return {[this](const ping& p) { (p.reply_to ? p.reply_to : sender()).tell(pong{p.text}, self()); },
            [](const std::string& s) { return s; }};
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  if (argc != 3) {
    std::cerr << "usage: remote_node <system-name> '<remote settings JSON>'\n";
    return 64;
  }
  auto settings = troupe::remote::remote_settings::parse(std::string(argv[2]));
  if (!settings) {
    std::cerr << "remote_node: bad settings: " << settings.error().what() << '\n';
    return 64;
  }
  troupe::actor_system system(argv[1]);
  auto& remoting = system.extension<troupe::remote::transport>();
  remoting.serialization().register_json<ping>("process_test.ping");
  remoting.serialization().register_json<pong>("process_test.pong");
  auto bound = remoting.start(*settings);
  if (!bound) {
    std::cerr << "remote_node: cannot start the transport: " << bound.error() << '\n';
    return 1;
  }
  auto echo_ref = system.spawn<echo>("echo");
  std::cout << to_string(*bound) << ' ' << remoting.uid() << std::endl;

  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "stats") {
      const auto s = remoting.stats();
      const nlohmann::json j{{"messages_received", s.messages_received},
                             {"messages_sent", s.messages_sent},
                             {"connections_closed_bad_input", s.connections_closed_bad_input},
                             {"system_messages_resent", s.system_messages_resent},
                             {"accept_failures", s.accept_failures},
                             {"connections_refused", s.connections_refused},
                             {"connected_peers", remoting.connected_peer_count()}};
      std::cout << "stats " << j.dump() << std::endl;
    } else if (line == "stop-echo") {
      system.stop(echo_ref);
      std::cout << "stopped" << std::endl;
    } else {
      std::cout << "error unknown command '" << line << "'" << std::endl;
    }
  }
  system.terminate();
  system.await_termination(5s);
  return 0;
}
