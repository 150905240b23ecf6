#include "troupe/remote/transport.hpp"

#include "internal/transport_core.hpp"

namespace troupe::remote {

namespace {

/// Lets `actor_system::resolve` and `select` take node-qualified URIs.
class provider final : public ref_provider {
 public:
  explicit provider(std::weak_ptr<detail::transport_core> core) : core_(std::move(core)) {}
  std::optional<actor_ref> resolve_uri(std::string_view uri) override {
    auto core = core_.lock();
    if (!core || !core->running()) return std::nullopt;
    return core->ref_for(uri, 0);
  }

 private:
  std::weak_ptr<detail::transport_core> core_;
};

}  // namespace

transport::transport(actor_system& system)
    : system_(system), serialization_(std::make_shared<remote::serialization>()) {}

transport::~transport() { shutdown(); }

expected<address, std::string> transport::start(remote_settings settings) {
  if (core_) return unexpected<std::string>{"the transport is already started"};
  auto core = std::make_shared<detail::transport_core>(system_, std::move(settings), serialization_);
  auto bound = core->start();
  if (!bound) return bound;
  core_ = std::move(core);
  system_.set_ref_provider(std::make_shared<provider>(core_));
  return bound;
}

bool transport::is_running() const noexcept { return core_ && core_->running(); }

void transport::shutdown() {
  if (!core_) return;
  system_.set_ref_provider(nullptr);
  core_->shutdown();
}

address transport::local_address() const { return core_ ? core_->self() : address{}; }
std::uint64_t transport::uid() const noexcept { return core_ ? core_->uid() : 0; }

remote::serialization& transport::serialization() noexcept { return *serialization_; }

std::optional<actor_ref> transport::ref_for(std::string_view uri, std::uint64_t uid) {
  if (!is_running()) return std::nullopt;
  return core_->ref_for(uri, uid);
}

expected<actor_ref, std::string> transport::resolve(std::string_view uri, std::chrono::milliseconds timeout) {
  if (!is_running()) return unexpected<std::string>{"remoting is not running"};
  if (!parse_actor_uri(uri)) return unexpected<std::string>{"malformed actor URI \"" + std::string(uri) + "\""};
  return system_.select(std::string(uri)).resolve_one(timeout);
}

std::string transport::uri_of(const actor_ref& r) { return is_running() ? core_->uri_of(r) : r.path(); }

bool transport::route_inbound(const actor_ref& recipient, std::shared_ptr<inbound_router> router) {
  if (!is_running() || !recipient) return false;
  core_->route_inbound(recipient, std::move(router));
  return true;
}

void transport::quarantine(const address& node, std::uint64_t uid, std::string reason) {
  if (!is_running()) return;
  core_->quarantine(*core_->association_for(node), uid, reason);
}

void transport::blackhole(const address& node, direction d) {
  if (!core_) return;
  core_->set_blackhole(node, d == direction::send ? 1 : d == direction::receive ? 2 : 3);
}

void transport::pass_through(const address& node) {
  if (core_) core_->set_blackhole(node, 0);
}

transport_stats transport::stats() const noexcept {
  transport_stats s;
  if (!core_) return s;
  const auto& c = core_->stats;
  auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  s.messages_sent = get(c.messages_sent);
  for (std::size_t i = 0; i < s.messages_sent_by_lane.size(); ++i) s.messages_sent_by_lane[i] = get(c.messages_sent_by_lane[i]);
  s.messages_received = get(c.messages_received);
  s.bytes_sent = get(c.bytes_sent);
  s.bytes_received = get(c.bytes_received);
  s.dropped_queue_full = get(c.dropped_queue_full);
  s.dropped_unserializable = get(c.dropped_unserializable);
  s.dropped_too_large = get(c.dropped_too_large);
  s.dropped_quarantined = get(c.dropped_quarantined);
  s.dropped_blackholed = get(c.dropped_blackholed);
  s.decode_failures = get(c.decode_failures);
  s.connections_closed_bad_input = get(c.connections_closed_bad_input);
  s.system_messages_resent = get(c.system_messages_resent);
  s.max_heartbeat_gap_us = get(c.max_heartbeat_gap_us);
  s.accept_failures = get(c.accept_failures);
  s.connections_refused = get(c.connections_refused);
  s.unverified_incarnations = get(c.unverified_incarnations);
  s.quarantines = get(c.quarantines);
  s.frames_written_by_senders = get(c.frames_written_by_senders);
  s.socket_writes = get(c.socket_writes);
  return s;
}

std::size_t transport::connected_peer_count() const { return core_ ? core_->connected_peer_count() : 0; }

std::vector<peer_stats> transport::peer_stats() const {
  return core_ ? core_->peer_stats() : std::vector<remote::peer_stats>{};
}

}  // namespace troupe::remote
