// management_server: the Boost.Beast glue around `check_management_request_host`,
// `authorize_management_request` and `route_management_request`. One I/O thread runs the
// acceptor and one session per connection, over TCP or TLS: read a request (with a deadline
// and size limits), check its Host and Origin, then its token, route it, apply the change it
// asks for, write the answer. Nothing a client sends can
// throw out of a handler or hold a connection forever, and no number of idle connections
// keeps a health check out: at the cap, the one that has waited longest makes room.
#include <array>
#include <chrono>
#include <cstddef>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <type_traits>
#include <fstream>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "troupe/cluster/cluster.hpp"
#include "troupe/cluster/management.hpp"

namespace troupe::cluster {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto read_timeout = 5s;    // a whole request, from connecting or the previous answer
constexpr auto write_timeout = 5s;   // a whole response
constexpr auto drain_timeout = 1s;   // reading what is left after an error, before closing
constexpr auto accept_retry_after = 100ms;  // after an accept error such as EMFILE
constexpr std::size_t max_header_size = 8 * 1024;
constexpr std::size_t max_drain_size = 1024 * 1024;

class session_base;

/// State shared by the acceptor and the sessions; lives in `management_server::impl`.
struct server_state {
  server_state(cluster& n, management_access_policy p) : node(n), policy(std::move(p)) {}

  cluster& node;
  const management_access_policy policy;
  management_host_names names;       // set once bound, before serving
  std::optional<ssl::context> tls;   // set before serving with `https`: every session speaks TLS
  // Open sessions (I/O thread only); a closed one leaves at once, even while a handler of
  // its still holds it. Declared before `io`: sessions still queued in `io` are destroyed
  // with it, and leave then.
  std::list<session_base*> sessions;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_retry{io};

  void accept();
  void admit(tcp::socket socket);
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

/// What the acceptor and the cap see of a connection, over TCP or TLS.
class session_base {
 public:
  explicit session_base(server_state& server) : server_(server) {
    entry_ = server_.sessions.insert(server_.sessions.end(), this);
  }
  virtual ~session_base() { leave(); }
  session_base(const session_base&) = delete;
  session_base& operator=(const session_base&) = delete;

  /// True if, at the cap, this one should be closed before `other`: first the connections
  /// that wait for a request (or for a TLS handshake) or drain after an error (nobody is
  /// waiting for an answer there), then those being answered; among them the one in its
  /// phase the longest.
  bool evict_before(const session_base& other) const {
    const bool answering = phase_ == phase::writing;
    const bool other_answering = other.phase_ == phase::writing;
    if (answering != other_answering) return other_answering;
    return since_ < other.since_;
  }

  /// Closes the connection and leaves the open sessions at once; a pending handler ends
  /// with an error (or, if already queued, finds it closed) and lets go of this.
  virtual void close() = 0;

 protected:
  enum class phase : std::uint8_t { reading, writing, draining };

  void enter(phase p) {
    phase_ = p;
    since_ = std::chrono::steady_clock::now();
  }

  /// Out of `server_.sessions`, once.
  void leave() {
    if (!open_) return;
    open_ = false;
    server_.sessions.erase(entry_);
  }

  server_state& server_;
  bool open_ = true;

 private:
  std::list<session_base*>::iterator entry_;  // in server_.sessions while open_
  phase phase_ = phase::reading;
  std::chrono::steady_clock::time_point since_ = std::chrono::steady_clock::now();  // in phase_
};

/// One connection: requests in order, keep-alive honoured. `Stream` is a
/// `beast::tcp_stream`, or a `beast::ssl_stream` of one, whose handshake comes first.
template <class Stream>
class session : public session_base, public std::enable_shared_from_this<session<Stream>> {
  static constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  session(tcp::socket socket, server_state& server) : session_base(server), stream_(make_stream(std::move(socket))) {}

  void start() {
    if constexpr (is_tls) {
      // The handshake counts against the first request's deadline: a silent client is no
      // better for having opened a TLS connection.
      enter(phase::reading);
      tcp_layer().expires_after(read_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        if (!self->open_) return;
        if (ec) return self->close();  // not TLS, a bad hello, or the deadline
        self->read_request();
      });
    } else {
      read_request();
    }
  }

  void close() override {
    beast::error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer().socket().close(ignored);
    leave();
  }

