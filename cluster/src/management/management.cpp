// management_server: the Boost.Beast glue around `route_management_request`. One I/O
// thread runs the acceptor and one session per connection: read a request (with a
// deadline and size limits), route it, apply the change it asks for, write the answer.
// Nothing a client sends can throw out of a handler or hold a connection forever.
#include <array>
#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/management.hpp"

namespace troupe::cluster {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto read_timeout = 5s;    // a whole request, first byte to last
constexpr auto write_timeout = 5s;   // a whole response
constexpr auto drain_timeout = 1s;   // reading what is left after an error, before closing
constexpr auto accept_retry_after = 100ms;  // after an accept error such as EMFILE
constexpr std::size_t max_header_size = 8 * 1024;
constexpr std::size_t max_drain_size = 1024 * 1024;
constexpr std::size_t max_connections = 128;  // more are closed at once

/// State shared by the acceptor and the sessions; lives in `management_server::impl`.
struct server_state {
  server_state(cluster& n, bool changes) : node(n), allow_changes(changes) {}

  cluster& node;
  const bool allow_changes;
  // Open sessions (I/O thread only). Declared before `io`: sessions still queued in `io`
  // are destroyed with it, and count themselves out then.
  std::size_t connections = 0;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};

  void accept();
  void run() noexcept;

  /// One gossip read once, so the member list, self and reachability agree.
  management_snapshot snapshot() const {
    const auto self = node.self_unique_address();
    const auto gossip = node.latest_gossip();
    return management_snapshot{self.address, gossip.member(self), snapshot_of(gossip, self), gossip.reachability()};
  }

  void apply(const management_change& change) const {
    switch (change.op) {
      case management_change::operation::none: break;
      case management_change::operation::leave: node.leave(change.node); break;
      case management_change::operation::down: node.down(change.node); break;
    }
  }
};

/// One connection: requests in order, keep-alive honoured.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, server_state& server) : stream_(std::move(socket)), server_(server) {
    ++server_.connections;
  }
  ~session() { --server_.connections; }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  void start() { read_request(); }

 private:
  void read_request() {
    parser_.emplace();
    parser_->body_limit(management_max_body_size);
    parser_->header_limit(max_header_size);
    stream_.expires_after(read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    // 1. Errors: the client went away or stayed silent, or sent what is not HTTP.
    if (ec == http::error::body_limit) {
      return write_error(413, "Request body over " + std::to_string(management_max_body_size) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return write_error(431, "Request header over " + std::to_string(max_header_size) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return close();
    if (ec && ec.category() == make_error_code(http::error::bad_method).category()) {
      return write_error(400, "Malformed request: " + ec.message());
    }
    if (ec) return close();  // timeout, reset, aborted
    // 2. Route the request and apply the change it asks for.
    const auto& req = parser_->get();
    management_response out;
    try {
      management_request request{std::string(req.method_string()), std::string(req.target()),
                                 std::string(req[http::field::content_type]), req.body()};
      if (auto added = server_.node.route_added(request))
        out = std::move(*added);
      else
        out = route_management_request(request, [this] { return server_.snapshot(); }, server_.allow_changes);
      server_.apply(out.change);
    } catch (const std::exception& e) {
      out = management_response{500, message_json(std::string("Internal error: ") + e.what()), {}, {}};
    }
    write(out.status, std::move(out.body), std::move(out.allow), req.version(), req.keep_alive(), false);
  }

  /// `{"message": text}`; invalid UTF-8 becomes U+FFFD.
  static std::string message_json(const std::string& text) {
    return nlohmann::json{{"message", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  void write_error(unsigned status, const std::string& message) {
    write(status, message_json(message), {}, 11, false, true);
  }

  void write(unsigned status, std::string body, std::string allow, unsigned version, bool keep_alive, bool drain) {
    response_ = {};
    response_.result(status);
    response_.version(version == 10 ? 10 : 11);
    response_.set(http::field::server, "troupe-management");
    response_.set(http::field::content_type, "application/json");
    response_.set(http::field::cache_control, "no-store");
    if (!allow.empty()) response_.set(http::field::allow, allow);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(body);
    response_.prepare_payload();
    stream_.expires_after(write_timeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this(), keep_alive, drain](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        if (drain) return self->start_drain();
                        if (keep_alive) return self->read_request();
                        self->close();
                      });
  }

  /// After an error answer the client may still be sending: closing with unread data would
  /// reset the connection and could lose the answer, so read and discard (bounded) first.
  void start_drain() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(drain_timeout);
    drain();
  }

  void drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > max_drain_size) return self->close();
                              self->drain();
                            });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  server_state& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> drain_buffer_{};
  std::size_t drained_ = 0;
};

void server_state::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (ec) {
      accept_retry.expires_after(accept_retry_after);
      accept_retry.async_wait([this](beast::error_code wait_ec) {
        if (!wait_ec) accept();
      });
      return;
    }
    try {  // past max_connections the socket is not taken, and closes as it goes out of scope
      if (connections < max_connections) std::make_shared<session>(std::move(socket), *this)->start();
    } catch (const std::exception&) {
      // Out of memory for one more session: drop this connection, keep accepting.
    }
    accept();
  });
}

void server_state::run() noexcept {
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      // A handler threw (out of memory, say): keep serving.
    }
  }
}

std::string endpoint_text(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

struct management_server::impl {
  impl(cluster& node, bool allow_changes) : state(node, allow_changes) {}
  server_state state;
  std::uint16_t port = 0;
  std::thread thread;
};

management_server::management_server(cluster& node) : node_(node) {}

management_server::~management_server() { stop(); }

expected<std::uint16_t, std::string> management_server::start(const management_settings& settings) {
  using failure = unexpected<std::string>;
  std::lock_guard lock(mutex_);
  if (impl_) return failure{"management: already serving on port " + std::to_string(impl_->port)};
  auto server = std::make_unique<impl>(node_, settings.allow_changes);
  auto& s = server->state;
  const std::string where = endpoint_text(settings.host, settings.port);
  // 1. The address: an IP literal, or a name to resolve.
  beast::error_code ec;
  tcp::endpoint endpoint;
  const auto ip = asio::ip::make_address(settings.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(ip, settings.port);
  } else {
    tcp::resolver resolver(s.io);
    const auto results = resolver.resolve(settings.host, std::to_string(settings.port), ec);
    if (ec || results.empty()) {
      return failure{"management: cannot resolve host \"" + settings.host + "\": " +
                     (ec ? ec.message() : std::string("no address"))};
    }
    endpoint = results.begin()->endpoint();
  }
  // 2. Listen.
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) return failure{"management: cannot open a socket for " + where + ": " + ec.message()};
  s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  s.acceptor.bind(endpoint, ec);
  if (ec) return failure{"management: cannot bind " + where + ": " + ec.message()};
  s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failure{"management: cannot listen on " + where + ": " + ec.message()};
  server->port = s.acceptor.local_endpoint(ec).port();
  if (ec) return failure{"management: no local address for " + where + ": " + ec.message()};
  // 3. Serve from the I/O thread.
  s.accept();
  server->thread = std::thread([&s] { s.run(); });
  impl_ = std::move(server);
  port_ = impl_->port;
  return impl_->port;
}

void management_server::stop() {
  std::lock_guard lock(mutex_);
  if (!impl_) return;
  port_ = 0;
  impl_->state.io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_.reset();  // closes the listener and every connection
}

bool management_server::is_running() const noexcept { return port_ != 0; }

std::uint16_t management_server::port() const noexcept { return port_; }

}  // namespace troupe::cluster
