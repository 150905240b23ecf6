// transport_core: the state of a running transport, shared by the transport object, the
// I/O thread and every remote ref (which may outlive the transport: then they drop).
//
// Threads: senders (any actor thread) serialize and append whole frames to a lane's
// pending buffer under its mutex; everything that touches a socket runs on the single I/O
// thread. An association's lane has at most one outbound connection; inbound connections
// carry the peer's messages and our answers to them (acks, heartbeat replies).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange without it
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "troupe/actor/actor_system.hpp"
#include "troupe/actor/system_messages.hpp"
#include "troupe/base/phi_accrual_failure_detector.hpp"
#include "troupe/remote/serialization.hpp"
#include "troupe/remote/settings.hpp"
#include "troupe/remote/transport.hpp"
#include "troupe/remote/wire/control_codec.hpp"
#include "troupe/remote/wire/envelope_codec.hpp"
#include "troupe/remote/wire/frame.hpp"
#include "troupe/remote/wire/handshake.hpp"

namespace troupe::remote::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

class connection;
class transport_core;

/// Caches keyed by what arrives in a frame, found without building a key string per
/// message (C++20's heterogeneous lookup): by path, and by path and uid.
struct path_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view path) const noexcept { return std::hash<std::string_view>{}(path); }
};
using path_key = std::pair<std::string_view, std::uint64_t>;
struct path_uid_hash {
  using is_transparent = void;
  std::size_t operator()(path_key k) const noexcept {
    return std::hash<std::string_view>{}(k.first) ^ (k.second * 0x9e3779b97f4a7c15ULL);
  }
  std::size_t operator()(const std::pair<std::string, std::uint64_t>& k) const noexcept {
    return (*this)(path_key{k.first, k.second});
  }
};
struct path_uid_equal {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return std::string_view(a.first) == std::string_view(b.first) && a.second == b.second;
  }
};
using ref_by_path = std::unordered_map<std::string, actor_ref, path_hash, std::equal_to<>>;
using ref_by_path_uid =
    std::unordered_map<std::pair<std::string, std::uint64_t>, actor_ref, path_uid_hash, path_uid_equal>;

inline constexpr std::size_t lane_count = 3;

/// One lane of an association: frames waiting to go out, and its outbound connection.
struct lane_state {
  // Shared with senders, under `mutex`.
  std::mutex mutex;
  wire::byte_buffer pending;  ///< whole frames, in send order (or the rest of one a sender began)
  std::size_t pending_messages = 0;
  bool kick_posted = false;  ///< the I/O thread has a kick for this lane queued
  /// The actor turn that will post the kick when it ends (its thread's token), or null: a
  /// turn's messages leave in one write. Others post at once, as does the owner once
  /// `pending` holds `eager_kick_bytes`.
  const void* kick_owed_by = nullptr;
  /// The socket a sender may write its frame to itself, or -1: set by the I/O thread while
  /// the lane's connection is established, outbound, without TLS and idle (nothing being
  /// written or waiting), cleared before it writes and before it closes the socket.
  int direct_fd = -1;
  /// Bytes at the front of `pending` that finish a frame a sender wrote in part: they belong
  /// to that socket only, so they are dropped with it rather than begin the next one.
  std::size_t partial_front = 0;
  /// No direct write before then: one per quiet spell, so a stream of messages is batched
  /// by the I/O thread rather than sent with a system call each.
  std::chrono::steady_clock::time_point next_direct{};
  // I/O thread only.
  std::shared_ptr<connection> conn;  ///< connecting or established
  std::chrono::milliseconds backoff{0};
  std::unique_ptr<asio::steady_timer> retry_timer;
  bool retry_scheduled = false;
};

/// A system message sent and not yet acknowledged.
struct unacked_system_message {
  std::uint64_t seq;
  wire::byte_buffer frame;
  steady::time_point first_sent;
  steady::time_point last_sent;
};

/// Everything this node knows about one peer address.
class association {
 public:
  association(transport_core& core, address peer);

  transport_core& core;
  const address peer;
  const std::string peer_uri;  ///< "troupe://sys@host:port"
  std::array<lane_state, lane_count> lanes;

