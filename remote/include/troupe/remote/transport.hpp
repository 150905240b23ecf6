// transport: actors on other nodes, reached as ordinary actor_refs over TCP (Boost.Asio).
//
// One `transport` per actor system, an extension: start it with settings and the system
// accepts node-qualified URIs everywhere it takes a path.
//
//   troupe::actor_system system("shop");
//   auto& remoting = system.extension<troupe::remote::transport>();
//   remoting.start(troupe::remote::remote_settings::parse(R"({"host": "127.0.0.1", "port": 2552,
//                                                           "cookie": "s3cret"})").value());
//   remoting.serialization().register_json<order>("shop.order");
//
//   // on another node:
//   auto cart = remoting.resolve("troupe://shop@127.0.0.1:2552/user/cart", 3s);  // identify round trip
//   if (cart) cart->tell(order{"apple", 2});          // replies come back: the sender travels
//   system.select("troupe://shop@127.0.0.1:2552/user/cart").tell(order{"pear", 1});
//
// Between two nodes there is one association, over up to three TCP connections each node
// opens to the other (Artery's streams): the control lane (system messages, heartbeats
// and, later, cluster gossip), the ordinary lane (user messages up to `max-frame-size`)
// and the large lane (messages to `large-message-destinations`). A 10 MB message on the
// large lane therefore never delays a heartbeat. User messages to
// `control-message-destinations` (the cluster's daemons) travel on the control lane.
//
// With `tls.enabled`, every connection runs TLS (1.2 or later) first, and both sides must
// present a certificate the configured CA signed that names their address (unless
// `tls.check-peer-address` is false); the cookie handshake runs inside it. Without TLS a
// cookie is required (or `insecure`): see docs/security.md.
//
// A message sent inside an actor turn is handed to the I/O thread when the turn ends (or
// once the turn has queued 16 KiB for that connection), so a turn's messages leave in one
// write; one sent outside any turn, at once. (A handler that sends and then blocks holds
// its messages back: actors do not block, and the blocking calls here say so.)
//
// Delivery is at most once for user messages, in order per sender and recipient.
// System messages (watch, unwatch, death notifications, stop) are sequenced, acked and
// resent across reconnects; when they cannot be delivered for
// `give-up-system-message-after`, or the peer restarts with a new uid, the old incarnation
// is quarantined: never talked to again, its watchers told it terminated.
//
// Remote death watch: `watch` on a remote ref delivers `terminated` when the actor stops,
// or with `address_terminated` when a heartbeat failure detector (phi accrual) gives up on
// its node.
//
// Everything undeliverable goes to dead letters with a reason: an unregistered type (the
// error names it), a frame above the limit, a full outbound queue, a quarantined peer, a
// payload the receiver cannot decode. Bad input from the network closes only that
// connection, logged with the reason.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/actor/actor_system.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/remote/serialization.hpp"
#include "troupe/remote/settings.hpp"

