// The cluster extension and its daemon: an actor at /system/cluster that feeds a
// node_core with the transport's messages and its own timers, and carries out what the
// core decides (sends, quarantines, events, stopping).
#include "troupe/cluster/cluster.hpp"

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <utility>

#include "troupe/actor.hpp"
#include "troupe/cluster/discovery.hpp"
#include "troupe/cluster/management.hpp"
#include "troupe/cluster/node_core.hpp"
#include "troupe/cluster/protocol.hpp"
#include "troupe/remote/transport.hpp"

#include "known_members_file.hpp"

namespace troupe::cluster {

namespace detail {

/// What the extension and its daemon share; every field under `mutex`.
struct cluster_shared {
  mutable std::mutex mutex;
  bool started = false;
  cluster_settings settings;
  model::unique_address self;
  model::gossip latest;
  bool terminated = false;
  cluster_stats stats;
  actor_ref daemon;
  std::map<std::uint64_t, std::function<void(const cluster_event&)>> listeners;
  std::uint64_t next_token = 1;
  std::vector<std::function<void()>> on_up;
  std::vector<std::function<void()>> on_removed;
  bool up_reached = false;
  /// Coordinated shutdown's leave tasks, released when the daemon stops taking part.
  std::vector<std::promise<void>> leave_waiters;
  /// Management endpoints of later layers, by path prefix.
  std::map<std::string, std::function<management_response(const management_request&)>> routes;
  /// Metrics of later layers, by name.
  std::map<std::string, std::function<void(metrics_text&)>> metrics;
};

}  // namespace detail

namespace {

using detail::cluster_shared;

// Commands from the extension to its daemon (local only, never serialized).
struct join_seeds_cmd { std::vector<model::address> seeds; };
struct join_cmd { model::address node; };
struct leave_cmd { model::address node; };
struct down_cmd { model::address node; };
struct subscribe_cmd { actor_ref subscriber; std::uint32_t kinds; };
struct unsubscribe_cmd { actor_ref subscriber; };
struct tick_msg { tick what; };

void run_guarded(const std::function<void()>& fn, const logger& log) {
  try {
    fn();
  } catch (const std::exception& e) {
    TROUPE_LOG(log, error) << "cluster: a callback threw: " << e.what();
  } catch (...) {
    TROUPE_LOG(log, error) << "cluster: a callback threw";
  }
}

core_settings core_settings_of(const cluster_settings& s) {
  core_settings c;
  c.roles = s.roles;
  c.gossip_interval = s.gossip_interval;
  c.seed_node_timeout = s.seed_node_timeout;
  c.first_seed_forms_cluster_when_alone = s.first_seed_forms_cluster_when_alone;
  c.retry_unsuccessful_join_after = s.retry_unsuccessful_join_after;
  c.weakly_up_after = s.weakly_up_after;
  c.expected_response_after = s.expected_response_after;
  c.monitored_by_nr_of_members = s.monitored_by_nr_of_members;
  c.failure_detector = s.failure_detector;
  c.membership = s.membership;
  c.downing = s.downing;
  c.gossips_on_downing = s.gossips_on_downing;
  return c;
}

class cluster_daemon final : public actor {
 public:
  cluster_daemon(std::shared_ptr<cluster_shared> shared, remote::transport* transport, core_settings cs,
                 model::unique_address self, std::uint64_t seed)
      : shared_(std::move(shared)), transport_(transport), core_(std::move(cs), std::move(self), seed) {}

  void pre_start() override {
    const auto& s = shared_->settings;
    timers().start_periodic_timer("gossip", tick_msg{tick::gossip}, s.gossip_interval);
    timers().start_periodic_timer("heartbeat", tick_msg{tick::heartbeat}, s.heartbeat_interval);
    timers().start_periodic_timer("reaper", tick_msg{tick::reaper}, s.unreachable_nodes_reaper_interval);
    timers().start_periodic_timer("leader", tick_msg{tick::leader}, s.leader_actions_interval);
    timers().start_periodic_timer("downing", tick_msg{tick::downing}, std::chrono::seconds{1});
    system().events().subscribe<remote::quarantined_event>(self());
    TROUPE_LOG(log(), info) << "cluster: node " << model::to_string(core_.self()) << " started";
    read_known_members();
  }

