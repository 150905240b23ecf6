#include "internal/connection.hpp"

#include <sstream>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "troupe/actor/delivery_batch.hpp"

namespace troupe::remote::detail {

namespace {

constexpr std::size_t read_size_handshake = 2 * 1024;
constexpr std::size_t read_size_established = 64 * 1024;

std::size_t body_limit(const remote_settings& s, std::size_t lane) {
  return lane == static_cast<std::size_t>(wire::lane::large) ? s.max_large_frame_size : s.max_frame_size;
}

}  // namespace

connection::connection(transport_core& core, std::shared_ptr<association> a, std::size_t lane)
    : core_(core),
      role_(role::outbound),
      socket_(core.io()),
      assoc_(std::move(a)),
      lane_(lane),
      handshake_timer_(core.io()),
      decoder_(wire::max_handshake_body_size),
      read_buffer_(read_size_handshake) {}

connection::connection(transport_core& core, tcp::socket socket)
    : core_(core),
      role_(role::inbound),
      socket_(std::move(socket)),
      handshake_timer_(core.io()),
      decoder_(wire::max_handshake_body_size),
      read_buffer_(read_size_handshake) {
  boost::system::error_code ec;
  const auto ep = socket_.remote_endpoint(ec);
  if (!ec) peer_text_ = ep.address().to_string() + ":" + std::to_string(ep.port());
}

std::string connection::describe() const {
  std::ostringstream os;
  if (assoc_) {
    os << assoc_->peer_uri;
    if (peer_uid_) os << '#' << peer_uid_;
  } else {
    os << (peer_text_.empty() ? "unknown peer" : peer_text_);
  }
  if (role_ == role::inbound && !established_) {
    os << " (inbound, before the handshake)";
  } else {
    os << " (" << wire::to_string(static_cast<wire::lane>(lane_)) << " lane, "
       << (role_ == role::outbound ? "outbound" : "inbound") << ')';
  }
  return os.str();
}

void connection::start_connect(const tcp::endpoint& peer, const asio::ip::address& bind_address) {
  boost::system::error_code bind_error;
  socket_.open(peer.protocol(), bind_error);
  if (!bind_error) socket_.bind(tcp::endpoint(bind_address, 0), bind_error);
  if (bind_error) {
    close("cannot bind the outgoing socket to " + bind_address.to_string() + ": " + bind_error.message(), false);
    return;
  }
  handshake_timer_.expires_after(core_.settings().handshake_timeout);
  handshake_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->established_ && !self->closed_) self->close("handshake timed out", false);
  });
  socket_.async_connect(peer, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      self->close("", false);  // connection refused and the like: retried with backoff, not logged
      return;
    }
    boost::system::error_code ignored;
    self->socket_.set_option(tcp::no_delay(true), ignored);
    self->with_tls(asio::ssl::stream_base::client, [self] { self->begin_client_handshake(); });
  });
}

void connection::begin_client_handshake() {
  client_.emplace(wire::client_handshake_settings{.self = core_.self(),
                                                  .self_uid = core_.uid(),
                                                  .remote = assoc_->peer,
                                                  .lane = static_cast<wire::lane>(lane_),
                                                  .cookie = core_.settings().cookie},
                  core_.fresh_nonce());
  auto step = client_->start();
  after_handshake_step(step);
  read_more();
}

void connection::with_tls(asio::ssl::stream_base::handshake_type side, std::function<void()> then) {
  asio::ssl::context* ctx = core_.tls_context();
  if (!ctx) {
    then();
    return;
  }
  tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *ctx);
  tls_->async_handshake(side, [self = shared_from_this(), then = std::move(then)](const boost::system::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      self->close("TLS handshake failed: " + ec.message(), true);
      return;
    }
    then();
  });
}

void connection::start_accept() {
  boost::system::error_code ignored;
  socket_.set_option(tcp::no_delay(true), ignored);
  handshake_timer_.expires_after(core_.settings().handshake_timeout);
  handshake_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec && !self->established_ && !self->closed_) self->close("handshake timed out", true);
  });
  server_.emplace(wire::server_handshake_settings{.self = core_.self(),
                                                  .self_uid = core_.uid(),
                                                  .cookie = core_.settings().cookie},
                  core_.fresh_nonce());
  with_tls(asio::ssl::stream_base::server, [self = shared_from_this()] { self->read_more(); });
}

