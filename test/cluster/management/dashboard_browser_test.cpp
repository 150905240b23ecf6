// The dashboard in a real browser (issue 13): three hello_cluster processes
// (samples/hello_cluster, path in TROUPE_HELLO_CLUSTER_EXE) on loopback aliases, node 1
// serving management on a free port; headless Chromium (Debian's `chromium`, installed by
// .ci/install-deps) loads node 1's /dashboard and prints the DOM its script built, which
// the test reads: three Up members and the leader; then node 3 is killed with SIGKILL and
// the page, loaded again until a deadline, marks it unreachable. The last load also saves
// a screenshot to TROUPE_DASHBOARD_SCREENSHOT (build/<flavour>/dashboard.png).
//
// Each Chromium run is a child process with a fresh profile, flags that keep it off the
// network (it would try Google hosts otherwise) and a deadline; it runs JavaScript for a
// virtual 3 s (--virtual-time-budget), two or three refreshes of the page, then dumps the
// DOM. The nodes use short failure-detection intervals (heartbeat 200 ms, acceptable pause
// 1 s) and no downing, so node 3 stays a member, unreachable, within seconds.
#include <catch2/catch.hpp>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/child_process.hpp"
#include "support/temp_files.hpp"

#ifndef TROUPE_HELLO_CLUSTER_EXE
#error "TROUPE_HELLO_CLUSTER_EXE must name the hello_cluster program"
#endif
#ifndef TROUPE_DASHBOARD_SCREENSHOT
#error "TROUPE_DASHBOARD_SCREENSHOT must name the screenshot file"
#endif

using namespace std::chrono_literals;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;
using troupe::test_support::child_process;

namespace {

constexpr const char* chromium_path = "/usr/bin/chromium";
constexpr const char* system_name = "dash";

/// Node k listens on 127.81.<from the pid>.k:2590+k, apart from the other process tests.
std::string host_of(int k) { return "127.81." + std::to_string(1 + getpid() % 250) + "." + std::to_string(k); }
std::uint16_t port_of(int k) { return static_cast<std::uint16_t>(2590 + k); }
std::string address_of(int k) {
  return std::string("troupe://") + system_name + "@" + host_of(k) + ":" + std::to_string(port_of(k));
}

/// Fast failure detection, and no downing: a killed node stays a member, unreachable.
json cluster_config() {
  return json{{"system", system_name},
              {"remote", {{"host", host_of(1)}, {"port", port_of(1)}, {"cookie", "troupe-dashboard-test"}}},
              {"seed-nodes", {address_of(1), address_of(2)}},
              {"gossip-interval-ms", 200},
              {"heartbeat-interval-ms", 200},
              {"leader-actions-interval-ms", 200},
              {"unreachable-nodes-reaper-interval-ms", 200},
              {"seed-node-timeout-ms", 1000},
              {"retry-unsuccessful-join-after-ms", 1000},
              {"failure-detector", {{"acceptable-heartbeat-pause-ms", 1000}, {"expected-response-after-ms", 500}}},
              {"downing", {{"strategy", "off"}}}};
}

/// A hello_cluster process and what its JSON lines said: its management port, the members
/// it saw come up, its leader.
struct cluster_node {
  cluster_node(int k, const std::filesystem::path& config, const std::filesystem::path& dir)
      : address(address_of(k)),
        proc({TROUPE_HELLO_CLUSTER_EXE, "--config", config.string(), "--host", host_of(k), "--port",
              std::to_string(port_of(k)), "--management-port", "0", "--json"},
             dir / ("node" + std::to_string(k) + ".err")) {}

  void pump() {
    for (const auto& line : proc.read_lines()) {
      lines.push_back(line);
      const json e = json::parse(line, nullptr, false);
      if (e.is_discarded() || !e.is_object()) continue;
      const std::string event = e.value("event", "");
      if (event == "management") management_port = e.value("port", 0);
      if (event == "leader_changed") leader = e.value("leader", "");
      if (event == "member_up" && e.contains("member")) up.push_back(e["member"].value("node", ""));
    }
  }
  int stdout_fd() const { return proc.stdout_fd(); }
  std::string transcript() const {
    std::string out = "--- " + address + "\n";
    for (const auto& l : lines) out += l + "\n";
    return out + "--- stderr:\n" + proc.stderr_tail();
  }