  void post_stop() override {
    system().events().unsubscribe(self());
    finish();
    std::lock_guard lock(shared_->mutex);
    shared_->daemon = {};  // the shared state must not keep this actor (and its system) alive
  }

  behavior make_behavior() override {
    return {
        // Commands.
        [this](const join_seeds_cmd& c) {
          core_.join_seed_nodes(c.seeds, now(), known_members_);
          if (core_.phase() != core_phase::member) start_join_timer();
          flush();
        },
        [this](const join_cmd& c) {
          core_.join(c.node, now());
          if (core_.phase() != core_phase::member) start_join_timer();
          flush();
        },
        [this](const leave_cmd& c) { apply(protocol::leave{c.node}); },
        [this](const down_cmd& c) { apply(protocol::down{c.node}); },
        [this](const subscribe_cmd& c) { subscribe(c); },
        [this](const unsubscribe_cmd& c) {
          std::erase_if(subscribers_, [&](const auto& s) { return s.first == c.subscriber; });
        },
        [this](const tick_msg& t) { on_tick(t.what); },
        [this](const remote::quarantined_event& q) { on_quarantined(q); },
        // The protocol.
        [this](const protocol::init_join&) {
          std::visit([this](auto&& answer) { reply(std::move(answer)); }, core_.answer_init_join());
        },
        [this](const protocol::init_join_ack& m) { apply(m); },
        [this](const protocol::init_join_nack& m) { apply(m); },
        [this](const protocol::join& m) { apply(m); },
        [this](const protocol::welcome& m) { apply(m); },
        [this](const protocol::leave& m) { apply(m); },
        [this](const protocol::down& m) { apply(m); },
        [this](const protocol::exiting_confirmed& m) { apply(m); },
        [this](const protocol::gossip_envelope& m) { apply(m); },
        [this](const protocol::gossip_status& m) { apply(m); },
        [this](const protocol::heartbeat& m) { apply(m); },
        [this](const protocol::heartbeat_rsp& m) { apply(m); },
    };
  }

 private:
  nanoseconds now() const { return system().scheduler().now().time_since_epoch(); }

  void start_join_timer() {
    if (!timers().is_timer_active("join"))
      timers().start_periodic_timer("join", tick_msg{tick::join}, core_.settings().join_retry_interval);
  }

  // The resolver's decision falls due between two of its one-second ticks: one tick then.
  void arm_downing_due() {
    const auto due = core_.downing_due();
    if (due == downing_due_) return;
    downing_due_ = due;
    if (!due) return;
    const nanoseconds wait = *due - now();
    if (wait > nanoseconds::zero()) timers().start_single_timer("downing-due", tick_msg{tick::downing}, wait);
  }

  void apply(const protocol_message& m) {
    core_.receive(m, now());
    flush();
  }

  void on_tick(tick t) {
    core_.on_tick(t, now());
    if (t == tick::gossip && core_.speedup_needed()) {
      const auto third = shared_->settings.gossip_interval / model::gossip_speedup_factor;
      timers().start_single_timer("speedup1", tick_msg{tick::speedup}, third);
      timers().start_single_timer("speedup2", tick_msg{tick::speedup}, 2 * third);
    }
    if (t == tick::join && core_.phase() == core_phase::member) timers().cancel("join");
    flush();
  }

  // The members of the last run (settings.hpp, `known-members-file`), asked when joining.
  void read_known_members() {
    const auto& path = shared_->settings.known_members_file;
    if (path.empty()) return;
    std::string error;
    known_members_ = detail::read_known_members(path, core_.self().address.system, error);
    if (!error.empty()) {
      TROUPE_LOG(log(), warning) << "cluster: known-members-file: " << error;
    }
    if (!known_members_.empty()) {
      TROUPE_LOG(log(), info) << "cluster: " << known_members_.size() << " member(s) remembered in " << path.string()
                              << " are asked as well as the seeds";
    }
  }