void connection::read_more() {
  if (closed_) return;
  if (established_ && read_buffer_.size() < read_size_established) read_buffer_.resize(read_size_established);
  auto on_read = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                            if (self->closed_) return;
                            if (ec) {
                              // A TLS peer that closes without close_notify ends a stream as
                              // cleanly as EOF does, here at a frame boundary.
                              const bool clean = (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) &&
                                                 self->decoder_.at_frame_boundary();
                              self->close(clean || ec == asio::error::operation_aborted
                                              ? std::string()
                                              : "read failed: " + ec.message(),
                                          false);
                              return;
                            }
                            self->on_read(n);
  };
  if (tls_) {
    tls_->async_read_some(asio::buffer(read_buffer_), std::move(on_read));
  } else {
    socket_.async_read_some(asio::buffer(read_buffer_), std::move(on_read));
  }
}

void connection::on_read(std::size_t n) {
  core_.stats.bytes_received.fetch_add(n, std::memory_order_relaxed);
  if (assoc_) add_single_writer(assoc_->traffic.bytes_received, n);  // before the handshake: no peer yet
  std::span<const std::uint8_t> input(read_buffer_.data(), n);
  wire::frame_view f;
  {
    // A read holds many frames: each recipient is scheduled (and a worker woken) once for
    // them all rather than again each time it drained its mailbox in between.
    delivery_batch batch;
    while (!closed_) {
      const auto status = decoder_.next(input, f);
      if (status == wire::decode_status::need_more) break;
      if (status == wire::decode_status::bad) {
        close("malformed stream: " + decoder_.error(), true);
        return;
      }
      on_frame(f);
    }
  }
  if (!closed_) read_more();
}