  std::string address;
  child_process proc;
  std::vector<std::string> lines;
  std::optional<int> management_port;
  std::string leader;
  std::vector<std::string> up;
};

/// One headless Chromium run on `url`: the DOM after a virtual 3 s of script, and the
/// screenshot if `screenshot` is given. Fails the test if Chromium does not end in 30 s.
std::string load_dom(const std::string& url, const std::filesystem::path& dir, int run,
                     const std::optional<std::filesystem::path>& screenshot = std::nullopt) {
  const auto profile = dir / ("profile-" + std::to_string(run));
  std::filesystem::create_directories(profile);
  std::vector<std::string> args{chromium_path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                "--disable-sync", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
                                "--user-data-dir=" + profile.string(), "--window-size=1280,900",
                                "--virtual-time-budget=3000", "--dump-dom"};
  if (screenshot) args.push_back("--screenshot=" + screenshot->string());
  args.push_back(url);
  child_process browser(args, dir / ("chromium-" + std::to_string(run) + ".err"));
  std::string dom;
  const auto done = troupe::test_support::pump_until(
      [&](milliseconds wait) {
        pollfd fd{browser.stdout_fd(), POLLIN, 0};
        if (fd.fd >= 0) ::poll(&fd, 1, static_cast<int>(wait.count()));
        for (const auto& line : browser.read_lines()) dom += line + "\n";
      },
      30s, [&] { return !browser.running(); });
  if (!done) FAIL("chromium did not finish loading " << url << " within 30 s; stderr:\n" << browser.stderr_tail());
  if (dom.find("</html>") == std::string::npos) {
    FAIL("chromium printed no DOM for " << url << " (exit " << browser.exit_code().value_or(-1) << "); stderr:\n"
                                        << browser.stderr_tail());
  }
  return dom;
}

/// The value of `attribute` in the start tag that holds `marker` (`data-member="..."`),
/// or nullopt when no tag holds it or the tag lacks the attribute.
std::optional<std::string> attribute_near(const std::string& dom, const std::string& marker,
                                          const std::string& attribute) {
  const auto at = dom.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const auto open = dom.rfind('<', at);
  const auto close = dom.find('>', at);
  const std::string tag = dom.substr(open, close - open);
  const auto a = tag.find(" " + attribute + "=\"");
  if (a == std::string::npos) return std::nullopt;
  const auto start = a + attribute.size() + 3;
  return tag.substr(start, tag.find('"', start) - start);
}

std::optional<std::string> member_attribute(const std::string& dom, const std::string& member,
                                            const std::string& attribute) {
  return attribute_near(dom, "data-member=\"" + member + "\"", attribute);
}

/// How many times `what` occurs in `text`.
std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("dashboard in headless Chromium: three Up members and the leader, then a killed node turns unreachable",
          "[integration][browser]") {
  const auto test_start = steady::now();
  if (!std::filesystem::exists(chromium_path)) {
    FAIL(chromium_path << " not found: this test drives Debian's chromium package headless; install it with "
                          ".ci/install-deps (or apt-get install chromium)");
  }
  troupe::test_support::temp_dir dir{"troupe-dashboard"};
  const auto config = dir.path() / "cluster.json";
  std::ofstream(config) << cluster_config().dump(2);

  // 1. Three nodes; wait until node 1 has seen all three up and has a leader.
  std::vector<std::unique_ptr<cluster_node>> nodes;
  for (int k = 1; k <= 3; ++k) nodes.push_back(std::make_unique<cluster_node>(k, config, dir.path()));
  auto transcript = [&] {
    std::string out;
    for (const auto& n : nodes) out += n->transcript();
    return out;
  };
  auto pump = [&](milliseconds wait) { troupe::test_support::pump_all(nodes, wait); };
  cluster_node& first = *nodes[0];
  const auto converged = troupe::test_support::pump_until(pump, 30s, [&] {
    if (!first.management_port || first.leader.empty()) return false;
    for (const auto& n : nodes)
      if (std::find(first.up.begin(), first.up.end(), n->address) == first.up.end()) return false;
    return true;
  });
  if (!converged) FAIL("three nodes not up on node 1 within 30 s\n" << transcript());
  std::cout << "[browser] three nodes up after " << *converged << " ms\n";
  const std::string url = "http://127.0.0.1:" + std::to_string(*first.management_port) + "/dashboard";
  int runs = 0;

  // 2. The page shows three Up members, one of them the leader node 1 reports, and no error.
  std::string dom;
  const auto shown = troupe::test_support::pump_until(pump, 20s, [&] {
    dom = load_dom(url, dir.path(), ++runs);
    for (const auto& n : nodes)
      if (member_attribute(dom, n->address, "data-status") != "Up") return false;
    return true;
  });
  INFO("last DOM:\n" << dom);
  if (!shown) FAIL("the dashboard did not show three Up members within 20 s\n" << transcript());
  CHECK(count(dom, "<tr data-member=") == 3);
  CHECK(member_attribute(dom, first.leader, "data-leader") == "true");
  CHECK(count(dom, "data-leader=\"true\"") == 1);
  CHECK(member_attribute(dom, first.address, "data-self") == "true");
  for (const auto& n : nodes) CHECK(member_attribute(dom, n->address, "data-unreachable") == "false");
  CHECK(attribute_near(dom, "<body", "data-error") == "false");
  CHECK(attribute_near(dom, "<body", "data-updated") != "0");
  CHECK(dom.find("data-metric=\"messages-processed\"") != std::string::npos);
  CHECK(count(dom, "data-observer=") == 9);  // the 3 x 3 reachability matrix

  // 3. Kill node 3: the page marks it unreachable, in the table and in the matrix.
  cluster_node& victim = *nodes[2];
  REQUIRE(victim.proc.kill_9());
  const auto killed_at = steady::now();
  const auto marked = troupe::test_support::pump_until(pump, 20s, [&] {
    dom = load_dom(url, dir.path(), ++runs, std::filesystem::path(TROUPE_DASHBOARD_SCREENSHOT));
    return member_attribute(dom, victim.address, "data-unreachable") == "true";
  });
  if (!marked) FAIL("the dashboard did not show node 3 unreachable within 20 s\n" << transcript());
  std::cout << "[browser] node 3 shown unreachable "
            << std::chrono::duration_cast<milliseconds>(steady::now() - killed_at).count() << " ms after SIGKILL\n";
  CHECK(member_attribute(dom, victim.address, "data-status") == "Up");
  CHECK(member_attribute(dom, first.address, "data-unreachable") == "false");
  CHECK(attribute_near(dom, "data-subject=\"" + victim.address + "\" data-unreachable=\"true\"", "data-observer")
            .has_value());
  CHECK(count(dom, "data-unreachable=\"true\"") >= 2);  // the row, and at least one cell of the matrix
  CHECK(std::filesystem::file_size(TROUPE_DASHBOARD_SCREENSHOT) > 0);
  std::cout << "[browser] " << runs << " page loads, screenshot " << TROUPE_DASHBOARD_SCREENSHOT << ", "
            << std::chrono::duration_cast<milliseconds>(steady::now() - test_start).count() << " ms in all\n";
}