  // Rewrites the known-members file when the members' addresses changed.
  void write_known_members() {
    const auto& path = shared_->settings.known_members_file;
    if (path.empty() || core_.phase() != core_phase::member) return;
    std::vector<model::address> members;
    for (const auto& m : core_.latest_gossip().members())
      if (m.address() != core_.self().address && m.status() != member_status::removed) members.push_back(m.address());
    if (members == written_members_) return;
    std::string error;
    if (detail::write_known_members(path, detail::format_known_members(core_.self().address, members), error)) {
      written_members_ = std::move(members);
      write_failed_ = false;
    } else if (!write_failed_) {
      write_failed_ = true;  // once, not on every change
      TROUPE_LOG(log(), warning) << "cluster: known-members-file: " << error;
    }
  }

  void on_quarantined(const remote::quarantined_event& q) {
    if (!q.by_peer || core_.phase() != core_phase::member) return;
    // A member of this cluster will never talk to this incarnation again (Akka's
    // ThisActorSystemQuarantinedEvent): it cannot stay a member.
    const model::unique_address peer{q.node, q.uid};
    if (!core_.latest_gossip().has_member(peer)) return;
    TROUPE_LOG(log(), warning) << "cluster: quarantined by member " << model::to_string(peer) << "; leaving the cluster";
    core_.down(core_.self().address, now());
    flush();
  }

  // `reachability_changed` to the subscribers that asked, when the table differs from the
  // last one published.
  void publish_reachability() {
    const auto& r = core_.latest_gossip().reachability();
    if (r == published_reachability_) return;
    published_reachability_ = r;
    for (const auto& [ref, kinds] : subscribers_)
      if ((kinds & reachability_changed_events) != 0) ref.tell(reachability_changed{r}, self());
  }

  void subscribe(const subscribe_cmd& c) {
    c.subscriber.tell(snapshot_of(core_.latest_gossip(), core_.self()), self());
    auto it = std::find_if(subscribers_.begin(), subscribers_.end(), [&](const auto& s) { return s.first == c.subscriber; });
    if (it != subscribers_.end())
      it->second = c.kinds;
    else
      subscribers_.emplace_back(c.subscriber, c.kinds);
  }

  // The daemon at `a`. The transport addresses an actor by path (the uid it takes is the
  // actor's, not the node's): an incarnation is checked by the receiving core
  // (`gossip_envelope::to`), and a quarantined one is never reached.
  actor_ref daemon_at(const model::address& a) {
    if (auto it = refs_.find(a); it != refs_.end()) return it->second;
    auto ref = transport_->ref_for(model::to_string(a) + daemon_path);
    if (!ref) return {};
    if (refs_.size() > 4096) refs_.clear();
    return refs_.emplace(a, *ref).first->second;
  }