  // Identity, under `state_mutex`.
  mutable std::mutex state_mutex;
  std::uint64_t peer_uid = 0;                 ///< incarnation last seen (0: never connected)
  std::set<std::uint64_t> quarantined_uids;   ///< never talked to again
  std::atomic<bool> current_quarantined{false};
  std::atomic<std::uint8_t> blackhole{0};     ///< bit 0: send, bit 1: receive
  /// When a send to the quarantined incarnation last tried a connection (steady ns), to
  /// find out whether a new incarnation lives at the address now.
  std::atomic<std::int64_t> last_probe{0};

  bool drops_send() const noexcept { return (blackhole.load(std::memory_order_relaxed) & 1) != 0; }
  bool drops_receive() const noexcept { return (blackhole.load(std::memory_order_relaxed) & 2) != 0; }

  // Outbound system messages, under `sys_mutex`.
  std::mutex sys_mutex;
  std::uint64_t next_seq = 1;
  std::deque<unacked_system_message> unacked;

  // Remote death watch of actors on this peer, under `watch_mutex`: watchee -> watchers.
  std::mutex watch_mutex;
  std::vector<std::pair<actor_ref, std::vector<actor_ref>>> watching;

  // I/O thread only.
  std::map<std::uint64_t, std::uint64_t> inbound_expected_seq;  ///< per peer uid
  std::optional<phi_accrual_failure_detector> detector;
  std::optional<steady::time_point> first_heartbeat_sent;
  std::optional<steady::time_point> last_heartbeat_answer;
  bool heartbeat_answered = false;
  bool reported_connected = false;
  std::uint64_t reported_uid = 0;
  /// A new uid that an inbound connection claimed for this address while the known
  /// incarnation is not quarantined; believed only once a connection this node dials to
  /// the address is answered with it (0: no claim pending).
  std::uint64_t unverified_uid = 0;
  ref_by_path_uid sender_cache;  ///< (path, uid) -> remote ref
  /// The entry of the last sender met: a stream of messages repeats its sender.
  const ref_by_path_uid::value_type* last_sender = nullptr;
  void forget_senders() noexcept {
    sender_cache.clear();
    last_sender = nullptr;
  }

  /// This peer's traffic (`transport::peer_stats`). The counters marked so have one writer
  /// at a time, the I/O thread or a sender holding the lane's mutex, and add with a load and
  /// a store (no locked instruction); the sent ones are also added to by senders that write
  /// a frame themselves, with fetch_add. Readers on any thread load them.
  struct traffic {
    std::array<std::atomic<std::uint64_t>, lane_count> messages_sent{};  ///< fetch_add
    std::atomic<std::uint64_t> bytes_sent{0};                             ///< fetch_add
    std::atomic<std::uint64_t> messages_received{0}, bytes_received{0};  ///< I/O thread
    std::array<std::atomic<std::uint64_t>, lane_count> dropped_queue_full{};  ///< under the lane's mutex
  } traffic;
};

