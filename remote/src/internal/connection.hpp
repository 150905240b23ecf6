// connection: one TCP socket of the transport, on the I/O thread only.
//
// Runs the handshake (client or server side, wire/handshake.hpp), then decodes frames
// incrementally and hands them to the transport core. Writes are batched: everything
// queued while a write is in flight goes out in the next single write.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ssl.hpp>

#include "internal/transport_core.hpp"

namespace troupe::remote::detail {

class connection : public std::enable_shared_from_this<connection> {
 public:
  enum class role { outbound, inbound };

  /// An outbound connection of `a`'s lane `lane` (not yet connected).
  connection(transport_core& core, std::shared_ptr<association> a, std::size_t lane);
  /// An accepted socket.
  connection(transport_core& core, tcp::socket socket);
  ~connection();

  /// Outbound: connects to the peer, then says hello.
  void start_connect(const tcp::endpoint& peer, const asio::ip::address& bind_address);
  /// Inbound: waits for the hello.
  void start_accept();

  /// Queues a whole frame of our own (handshake, acks, heartbeat replies) and writes.
  void write_frame(const wire::byte_buffer& frame);
  /// Writes whatever is queued here and, when established outbound, in the lane.
  void kick();
  /// Closes the socket (after pending writes when `after_writes`); logs `reason` if set.
  void close(const std::string& reason, bool bad_input, bool after_writes = false);

  bool established() const noexcept { return established_; }
  bool closed() const noexcept { return closed_; }
  role side() const noexcept { return role_; }
  association* assoc() const noexcept { return assoc_.get(); }
  std::uint64_t peer_uid() const noexcept { return peer_uid_; }
  std::size_t lane() const noexcept { return lane_; }
  /// "troupe://sys@host:port#uid (control lane, outbound)" for logs.
  std::string describe() const;

 private:
  /// Runs the TLS handshake first when TLS is configured, then `then`.
  void with_tls(asio::ssl::stream_base::handshake_type side, std::function<void()> then);
  void begin_client_handshake();
  void read_more();
  void on_read(std::size_t n);
  void on_frame(const wire::frame_view& f);
  void on_handshake_frame(const wire::frame_view& f);
  void after_handshake_step(wire::handshake_step& step);
  void finish();
  /// Stops senders writing to this socket themselves (see lane_state::direct_fd).
  void forget_direct_fd() noexcept;

  transport_core& core_;
  role role_;
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;  // set when TLS is on
  std::shared_ptr<association> assoc_;  // outbound: from the start; inbound: after the handshake
  std::size_t lane_ = 0;
  std::uint64_t peer_uid_ = 0;
  std::string peer_text_;  // remote endpoint, for logs before the handshake

  /// Why the peer's TLS certificate does not vouch for `host`; nullopt when it does, or
  /// without TLS or the check.
  std::optional<std::string> certificate_problem(const std::string& host) const;

  std::optional<wire::client_handshake> client_;
  std::optional<wire::server_handshake> server_;
  bool established_ = false;
  bool refused_ = false;  // inbound handshake done but the peer refused (quarantined): ignore its frames
  bool closed_ = false;
  bool close_after_write_ = false;
  asio::steady_timer handshake_timer_;

  wire::frame_decoder decoder_;
  // Small until the handshake has passed (what a peer that never authenticates can make
  // us hold), then read_size_established.
  std::vector<std::uint8_t> read_buffer_;

  wire::byte_buffer own_pending_;  // our frames not yet written
  wire::byte_buffer writing_;      // the write in flight
  std::size_t writing_messages_ = 0;
  bool write_in_flight_ = false;
};

}  // namespace troupe::remote::detail