  // Carries out what the core decided.
  void flush() {
    arm_downing_due();
    for (auto& out : core_.take_outbox()) {
      actor_ref to = daemon_at(out.to);
      if (!to) continue;
      std::visit([&](auto&& m) { to.tell(std::move(m), self()); }, std::move(out.message));
    }
    for (const auto& q : core_.take_quarantines()) {
      transport_->quarantine(q.address, q.uid, "removed from the cluster after being downed");
    }
    const auto events = core_.take_events();
    for (const auto& e : events) leader_changes_ += std::holds_alternative<leader_changed>(e) ? 1 : 0;
    std::vector<std::function<void()>> up_callbacks;
    std::vector<std::function<void(const cluster_event&)>> listeners;
    bool view_changed = false;
    {
      std::lock_guard lock(shared_->mutex);
      const auto& st = core_.stats();
      if (st.view_changes != published_views_) {
        shared_->latest = core_.latest_gossip();
        published_views_ = st.view_changes;
        view_changed = true;
      }
      shared_->stats = {st.gossip_sent, st.gossip_status_sent, st.gossip_received, st.heartbeats_sent, st.rejected,
                        st.view_changes, leader_changes_, core_.state().convergence()};
      if (!shared_->up_reached && core_.state().self_member().status() == member_status::up) {
        shared_->up_reached = true;
        up_callbacks = std::exchange(shared_->on_up, {});
      }
      if (!events.empty())
        for (const auto& [token, fn] : shared_->listeners) listeners.push_back(fn);
    }
    for (const auto& n : core_.take_seed_wait_notices()) TROUPE_LOG(log(), warning) << "cluster: " << model::to_string(n);
    if (!events.empty() && !core_.stop_requested()) write_known_members();
    for (const auto& e : events) {
      TROUPE_LOG(log(), info) << "cluster: " << to_string(e);
      const std::uint32_t kind = kind_of(e);
      for (const auto& [ref, kinds] : subscribers_)
        if ((kinds & kind) != 0) std::visit([&](const auto& ev) { ref.tell(ev, self()); }, e);
      for (const auto& fn : listeners) run_guarded([&] { fn(e); }, log());
    }
    if (view_changed) publish_reachability();
    for (const auto& fn : up_callbacks) run_guarded(fn, log());
    if (core_.stop_requested() && !stopped_) {
      stopped_ = true;
      timers().cancel_all();
      const std::string reason(core_.stop_reason());
      if (core_.stopped_because() == stop_cause::left)
        TROUPE_LOG(log(), info) << "cluster: " << model::to_string(core_.self()) << " left the cluster";
      else
        TROUPE_LOG(log(), warning) << "cluster: " << model::to_string(core_.self()) << " stops: " << reason;
      finish();
      if (shared_->settings.run_coordinated_shutdown_when_down)
        (void)system().coordinated_shutdown().run("cluster: " + reason);
    }
  }

  // This node takes no more part: the removed callbacks run and waiters are released.
  void finish() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->terminated) return;
      shared_->terminated = true;
      shared_->latest = core_.latest_gossip();
      callbacks = std::exchange(shared_->on_removed, {});
      for (auto& w : shared_->leave_waiters) w.set_value();
      shared_->leave_waiters.clear();
    }
    for (const auto& fn : callbacks) run_guarded(fn, log());
  }

  std::shared_ptr<cluster_shared> shared_;
  remote::transport* transport_;
  std::uint64_t leader_changes_ = 0;
  std::optional<nanoseconds> downing_due_;  ///< when the one-off downing tick is armed for
  node_core core_;
  std::vector<std::pair<actor_ref, std::uint32_t>> subscribers_;
  std::map<model::address, actor_ref> refs_;
  bool stopped_ = false;
  std::uint64_t published_views_ = 0;
  model::reachability published_reachability_;  ///< the table last sent as reachability_changed
  std::vector<model::address> known_members_;    ///< read from the known-members file at start
  std::vector<model::address> written_members_;  ///< last written to it
  bool write_failed_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------
// The extension

cluster::cluster(actor_system& system) : system_(system), shared_(std::make_shared<detail::cluster_shared>()) {}

cluster::~cluster() {
  if (discovery_) discovery_->stop();
  if (management_) management_->stop();
}

namespace {
actor_ref daemon_of(const detail::cluster_shared& s) {
  std::lock_guard lock(s.mutex);
  return s.daemon;
}
}  // namespace