namespace troupe::remote {

namespace detail {
class transport_core;
}

/// Counters since start, for tests, benchmarks and monitoring.
struct transport_stats {
  std::uint64_t messages_sent = 0;      ///< envelopes queued to a connection
  /// The same by lane: [0] control, [1] ordinary, [2] large.
  std::array<std::uint64_t, 3> messages_sent_by_lane{};
  std::uint64_t messages_received = 0;  ///< envelopes delivered to local actors
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped_queue_full = 0;     ///< outbound queue overflow (to dead letters)
  std::uint64_t dropped_unserializable = 0; ///< no serializer, or the encoder threw
  std::uint64_t dropped_too_large = 0;      ///< above the lane's frame limit
  std::uint64_t dropped_quarantined = 0;    ///< to or from a quarantined incarnation
  std::uint64_t dropped_blackholed = 0;     ///< by the test switch
  std::uint64_t decode_failures = 0;        ///< payloads that failed to decode (to dead letters)
  std::uint64_t connections_closed_bad_input = 0;  ///< malformed frames, failed handshakes
  std::uint64_t system_messages_resent = 0;
  /// The longest time between two answers to the watch heartbeats of one peer, in
  /// microseconds (how late the control lane ran; heartbeats flow while a remote actor is
  /// watched).
  std::uint64_t max_heartbeat_gap_us = 0;
  /// Incoming connections the listening socket could not accept. Out of file descriptors
  /// (or memory), accepting pauses, 10 ms doubling to 1 s, so this grows slowly.
  std::uint64_t accept_failures = 0;
  /// Incoming connections closed at once because max-pending-handshakes (in all, or from
  /// their host) had not finished their handshake.
  std::uint64_t connections_refused = 0;
  /// Inbound connections that claimed a new incarnation (uid) of a known, unquarantined
  /// node and were closed until this node's own connection to that address confirmed it.
  std::uint64_t unverified_incarnations = 0;
  /// Node incarnations quarantined by this node or by their own word (never talked to again).
  std::uint64_t quarantines = 0;
  /// Frames a sending thread wrote to an idle lane's socket itself, without waking the I/O
  /// thread (at most one per lane per 50 us; the rest of the traffic is batched there).
  std::uint64_t frames_written_by_senders = 0;
  /// Writes to sockets, by the I/O thread (one per batch of frames) and by senders (one
  /// frame each): messages_sent / socket_writes is how well outgoing traffic is batched.
  std::uint64_t socket_writes = 0;
};

/// One peer node's traffic since this transport first talked to it
/// (`transport::peer_stats`). Lanes are indexed [0] control, [1] ordinary, [2] large.
struct peer_stats {
  address node;
  std::uint64_t uid = 0;   ///< the incarnation last seen (0: never connected)
  bool connected = false;  ///< handshake done with that incarnation, not quarantined
  bool quarantined = false;
  std::array<std::uint64_t, 3> messages_sent_by_lane{};  ///< written to its socket
  std::uint64_t messages_received = 0;                  ///< delivered here from it
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;                     ///< after its handshake
  std::array<std::uint64_t, 3> dropped_queue_full_by_lane{};
  /// Waiting in the outbound queue now (at most `outbound-queue-size` per lane).
  std::array<std::uint64_t, 3> queued_messages_by_lane{};
  std::uint64_t queued_bytes = 0;
};

/// Published on the event stream when a node incarnation is quarantined.
struct quarantined_event {
  address node;
  std::uint64_t uid = 0;
  std::string reason;
  /// True when that node quarantined this one first (Akka's ThisActorSystemQuarantinedEvent):
  /// this incarnation will never be talked to by it again, and a cluster member must stop.
  bool by_peer = false;
};

/// Published on the event stream when a connection to or from a node incarnation is
/// established (once per incarnation) and when its failure detector gives up on it.
struct association_event {
  enum class kind { connected, unreachable };
  kind what = kind::connected;
  address node;
  std::uint64_t uid = 0;
};

/// Which way the test switch drops traffic (Akka TestConductor's `Direction`).
enum class direction { send, receive, both };

/// Sees the messages that arrive from other nodes for one local actor before its mailbox
/// does, on the receiving I/O thread (`transport::route_inbound`). The cluster sharding
/// region uses it to hand a forwarded message straight to the running entity it is for,
/// without a turn of its own.
class inbound_router {
 public:
  virtual ~inbound_router() = default;
  /// `m` (decoded, its sender set) arrived for `recipient`. Deliver it, to
  /// `recipient.tell_envelope(m.release())` or elsewhere; never block for long (it holds up
  /// every message behind it on the connection). Called by one I/O thread at a time per
  /// connection; messages of one connection come in order.
  virtual void route(const actor_ref& recipient, message m) = 0;
};

class transport {
 public:
  /// Constructed by `actor_system::extension<transport>()`; nothing runs until `start`.
  explicit transport(actor_system& system);
  /// Drains the outbound queues (up to a second) and closes every connection.
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  /// Binds `settings.host:port` (port 0: any free port), starts the I/O thread and makes the
  /// system resolve node-qualified URIs; returns this node's address (with the port bound).
  /// An error says why (address in use, unknown host, unreadable TLS files, started twice).
  expected<address, std::string> start(remote_settings settings);
  /// True between a successful `start` and `shutdown`.
  bool is_running() const noexcept;
  /// Closes every connection and stops the I/O thread; later sends go to dead letters.
  void shutdown();

  /// This node: `troupe://system@host:port` with the port actually bound.
  address local_address() const;
  /// This incarnation's random uid (never 0).
  std::uint64_t uid() const noexcept;
  /// The serialization registry: register the types that cross the network here (before
  /// or after `start`).
  remote::serialization& serialization() noexcept;

  /// The ref for `uri` (`troupe://sys@host:port/user/a`) with incarnation `uid` (0: any):
  /// a local ref for this node (nullopt when nothing lives there), otherwise a remote ref
  /// (not checked); nullopt for a malformed URI.
  std::optional<actor_ref> ref_for(std::string_view uri, std::uint64_t uid = 0);
  /// The actor living at `uri` now, by an identify round trip; an error when nothing lives
  /// there, the node does not answer within `timeout`, or the URI is malformed. Blocks:
  /// call it from outside actors (inside, `request<actor_identity>` an `identify`).
  expected<actor_ref, std::string> resolve(std::string_view uri, std::chrono::milliseconds timeout);
  /// The full URI of any ref as other nodes know it (`troupe://sys@host:port/user/a`).
  std::string uri_of(const actor_ref& r);

  /// Quarantines the incarnation `uid` of `node` (0: whatever incarnation it has now):
  /// nothing is exchanged with it again and its watchers get `terminated`. For the cluster
  /// layer, when it removes a member.
  void quarantine(const address& node, std::uint64_t uid, std::string reason);

  /// From now on, user messages that arrive from other nodes for `recipient` go to
  /// `router` instead of its mailbox (system messages never do); nullptr removes the
  /// router. False when remoting is not running. Messages already on their way may still
  /// reach the previous router (or the mailbox) for a moment.
  bool route_inbound(const actor_ref& recipient, std::shared_ptr<inbound_router> router);

  /// Test switch: drops every frame to and/or from `node` until `pass_through`. Heartbeats
  /// and acks are dropped too, so a long enough blackhole looks like a partition.
  void blackhole(const address& node, direction d);
  /// Lets traffic to and from `node` pass again (both directions).
  void pass_through(const address& node);

  /// Counters since start.
  transport_stats stats() const noexcept;
  /// The number of peer nodes this node has completed a handshake with and not quarantined.
  std::size_t connected_peer_count() const;
  /// Every peer address this node has sent to or heard from, with its traffic and the
  /// depth of its outbound queues now (locks each lane briefly).
  std::vector<remote::peer_stats> peer_stats() const;

 private:
  actor_system& system_;
  std::shared_ptr<remote::serialization> serialization_;
  std::shared_ptr<detail::transport_core> core_;
};

}  // namespace troupe::remote
