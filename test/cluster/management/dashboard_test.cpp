// The dashboard page of the management server: its routes and what the page may contain
// ([unit]), then its header fields as a real server sends them ([integration]). The page
// in a browser, against a cluster of processes, is dashboard_browser_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>

#include <troupe/actor.hpp>
#include <troupe/cluster/cluster.hpp>
#include <troupe/cluster/management.hpp>

using namespace std::chrono_literals;
using troupe::cluster::authorize_management_request;
using troupe::cluster::management_access_policy;
using troupe::cluster::management_dashboard_page;
using troupe::cluster::management_request;
using troupe::cluster::management_response;
using troupe::cluster::management_snapshot;
using troupe::cluster::route_management_request;

namespace {

/// Routes `method target`; the dashboard must not read the node.
management_response route(const std::string& method, const std::string& target) {
  management_request request{method, target, {}, {}};
  return route_management_request(
      request, []() -> management_snapshot { throw std::logic_error("the dashboard read the node"); }, false);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

/// The text between `open` and the next `close` in `page`, or "" without them.
std::string between(const std::string& page, const std::string& open, const std::string& close) {
  const auto start = page.find(open);
  if (start == std::string::npos) return {};
  const auto end = page.find(close, start + open.size());
  if (end == std::string::npos) return {};
  return page.substr(start + open.size(), end - start - open.size());
}

/// 'sha256-<base64>' of `text`, as a CSP names an inline script or style.
std::string csp_hash(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  std::string base64(4 * ((size + 2) / 3) + 1, '\0');
  base64.resize(static_cast<std::size_t>(
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(base64.data()), digest, static_cast<int>(size))));
  return "'sha256-" + base64 + "'";
}

}  // namespace

TEST_CASE("dashboard: GET / and GET /dashboard serve the HTML page, without reading the node", "[unit][management]") {
  for (const char* target : {"/", "/dashboard", "/dashboard/", "/?x=1", "/dashboard?refresh=2"}) {
    INFO(target);
    const auto r = route("GET", target);
    CHECK(r.status == 200);
    CHECK(r.content_type == "text/html; charset=utf-8");
    CHECK(r.body.starts_with("<!doctype html>"));
    CHECK(r.body == management_dashboard_page().body);
    CHECK_FALSE(r.content_security_policy.empty());
    CHECK(r.change.op == troupe::cluster::management_change::operation::none);
  }
}

TEST_CASE("dashboard: other methods are 405 with Allow: GET", "[unit][management]") {
  for (const char* method : {"POST", "PUT", "DELETE", "HEAD", "get"}) {
    for (const char* target : {"/", "/dashboard"}) {
      INFO(method << " " << target);
      const auto r = route(method, target);
      CHECK(r.status == 405);
      CHECK(r.allow == "GET");
      CHECK(r.content_type == "application/json");
    }
  }
}

TEST_CASE("dashboard: the page is self-contained and inserts data as text only", "[unit][management]") {
  const std::string page = lower(management_dashboard_page().body);
  // 1. Nothing from elsewhere: no absolute or protocol-relative URL, no external script,
  //    style sheet, font or image.
  for (const char* banned : {"http://", "https://", "<script src", "<link", "src=", "@import", "url(", "=\"//",
                             "'//", "@font-face"}) {
    INFO(banned);
    CHECK(page.find(banned) == std::string::npos);
  }
  CHECK(page.find("<script>") != std::string::npos);
  CHECK(page.find("<style>") != std::string::npos);
  // 2. No markup built from data; the token comes from the fragment, never the query.
  for (const char* banned : {"innerhtml", "outerhtml", "insertadjacenthtml", "document.write", "location.search", "eval("}) {
    INFO(banned);
    CHECK(page.find(banned) == std::string::npos);
  }
  CHECK(page.find("location.hash") != std::string::npos);
  CHECK(page.find("authorization: 'bearer '") != std::string::npos);
  // 3. The routes it polls, by paths of this origin.
  for (const char* path : {"'/cluster/members'", "'/metrics'", "'/cluster/shards/'"}) {
    INFO(path);
    CHECK(page.find(path) != std::string::npos);
  }
}

TEST_CASE("dashboard: the Content-Security-Policy allows exactly the page's script and style", "[unit][management]") {
  const auto r = management_dashboard_page();
  const std::string& csp = r.content_security_policy;
  INFO(csp);
  CHECK(csp.starts_with("default-src 'none';"));
  CHECK(csp.find("connect-src 'self'") != std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(csp.find("unsafe") == std::string::npos);
  const std::string script = between(r.body, "<script>", "</script>");
  const std::string style = between(r.body, "<style>", "</style>");
  REQUIRE_FALSE(script.empty());
  REQUIRE_FALSE(style.empty());
  CHECK(csp.find("script-src " + csp_hash(script) + ";") != std::string::npos);
  CHECK(csp.find("style-src " + csp_hash(style) + ";") != std::string::npos);
}

TEST_CASE("dashboard: the page needs no token, the data it reads does under token-for-reads", "[unit][management]") {
  const management_access_policy policy{"0123456789abcdef0123", true, false};
  for (const char* target : {"/", "/dashboard", "/dashboard/"}) {
    INFO(target);
    const auto a = authorize_management_request(management_request{"GET", target, {}, {}}, policy);
    CHECK_FALSE(a.refused);
    CHECK_FALSE(a.may_change);
  }
  const auto members = authorize_management_request(management_request{"GET", "/cluster/members", {}, {}}, policy);
  REQUIRE(members.refused);
  CHECK(members.refused->status == 401);
  const auto post = authorize_management_request(management_request{"POST", "/dashboard", {}, {}}, policy);
  REQUIRE(post.refused);
  CHECK(post.refused->status == 401);
}

TEST_CASE("dashboard server: the page is served as text/html with nosniff and its CSP, JSON stays JSON",
          "[integration][management]") {
  namespace asio = boost::asio;
  namespace http = boost::beast::http;
  troupe::actor_system system{"dash"};
  auto& cluster = troupe::cluster::cluster::get(system);
  troupe::cluster::cluster_settings s;
  s.system = "dash";
  s.remote.host = "127.0.0.1";
  s.remote.port = 0;
  s.remote.cookie = "dashboard-test-cookie-0123456789abcdef";
  s.management.enabled = true;
  s.management.host = "127.0.0.1";
  s.management.port = 0;
  auto started = cluster.start(s);
  REQUIRE(started);
  const auto port = cluster.management_port();
  REQUIRE(port);

  auto get = [&](const std::string& target) {
    asio::io_context io;
    asio::ip::tcp::socket socket(io);
    socket.connect({asio::ip::make_address("127.0.0.1"), *port});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "127.0.0.1:" + std::to_string(*port));
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return res;
  };
  const auto page = get("/dashboard");
  CHECK(page.result_int() == 200);
  CHECK(page[http::field::content_type] == "text/html; charset=utf-8");
  CHECK(page["X-Content-Type-Options"] == "nosniff");
  CHECK(page["Content-Security-Policy"] == management_dashboard_page().content_security_policy);
  CHECK(page.body() == management_dashboard_page().body);
  CHECK(get("/").body() == page.body());

  const auto alive = get("/alive");
  CHECK(alive[http::field::content_type] == "application/json");
  CHECK(alive["X-Content-Type-Options"] == "nosniff");
  CHECK(alive["Content-Security-Policy"].empty());

  system.terminate();
  system.await_termination(10s);
}