expected<model::address, std::string> cluster::start(cluster_settings settings) {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->started) return unexpected(std::string("the cluster is already started"));
  }
  if (settings.system != system_.name())
    return unexpected("the settings name the system \"" + settings.system + "\" but this actor system is \"" +
                      system_.name() + "\"");
  if (settings.seed_nodes.empty() && settings.discovery && settings.discovery->method == "postgresql" &&
      settings.discovery->connection.empty())
    return unexpected(std::string(
        "discovery.connection: expected a PostgreSQL connection string (or TROUPE_PG_CONNECTION), got nothing"));
  auto& transport = system_.extension<remote::transport>();
  protocol::register_protocol(transport.serialization());
  if (!transport.is_running()) {
    remote::remote_settings rs = settings.remote;
    if (std::find(rs.control_message_destinations.begin(), rs.control_message_destinations.end(), daemon_path) ==
        rs.control_message_destinations.end())
      rs.control_message_destinations.emplace_back(daemon_path);
    auto bound = transport.start(std::move(rs));
    if (!bound) return unexpected("cannot start the transport: " + bound.error());
  }
  add_management_route("/metrics", [this](const management_request& request) {
    const std::string_view target = request.target;
    if (target.substr(0, target.find('?')) != "/metrics") {
      return management_response{404, R"({"message":"Unknown path; metrics are at /metrics"})", {}, {}};
    }
    management_response r{200, metrics(), {}, {}};
    r.content_type = std::string(metrics_content_type);
    return r;
  });
  if (settings.management.enabled) {
    auto server = std::make_unique<management_server>(*this);
    auto port = server->start(settings.management);
    if (!port) return unexpected("cannot start the management endpoints: " + port.error());
    settings.management.port = *port;
    management_ = std::move(server);
  }
  const model::address self_address = transport.local_address();
  settings.remote.port = self_address.port;
  const model::unique_address self{self_address, transport.uid()};
  {
    std::lock_guard lock(shared_->mutex);
    shared_->started = true;
    shared_->settings = settings;
    shared_->self = self;
  }
  auto daemon = system_.spawn_system_actor(
      props::of<cluster_daemon>(shared_, &transport, core_settings_of(settings), self,
                                transport.uid() ^ system_.random_seed()),
      "cluster");
  {
    std::lock_guard lock(shared_->mutex);
    shared_->daemon = daemon;
  }
  // Coordinated shutdown of an up member leaves the cluster first (Akka's cluster-leave
  // and cluster-exiting phases), then stops the daemon.
  auto shared = shared_;
  auto& cs = system_.coordinated_shutdown();
  // The tasks hold the shared state, never the daemon's ref: a ref kept by the system's
  // own coordinated shutdown would keep the daemon's cell, and so the system, alive.
  cs.add_task("cluster-leave", "leave", std::function<std::future<void>()>{[shared, self_address] {
    std::promise<void> done;
    auto f = done.get_future();
    actor_ref target;
    {
      std::lock_guard lock(shared->mutex);
      if (shared->terminated || !shared->daemon || !shared->latest.has_member(shared->self)) {
        done.set_value();
        return f;
      }
      target = shared->daemon;
      shared->leave_waiters.push_back(std::move(done));
    }
    target.tell(leave_cmd{self_address});
    return f;
  }});
  cs.add_task("cluster-shutdown", "stop-cluster-daemon", std::function<void()>{[this] {
    if (discovery_) discovery_->stop();
    if (management_) management_->stop();
    if (auto d = daemon_of(*shared_)) system_.stop(d);
  }});
  if (!settings.seed_nodes.empty()) {
    std::vector<model::address> seeds;
    for (const auto& s : settings.seed_nodes) seeds.push_back(s);
    join_seed_nodes(std::move(seeds));
  } else if (settings.discovery) {
    // Seed discovery: a thread of its own looks up (lookups block) and joins once.
    const auto& d = *settings.discovery;
    discovery_ = std::make_unique<seed_discovery>(
        make_seed_provider(settings), model::bootstrap_settings{d.required_contact_points, d.stable_margin},
        d.interval, system_.log(), [this](std::vector<model::address> seeds) { join_seed_nodes(std::move(seeds)); });
    discovery_->start();
  }
  return self_address;
}

std::optional<std::uint16_t> cluster::management_port() const {
  if (!management_) return std::nullopt;
  return management_->port();
}