void connection::on_frame(const wire::frame_view& f) {
  // A refused peer's frames that were already in flight are dropped while the refusal is
  // written; feeding them to the finished handshake would report a second, false reason.
  if (refused_) return;
  if (!established_) {
    on_handshake_frame(f);
    return;
  }
  if (assoc_->drops_receive()) {
    core_.stats.dropped_blackholed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  switch (f.type) {
    case wire::frame_type::envelope: {
      auto e = wire::decode_envelope(f.body);
      if (!e) {
        close("malformed envelope: " + e.error(), true);
        return;
      }
      core_.on_envelope(*this, *assoc_, peer_uid_, *e);
      return;
    }
    case wire::frame_type::control: {
      auto m = wire::decode_control(f.body);
      if (!m) {
        close("malformed control message: " + m.error(), true);
        return;
      }
      core_.on_control(*this, *assoc_, *m);
      return;
    }
    default:
      close("unexpected " + std::string(wire::to_string(f.type)) + " frame after the handshake", true);
      return;
  }
}

void connection::on_handshake_frame(const wire::frame_view& f) {
  wire::handshake_step step = client_ ? client_->on_frame(f) : server_->on_frame(f);
  after_handshake_step(step);
}

std::optional<std::string> connection::certificate_problem(const std::string& host) const {
  if (!tls_ || !core_.settings().tls.check_peer_address) return std::nullopt;
  X509* cert = SSL_get_peer_certificate(tls_->native_handle());  // verify_peer: never null here
  if (cert == nullptr) return "it presented no TLS certificate";
  const bool names_host = X509_check_ip_asc(cert, host.c_str(), 0) == 1 ||
                          X509_check_host(cert, host.data(), host.size(), 0, nullptr) == 1;
  X509_free(cert);
  if (names_host) return std::nullopt;
  return "its TLS certificate does not name " + host +
         " (in a subject alternative name or the common name; tls.check-peer-address)";
}

void connection::after_handshake_step(wire::handshake_step& step) {
  // With TLS, the address a peer claims must be one its certificate names: the CA vouches
  // for addresses, not only for membership, so one node's certificate cannot speak for
  // another's address. Checked before `accepted` goes out.
  if (step.status == wire::handshake_status::established && server_) {
    const auto& claimed = server_->peer().node;
    if (auto problem = certificate_problem(claimed.address.host)) {
      const std::string reason = "refused " + wire::to_string(claimed) + ": " + *problem;
      wire::byte_buffer frame;
      (void)wire::append_frame(frame, wire::frame_type::rejected, wire::encode(wire::rejected{reason}),
                               wire::max_handshake_body_size);
      write_frame(frame);
      close(reason, true, /*after_writes=*/true);
      return;
    }
  }
  if (step.status == wire::handshake_status::established && client_) {
    if (auto problem = certificate_problem(client_->peer().node.address.host)) {
      close("refused " + wire::to_string(client_->peer().node) + ": " + *problem, true);
      return;
    }
  }
  if (!step.to_send.empty()) write_frame(step.to_send);
  if (step.status == wire::handshake_status::failed) {
    close("handshake failed: " + step.reason, true, /*after_writes=*/true);
    return;
  }
  if (step.status != wire::handshake_status::established) return;
  handshake_timer_.cancel();
  if (client_) {
    peer_uid_ = client_->peer().node.uid;
    decoder_.set_max_body_size(body_limit(core_.settings(), lane_));
    established_ = true;
    core_.on_outbound_established(*this, *assoc_, lane_, peer_uid_);
  } else {
    const auto& peer = server_->peer();
    peer_uid_ = peer.node.uid;
    lane_ = static_cast<std::size_t>(peer.lane);
    decoder_.set_max_body_size(body_limit(core_.settings(), lane_));
    std::shared_ptr<association> a;
    if (!core_.on_inbound_established(*this, peer, a)) {  // refused and closing
      refused_ = true;
      return;
    }
    assoc_ = std::move(a);
    established_ = true;
  }
  kick();
}

void connection::write_frame(const wire::byte_buffer& frame) {
  if (closed_ || close_after_write_) return;
  if (established_ && assoc_ && assoc_->drops_send()) {
    core_.stats.dropped_blackholed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  own_pending_.insert(own_pending_.end(), frame.begin(), frame.end());
  kick();
}

void connection::kick() {
  if (closed_ || write_in_flight_) return;
  writing_.clear();
  writing_messages_ = 0;
  if (established_ && role_ == role::outbound) {
    auto& lane = assoc_->lanes[lane_];
    std::lock_guard lock(lane.mutex);
    // The lane's frames first: they may begin with the rest of a frame a sender wrote in part.
    writing_.swap(lane.pending);
    writing_messages_ = lane.pending_messages;
    lane.pending_messages = 0;
    lane.partial_front = 0;  // this socket writes it now
    const bool idle = writing_.empty() && own_pending_.empty() && !close_after_write_;
    lane.direct_fd = idle && !tls_ ? socket_.native_handle() : -1;
  }
  writing_.insert(writing_.end(), own_pending_.begin(), own_pending_.end());
  own_pending_.clear();
  if (writing_.empty()) {
    if (close_after_write_) finish();
    return;
  }
  write_in_flight_ = true;
  auto on_written = [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                      self->write_in_flight_ = false;
                      if (self->closed_) return;
                      if (ec) {
                        self->close("write failed: " + ec.message(), false);
                        return;
                      }
                      self->core_.count_sent(self->assoc_.get(), self->lane_, n, self->writing_messages_);
                      // Keep the buffer's capacity when it is modest; give a huge one back.
                      if (self->writing_.capacity() > (4u << 20)) wire::byte_buffer().swap(self->writing_);
                      self->kick();
  };
  if (tls_) {
    asio::async_write(*tls_, asio::buffer(writing_), std::move(on_written));
  } else {
    asio::async_write(socket_, asio::buffer(writing_), std::move(on_written));
  }
}

void connection::close(const std::string& reason, bool bad_input, bool after_writes) {
  if (closed_) return;
  if (!reason.empty()) {
    core_.warn("closing connection " + describe() + ": " + reason);
  }
  if (bad_input) core_.stats.connections_closed_bad_input.fetch_add(1, std::memory_order_relaxed);
  if (after_writes && (write_in_flight_ || !own_pending_.empty())) {
    close_after_write_ = true;
    if (!write_in_flight_) kick();
    return;
  }
  finish();
}

void connection::forget_direct_fd() noexcept {
  if (role_ != role::outbound || !assoc_ || !socket_.is_open()) return;
  auto& lane = assoc_->lanes[lane_];
  std::lock_guard lock(lane.mutex);  // waits for a sender's write in progress
  if (lane.direct_fd == socket_.native_handle()) lane.direct_fd = -1;
  if (lane.partial_front > 0) {  // the end of a frame begun on this socket: lost with it
    lane.pending.erase(lane.pending.begin(), lane.pending.begin() + static_cast<std::ptrdiff_t>(lane.partial_front));
    lane.partial_front = 0;
    --lane.pending_messages;
  }
}

connection::~connection() { forget_direct_fd(); }

void connection::finish() {
  if (closed_) return;
  closed_ = true;
  handshake_timer_.cancel();
  forget_direct_fd();  // before the descriptor is closed and its number can be reused
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  if (role_ == role::outbound) {
    core_.on_outbound_closed(*this, *assoc_, lane_);
  } else {
    core_.on_inbound_closed(*this);
  }
}

}  // namespace troupe::remote::detail