/// Adds `n` to a counter that has a single writer at a time.
inline void add_single_writer(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// A ref to an actor on another node.
class remote_ref final : public ref_target {
 public:
  remote_ref(std::shared_ptr<transport_core> core, std::shared_ptr<association> a, std::string path,
             std::uint64_t uid);

  void enqueue(envelope* e) noexcept override;
  void enqueue_system(envelope* e) noexcept override;
  std::string path() const override { return assoc_->peer_uri + path_; }
  std::string name() const override;
  bool is_terminated() const noexcept override { return false; }
  bool is_local() const noexcept override { return false; }
  bool same_actor(const ref_target& other) const noexcept override;

  const std::string& local_path() const noexcept { return path_; }
  association& assoc() const noexcept { return *assoc_; }

 private:
  std::shared_ptr<transport_core> core_;
  std::shared_ptr<association> assoc_;
  std::string path_;  ///< "/user/a" on the peer
};

/// A message that arrived but could not be decoded; it goes to dead letters as this.
struct undecodable_message {
  std::string from;       ///< the peer node
  std::string recipient;  ///< the path it was sent to
  std::string manifest;
  std::string reason;
};

class transport_core : public std::enable_shared_from_this<transport_core> {
 public:
  transport_core(actor_system& system, remote_settings settings, std::shared_ptr<remote::serialization> registry);
  ~transport_core();

  expected<address, std::string> start();
  void shutdown();
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }

  actor_system& system() noexcept { return system_; }
  const remote_settings& settings() const noexcept { return settings_; }
  const logger& log() const noexcept { return system_.log(); }
  remote::serialization& serialization() noexcept { return *serialization_; }
  const ref_codec& codec() const noexcept { return codec_; }
  asio::io_context& io() noexcept { return io_; }
  const address& self() const noexcept { return self_; }
  const std::string& self_uri() const noexcept { return self_uri_; }
  std::uint64_t uid() const noexcept { return uid_; }
  /// The TLS context when TLS is on, else nullptr.
  asio::ssl::context* tls_context() noexcept { return tls_ ? &*tls_ : nullptr; }

  std::shared_ptr<association> association_for(const address& a);
  std::optional<actor_ref> ref_for(std::string_view uri, std::uint64_t uid);
  /// See `transport::route_inbound`.
  void route_inbound(const actor_ref& recipient, std::shared_ptr<inbound_router> router);
  std::string uri_of(const actor_ref& r);
  /// The path of a local ref on this node ("/user/a"), registering temporary refs (asks).
  std::string local_path_of(const actor_ref& r);

  // Senders (any thread).
  void send_user(remote_ref& to, envelope* e) noexcept;
  void send_system(remote_ref& to, envelope* e) noexcept;
  void send_control(association& a, const wire::control_message& m);

  // Association events.
  void quarantine(association& a, std::uint64_t uid, const std::string& reason, bool by_peer = false);
  /// Tells every local watcher of an actor on `a` that it is gone (any thread).
  void address_terminated(association& a, const char* why);
  void set_blackhole(const address& node, std::uint8_t bits);

  // I/O thread.
  void kick_lane(association& a, std::size_t lane);
  void on_outbound_established(connection& c, association& a, std::size_t lane, std::uint64_t peer_uid);
  void on_outbound_closed(connection& c, association& a, std::size_t lane);
  /// False when the peer must be refused (a quarantined incarnation).
  bool on_inbound_established(connection& c, const wire::handshake_peer& peer, std::shared_ptr<association>& out);
  /// Closes an inbound connection that claims a new uid for a known, unquarantined node,
  /// and dials the node to find out who lives there (I/O thread).
  void refuse_unverified_incarnation(connection& c, const std::shared_ptr<association>& a, std::uint64_t known_uid,
                                     std::uint64_t claimed_uid);
  void on_inbound_closed(connection& c);
  void on_envelope(connection& c, association& a, std::uint64_t peer_uid, const wire::envelope& e);
  /// Decodes an inbound envelope and puts it in its recipient's mailbox (or dead letters).
  void deliver(association& a, const wire::envelope& e);
  void on_control(connection& c, association& a, const wire::control_message& m);

  // Stats.
  struct counters {
    std::atomic<std::uint64_t> messages_sent{0}, messages_received{0}, bytes_sent{0}, bytes_received{0},
        dropped_queue_full{0}, dropped_unserializable{0}, dropped_too_large{0}, dropped_quarantined{0},
        dropped_blackholed{0}, decode_failures{0}, connections_closed_bad_input{0}, system_messages_resent{0},
        max_heartbeat_gap_us{0}, accept_failures{0}, connections_refused{0}, unverified_incarnations{0}, quarantines{0},
        frames_written_by_senders{0}, socket_writes{0};
    std::array<std::atomic<std::uint64_t>, lane_count> messages_sent_by_lane{};
  } stats;
  /// Counts `bytes` and `messages` written to a socket of `a`'s lane (by the I/O thread or a
  /// sender that wrote its frame itself).
  void count_sent(association* a, std::size_t lane_index, std::size_t bytes, std::size_t messages);
  std::size_t connected_peer_count();
  std::vector<remote::peer_stats> peer_stats();

  /// Rate-limited warning (at most 10 a second, then a summary).
  void warn(const std::string& text);

 private:
  friend class connection;
  /// Appends `frame` to the lane; when the lane is full and `for_dead_letter` is set, that
  /// message goes to dead letters instead (control frames are never refused).
  void enqueue_frame(association& a, std::size_t lane, const wire::byte_buffer& frame, message* for_dead_letter,
                     const actor_ref& recipient = {});
  bool local_address_is(const address& a) const;
  /// Has the I/O thread write the lane's pending frames.
  void post_kick(std::shared_ptr<association> a, std::size_t lane_index);
  /// The kick this thread's turn owes for the lane (`kick_owed_by`), paid when it ends.
  void owe_kick(std::shared_ptr<association> a, std::size_t lane_index);
  void pay_kick(association& a, std::size_t lane_index);
  static void pay_owed_kicks(void*);
  static bool in_actor_turn() noexcept;
  static const void* turn_token() noexcept;
  /// A turn that has queued this much on a lane has it written at once, so a long burst
  /// is written while the rest of it is being encoded.
  static constexpr std::size_t eager_kick_bytes = 16 * 1024;
  /// Writes `frame` to the lane's idle socket from the calling thread (lane mutex held);
  /// returns the bytes written, 0 when it should not or could not.
  std::size_t write_directly(association& a, std::size_t lane_index, const wire::byte_buffer& frame);
  /// The least time between two frames a sender writes itself on one lane.
  static constexpr std::chrono::microseconds direct_write_spacing{50};
  // The refs an inbound envelope names, as references into the I/O thread's caches (or
  // into `found_*`), valid until the next call: no reference count moves per message.
  // `*router`: the inbound router of the recipient, if it has one.
  const actor_ref& local_recipient(association& a, std::string_view path, std::uint64_t uid, inbound_router** router);
  const actor_ref& sender_ref(association& a, const wire::sender_ref& s);
  void accept_next();
  /// Whether a connection from `host` may wait for its handshake (max-pending-handshakes);
  /// if so it is counted until `handshake_over`.
  bool admit_pending(const connection& c, const asio::ip::address& host);
  void handshake_over(const connection& c);
  void connect_lane(const std::shared_ptr<association>& a, std::size_t lane);
  void schedule_retry(const std::shared_ptr<association>& a, std::size_t lane);
  /// At most once per reconnect-backoff-max: dials the quarantined peer's control lane, so
  /// that a new incarnation at the address is found (its handshake lifts the quarantine).
  void probe_quarantined(association& a);
  void on_heartbeat_tick();
  void on_resend_tick();
  void resend_unacked(association& a, bool all);
  void dead_letter(message m, const actor_ref& recipient, const char* reason);
  std::vector<std::shared_ptr<association>> all_associations();
  wire::nonce fresh_nonce();

  actor_system& system_;
  remote_settings settings_;
  std::shared_ptr<remote::serialization> serialization_;
  ref_codec codec_;
  address self_;
  std::string self_uri_;
  std::uint64_t uid_;
  std::atomic<bool> running_{false};
  std::atomic<bool> shutdown_started_{false};

  asio::io_context io_;
  std::optional<asio::ssl::context> tls_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::optional<tcp::acceptor> acceptor_;
  asio::ip::address bind_address_;
  std::unique_ptr<asio::steady_timer> heartbeat_timer_;
  std::unique_ptr<asio::steady_timer> resend_timer_;
  std::unique_ptr<asio::steady_timer> accept_timer_;
  std::chrono::milliseconds accept_pause_{0};  // I/O thread only; 0 while accepts succeed
  std::uint64_t accepts_failed_in_row_ = 0;    // I/O thread only
  std::thread io_thread_;

  std::mutex associations_mutex_;
  std::map<address, std::shared_ptr<association>> associations_;
  std::set<std::shared_ptr<connection>> inbound_;  // I/O thread only
  // Inbound connections before their handshake, and how many per host (I/O thread only).
  std::unordered_map<const connection*, asio::ip::address> pending_handshakes_;
  std::map<asio::ip::address, std::size_t> pending_by_host_;

  std::mutex temp_mutex_;
  std::unordered_map<std::uint32_t, actor_ref> temp_refs_;  // by uid: asks and other non-actor refs

  /// A local recipient as the I/O thread caches it, with its inbound router if any.
  struct cached_recipient {
    actor_ref ref;
    std::shared_ptr<inbound_router> router;
  };
  std::unordered_map<std::string, cached_recipient, path_hash, std::equal_to<>> recipient_cache_;  // I/O thread only
  /// Inbound routers by recipient (`route_inbound`); a change bumps the generation, which
  /// makes the I/O thread drop its recipient cache before it delivers the next message.
  std::mutex routers_mutex_;
  std::unordered_map<const ref_target*, std::pair<actor_ref, std::shared_ptr<inbound_router>>> routers_;
  std::atomic<std::uint64_t> routers_generation_{0};
  std::uint64_t routers_seen_ = 0;            // I/O thread only
  actor_ref found_recipient_, found_sender_;  // I/O thread only: what the two above return when not cached

  std::mutex warn_mutex_;
  steady::time_point warn_window_{};
  int warned_in_window_ = 0;
  std::uint64_t warn_suppressed_ = 0;
};

}  // namespace troupe::remote::detail