bool cluster::is_started() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->started;
}

const cluster_settings& cluster::settings() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->settings;
}


void cluster::join_seed_nodes(std::vector<model::address> seeds) {
  if (auto d = daemon_of(*shared_)) d.tell(join_seeds_cmd{std::move(seeds)});
}
void cluster::join(const model::address& node) {
  if (auto d = daemon_of(*shared_)) d.tell(join_cmd{node});
}
void cluster::leave(const model::address& node) {
  if (auto d = daemon_of(*shared_)) d.tell(leave_cmd{node});
}
void cluster::leave() { leave(self_address()); }
void cluster::down(const model::address& node) {
  if (auto d = daemon_of(*shared_)) d.tell(down_cmd{node});
}

model::unique_address cluster::self_unique_address() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->self;
}
model::address cluster::self_address() const { return self_unique_address().address; }

model::member cluster::self_member() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->latest.member(shared_->self);
}

current_cluster_state cluster::state() const {
  std::lock_guard lock(shared_->mutex);
  return snapshot_of(shared_->latest, shared_->self);
}

model::gossip cluster::latest_gossip() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->latest;
}

bool cluster::is_terminated() const noexcept {
  std::lock_guard lock(shared_->mutex);
  return shared_->terminated;
}

cluster_stats cluster::stats() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->stats;
}

void cluster::add_metrics(std::string name, std::function<void(metrics_text&)> writer) {
  std::lock_guard lock(shared_->mutex);
  shared_->metrics[std::move(name)] = std::move(writer);
}