 private:
  Stream make_stream(tcp::socket socket) {
    if constexpr (is_tls) {
      return Stream(std::move(socket), *server_.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  void read_request() {
    enter(phase::reading);
    parser_.emplace();
    parser_->body_limit(management_max_body_size);
    parser_->header_limit(max_header_size);
    tcp_layer().expires_after(read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (!open_) return;  // closed to make room, after the request was read
    // 1. Errors: the client went away or stayed silent, or sent what is not HTTP.
    if (ec == http::error::body_limit) {
      return write_error(413, "Request body over " + std::to_string(management_max_body_size) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return write_error(431, "Request header over " + std::to_string(max_header_size) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == ssl::error::stream_truncated) {
      return close();
    }
    if (ec && ec.category() == make_error_code(http::error::bad_method).category()) {
      return write_error(400, "Malformed request: " + ec.message());
    }
    if (ec) return close();  // timeout, reset, aborted
    // 2. Check that the request is meant for this server and who sent it, route it and
    //    apply the change it asks for. The checks come first, so they cover the routes of
    //    later layers too.
    const auto& req = parser_->get();
    management_response out;
    bool misdirected = false;  // then the connection closes: its next request would be no better
    try {
      management_request request{std::string(req.method_string()), std::string(req.target()),
                                 std::string(req[http::field::content_type]), req.body()};
      request.version = req.version();
      request.host = header(req, http::field::host);
      request.origin = header(req, http::field::origin);
      request.authorization = header(req, http::field::authorization);
      if (auto refused = check_management_request_host(request, server_.names)) {
        out = std::move(*refused);
        misdirected = true;
      } else if (auto access = authorize_management_request(request, server_.policy); access.refused) {
        out = std::move(*access.refused);
      } else if (auto added = server_.node.route_added(request)) {
        out = std::move(*added);
      } else {
        out = route_management_request(request, [this] { return server_.snapshot(); }, access.may_change);
      }
      server_.apply(out.change);
    } catch (const std::exception& e) {
      out = management_response{500, message_json(std::string("Internal error: ") + e.what()), {}, {}};
    }
    write(std::move(out), req.version(), req.keep_alive() && !misdirected, false);
  }

  /// Every value of `field` joined with ", "; nullopt if there is none.
  static std::optional<std::string> header(const http::request<http::string_body>& req, http::field field) {
    std::optional<std::string> out;
    const auto [first, last] = req.equal_range(field);
    for (auto it = first; it != last; ++it) {
      out = out ? *out + ", " + std::string(it->value()) : std::string(it->value());
    }
    return out;
  }

  /// `{"message": text}`; invalid UTF-8 becomes U+FFFD.
  static std::string message_json(const std::string& text) {
    return nlohmann::json{{"message", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  void write_error(unsigned status, const std::string& message) {
    write(management_response{status, message_json(message), {}, {}}, 11, false, true);
  }

  void write(management_response out, unsigned version, bool keep_alive, bool drain) {
    enter(phase::writing);
    response_ = {};
    response_.result(out.status);
    response_.version(version == 10 ? 10 : 11);
    response_.set(http::field::server, "troupe-management");
    response_.set(http::field::content_type, out.content_type);
    response_.set(http::field::cache_control, "no-store");
    response_.set("X-Content-Type-Options", "nosniff");
    if (!out.content_security_policy.empty()) {
      response_.set("Content-Security-Policy", out.content_security_policy);
    }
    if (!out.allow.empty()) response_.set(http::field::allow, out.allow);
    if (!out.www_authenticate.empty()) response_.set(http::field::www_authenticate, out.www_authenticate);
    response_.keep_alive(keep_alive);
    response_.body() = std::move(out.body);
    response_.prepare_payload();
    tcp_layer().expires_after(write_timeout);
    http::async_write(stream_, response_,
                      [self = this->shared_from_this(), keep_alive, drain](beast::error_code ec, std::size_t) {
                        if (ec) return self->close();
                        if (drain) return self->start_drain();
                        if (keep_alive) return self->read_request();
                        self->finish();
                      });
  }

  /// After an error answer the client may still be sending: closing with unread data would
  /// reset the connection and could lose the answer, so read and discard (bounded) first.
  /// Over TLS the end is said by TLS's close_notify, not half a TCP close.
  void start_drain() {
    enter(phase::draining);
    tcp_layer().expires_after(drain_timeout);
    if constexpr (is_tls) {
      finish();
    } else {
      beast::error_code ignored;
      tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
      drain();
    }
  }

  void drain() {
    stream_.async_read_some(asio::buffer(drain_buffer_),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > max_drain_size) return self->close();
                              self->drain();
                            });
  }

  /// The last answer is out: over TLS send close_notify first (bounded), then close.
  void finish() {
    if constexpr (is_tls) {
      enter(phase::draining);
      tcp_layer().expires_after(drain_timeout);
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) { self->close(); });
    } else {
      close();
    }
  }

  Stream stream_;
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
    try {
      admit(std::move(socket));
    } catch (const std::exception&) {
      // Out of memory for one more session: drop this connection, keep accepting.
    }
    accept();
  });
}

void server_state::admit(tcp::socket socket) {
  // 1. At the cap, make room: refusing the newcomer would let idle keep-alive connections,
  //    or silent ones, keep every health check out for as long as they last. The one that
  //    has waited longest for a request goes; a client that sends its request at once (a
  //    probe) is the newest, so it would take a cap's worth of newer connections to lose it.
  if (sessions.size() >= management_max_connections) {
    session_base* victim = nullptr;
    for (session_base* s : sessions) {
      if (victim == nullptr || s->evict_before(*victim)) victim = s;
    }
    if (victim != nullptr) victim->close();
  }
  // 2. Serve the newcomer.
  if (tls) {
    std::make_shared<session<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), *this)->start();
  } else {
    std::make_shared<session<beast::tcp_stream>>(std::move(socket), *this)->start();
  }
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

/// A server context for `settings.https`: TLS 1.2 or later, the certificate chain and key;
/// an error names the setting and the file.
expected<ssl::context, std::string> tls_context(const management_settings& settings) {
  using failure = unexpected<std::string>;
  ssl::context ctx(ssl::context::tls_server);
  beast::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                  ec);
  if (ec) return failure{"management.https: cannot set up TLS: " + ec.message()};
  if (settings.certificate.empty()) return failure{"management.certificate: expected a PEM file for https, got none"};
  if (settings.private_key.empty()) return failure{"management.private-key: expected a PEM file for https, got none"};
  ctx.use_certificate_chain_file(settings.certificate, ec);
  if (ec) return failure{"management.certificate: cannot use \"" + settings.certificate + "\": " + ec.message()};
  ctx.use_private_key_file(settings.private_key, ssl::context::pem, ec);
  if (ec) return failure{"management.private-key: cannot use \"" + settings.private_key + "\": " + ec.message()};
  return ctx;
}

std::string endpoint_text(const std::string& host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

/// RFC 6750's token68: letters, digits, "-._~+/", then "=" padding only.
bool is_token68(std::string_view t) {
  std::size_t i = 0;
  auto plain = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/';
  };
  while (i < t.size() && plain(t[i])) ++i;
  if (i == 0) return false;
  while (i < t.size() && t[i] == '=') ++i;
  return i == t.size();
}

}  // namespace

expected<std::string, std::string> load_management_token(const management_settings& settings,
                                                         const std::function<const char*(const char*)>& getenv) {
  using failure = unexpected<std::string>;
  constexpr std::size_t min_size = 16;
  constexpr std::size_t max_size = 1024;
  if (!settings.token_file.empty() && !settings.token_env.empty()) {
    return failure{"management.token-env: expected at most one of token-file and token-env, got both"};
  }
  std::string key;
  std::string token;
  if (!settings.token_file.empty()) {
    key = "management.token-file \"" + settings.token_file + "\"";
    std::ifstream in(settings.token_file, std::ios::binary);
    if (!in) return failure{key + ": cannot read it: " + std::strerror(errno)};
    char chunk[max_size + 64];
    in.read(chunk, sizeof chunk);
    token.assign(chunk, static_cast<std::size_t>(in.gcount()));
  } else if (!settings.token_env.empty()) {
    key = "management.token-env " + settings.token_env;
    const char* value = getenv(settings.token_env.c_str());
    if (value == nullptr || *value == '\0') return failure{key + ": the environment variable is not set"};
    token = value;
  } else {
    return std::string();
  }
  const auto first = token.find_first_not_of(" \t\r\n");
  const auto last = token.find_last_not_of(" \t\r\n");
  token = first == std::string::npos ? std::string() : token.substr(first, last - first + 1);
  if (token.size() < min_size || token.size() > max_size) {
    return failure{key + ": expected a token of " + std::to_string(min_size) + " to " + std::to_string(max_size) +
                   " characters, got " + std::to_string(token.size())};
  }
  if (!is_token68(token)) {
    return failure{key + ": expected a token of letters, digits, '-', '.', '_', '~', '+' or '/' (then '=' "
                         "padding), got another character"};
  }
  return token;
}

struct management_server::impl {
  impl(cluster& node, management_access_policy policy) : state(node, std::move(policy)) {}
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
  // 1. Who may do what, and TLS.
  auto token = load_management_token(settings, [](const char* name) { return std::getenv(name); });
  if (!token) return failure{token.error()};
  auto server = std::make_unique<impl>(
      node_, management_access_policy{std::move(*token), settings.token_for_reads, settings.allow_unauthenticated_changes});
  auto& s = server->state;
  if (settings.https) {
    auto ctx = tls_context(settings);
    if (!ctx) return failure{ctx.error()};
    s.tls.emplace(std::move(*ctx));
  }
  const std::string where = endpoint_text(settings.host, settings.port);
  // 2. The address: an IP literal, or a name to resolve.
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
  // 3. Listen.
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) return failure{"management: cannot open a socket for " + where + ": " + ec.message()};
  s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  s.acceptor.bind(endpoint, ec);
  if (ec) return failure{"management: cannot bind " + where + ": " + ec.message()};
  s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failure{"management: cannot listen on " + where + ": " + ec.message()};
  const tcp::endpoint bound = s.acceptor.local_endpoint(ec);
  if (ec) return failure{"management: no local address for " + where + ": " + ec.message()};
  server->port = bound.port();
  // 4. The names requests may give in Host and Origin, then serve from the I/O thread.
  s.names = management_host_names::of_server(settings, bound.address().to_string(), server->port);
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