std::string cluster::metrics() const {
  using enum metric_type;
  metrics_text out;
  // 1. The actor system.
  const auto sys = system_.stats();
  const metrics_text::labels system{{"system", system_.name()}};
  out.add("troupe_actor_messages_processed_total", counter, "User messages handled by actors",
          static_cast<double>(sys.messages_processed), system);
  out.add("troupe_actor_dead_letters_total", counter, "Messages that could not be delivered",
          static_cast<double>(sys.dead_letters), system);
  out.add("troupe_actor_restarts_total", counter, "Actor restarts by their supervisors",
          static_cast<double>(sys.actors_restarted), system);
  out.add("troupe_actor_stops_total", counter, "Actors stopped", static_cast<double>(sys.actors_stopped), system);
  const auto deepest = system_.deepest_mailboxes(10);
  for (const auto& m : deepest) {
    out.add("troupe_actor_mailbox_depth", gauge, "User messages waiting in the longest mailboxes (64 or more when listed)",
            m.depth, {{"system", system_.name()}, {"actor", m.path}});
  }
  out.add("troupe_actor_mailbox_depth_max", gauge, "The longest mailbox listed (0: none held 64 messages at a turn's end)",
          deepest.empty() ? 0 : deepest.front().depth, system);
  // 2. The transport.
  auto& transport = system_.extension<remote::transport>();
  const auto t = transport.stats();
  static constexpr const char* lanes[] = {"control", "ordinary", "large"};
  for (std::size_t i = 0; i < t.messages_sent_by_lane.size(); ++i) {
    out.add("troupe_remote_messages_sent_total", counter, "Messages queued to other nodes, by lane",
            static_cast<double>(t.messages_sent_by_lane[i]), {{"lane", lanes[i]}});
  }
  out.add("troupe_remote_messages_received_total", counter, "Messages from other nodes delivered here",
          static_cast<double>(t.messages_received));
  out.add("troupe_remote_bytes_sent_total", counter, "Bytes written to other nodes", static_cast<double>(t.bytes_sent));
  out.add("troupe_remote_bytes_received_total", counter, "Bytes read from other nodes",
          static_cast<double>(t.bytes_received));
  const std::pair<const char*, std::uint64_t> drops[] = {{"queue_full", t.dropped_queue_full},
                                                         {"unserializable", t.dropped_unserializable},
                                                         {"too_large", t.dropped_too_large},
                                                         {"quarantined", t.dropped_quarantined},
                                                         {"blackholed", t.dropped_blackholed},
                                                         {"decode_failure", t.decode_failures}};
  for (const auto& [reason, n] : drops) {
    out.add("troupe_remote_dropped_total", counter, "Messages dropped (to dead letters), by reason",
            static_cast<double>(n), {{"reason", reason}});
  }
  out.add("troupe_remote_quarantines_total", counter, "Node incarnations quarantined",
          static_cast<double>(t.quarantines));
  out.add("troupe_remote_frames_written_by_senders_total", counter,
          "Frames a sending thread wrote to an idle connection itself, without the I/O thread",
          static_cast<double>(t.frames_written_by_senders));
  out.add("troupe_remote_socket_writes_total", counter,
          "Writes to sockets (a batch of frames each, or one frame a sender wrote itself)",
          static_cast<double>(t.socket_writes));
  out.add("troupe_remote_handshake_failures_total", counter,
          "Connections closed for malformed frames or a failed handshake",
          static_cast<double>(t.connections_closed_bad_input));
  out.add("troupe_remote_connections_refused_total", counter, "Connections refused over max-pending-handshakes",
          static_cast<double>(t.connections_refused));
  out.add("troupe_remote_accept_failures_total", counter, "Incoming connections that could not be accepted",
          static_cast<double>(t.accept_failures));
  out.add("troupe_remote_system_messages_resent_total", counter, "System messages sent again for lack of an ack",
          static_cast<double>(t.system_messages_resent));
  out.add("troupe_remote_connected_peers", gauge, "Nodes with a live connection",
          static_cast<double>(transport.connected_peer_count()));
  for (const auto& p : transport.peer_stats()) {
    const auto peer = remote::to_string(p.node);
    for (std::size_t i = 0; i < p.messages_sent_by_lane.size(); ++i) {
      const metrics_text::labels by_lane{{"peer", peer}, {"lane", lanes[i]}};
      out.add("troupe_remote_peer_messages_sent_total", counter, "Messages written to one peer, by lane",
              static_cast<double>(p.messages_sent_by_lane[i]), by_lane);
      out.add("troupe_remote_outbound_queue_messages", gauge, "Messages waiting in a peer's outbound queue, by lane",
              static_cast<double>(p.queued_messages_by_lane[i]), by_lane);
      out.add("troupe_remote_outbound_queue_dropped_total", counter,
              "Messages dropped for a full outbound queue, by peer and lane",
              static_cast<double>(p.dropped_queue_full_by_lane[i]), by_lane);
    }
    const metrics_text::labels of_peer{{"peer", peer}};
    out.add("troupe_remote_outbound_queue_bytes", gauge, "Bytes waiting in a peer's outbound queues",
            static_cast<double>(p.queued_bytes), of_peer);
    out.add("troupe_remote_peer_messages_received_total", counter, "Messages from one peer delivered here",
            static_cast<double>(p.messages_received), of_peer);
    out.add("troupe_remote_peer_bytes_sent_total", counter, "Bytes written to one peer",
            static_cast<double>(p.bytes_sent), of_peer);
    out.add("troupe_remote_peer_bytes_received_total", counter, "Bytes read from one peer after its handshake",
            static_cast<double>(p.bytes_received), of_peer);
    out.add("troupe_remote_peer_connected", gauge, "1 while a handshake with the peer's incarnation holds",
            p.connected ? 1 : 0, of_peer);
  }
  // 3. The membership, as this node sees it.
  std::map<std::string, std::function<void(metrics_text&)>> later;
  cluster_stats st;
  model::gossip g;
  model::unique_address self;
  {
    std::lock_guard lock(shared_->mutex);
    st = shared_->stats;
    g = shared_->latest;
    self = shared_->self;
    later = shared_->metrics;
  }
  std::map<std::string, int> by_status;
  for (auto s : {member_status::joining, member_status::weakly_up, member_status::up, member_status::leaving,
                 member_status::exiting, member_status::down, member_status::removed,
                 member_status::preparing_for_shutdown, member_status::ready_for_shutdown}) {
    by_status[akka_status_name(s)] = 0;
  }
  for (const auto& m : g.members()) ++by_status[akka_status_name(m.status())];
  for (const auto& [status, n] : by_status) {
    out.add("troupe_cluster_members", gauge, "Members by status", n, {{"status", status}});
  }
  std::size_t unreachable = 0;
  for (const auto& m : g.members()) unreachable += g.reachability().is_reachable(m.unique_address()) ? 0 : 1;
  out.add("troupe_cluster_unreachable_members", gauge, "Members some node observes as unreachable",
          static_cast<double>(unreachable));
  const auto leader = snapshot_of(g, self).leader;
  out.add("troupe_cluster_is_leader", gauge, "1 while this node is the leader",
          leader && *leader == self.address ? 1 : 0);
  out.add("troupe_cluster_converged", gauge, "1 while this node's view has convergence", st.converged ? 1 : 0);
  out.add("troupe_cluster_leader_changes_total", counter, "Leader changes seen", static_cast<double>(st.leader_changes));
  out.add("troupe_cluster_gossip_sent_total", counter, "Full gossips sent", static_cast<double>(st.gossip_sent));
  out.add("troupe_cluster_gossip_status_sent_total", counter, "Gossip version digests sent",
          static_cast<double>(st.gossip_status_sent));
  out.add("troupe_cluster_gossip_received_total", counter, "Gossips received", static_cast<double>(st.gossip_received));
  out.add("troupe_cluster_heartbeats_sent_total", counter, "Heartbeats sent", static_cast<double>(st.heartbeats_sent));
  out.add("troupe_cluster_rejected_messages_total", counter, "Cluster messages rejected as malformed or misdirected",
          static_cast<double>(st.rejected_messages));
  out.add("troupe_cluster_view_changes_total", counter, "Changes of this node's membership view",
          static_cast<double>(st.view_changes));
  // 4. Later layers.
  for (const auto& [name, writer] : later) writer(out);
  return out.text();
}

void cluster::subscribe(const actor_ref& subscriber, std::uint32_t kinds) {
  if (auto d = daemon_of(*shared_)) d.tell(subscribe_cmd{subscriber, kinds});
}
void cluster::unsubscribe(const actor_ref& subscriber) {
  if (auto d = daemon_of(*shared_)) d.tell(unsubscribe_cmd{subscriber});
}

std::uint64_t cluster::add_listener(std::function<void(const cluster_event&)> fn) {
  std::lock_guard lock(shared_->mutex);
  const auto token = shared_->next_token++;
  shared_->listeners.emplace(token, std::move(fn));
  return token;
}

void cluster::remove_listener(std::uint64_t token) {
  std::lock_guard lock(shared_->mutex);
  shared_->listeners.erase(token);
}

void cluster::register_on_member_up(std::function<void()> fn) {
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->up_reached) {
      shared_->on_up.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void cluster::add_management_route(std::string prefix,
                                   std::function<management_response(const management_request&)> handler) {
  std::lock_guard lock(shared_->mutex);
  shared_->routes[std::move(prefix)] = std::move(handler);
}

std::optional<management_response> cluster::route_added(const management_request& request) const {
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  std::function<management_response(const management_request&)> handler;
  {
    std::lock_guard lock(shared_->mutex);
    for (const auto& [prefix, fn] : shared_->routes)
      if (path.starts_with(prefix)) handler = fn;
  }
  if (!handler) return std::nullopt;
  if (request.method != "GET")
    return management_response{405, R"({"message":"Method not allowed"})", "GET", {}};
  return handler(request);
}

void cluster::register_on_member_removed(std::function<void()> fn) {
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->terminated) {
      shared_->on_removed.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

}  // namespace troupe::cluster
