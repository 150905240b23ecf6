#include "internal/transport_core.hpp"

#include <algorithm>
#include <cstring>
#include <random>

#include <openssl/rand.h>
#include <sys/socket.h>

#include "internal/connection.hpp"
#include "troupe/actor/delivery_batch.hpp"
#include "troupe/actor/messages.hpp"

namespace troupe::remote::detail {

namespace {

constexpr std::size_t control_lane = static_cast<std::size_t>(wire::lane::control);
constexpr std::size_t ordinary_lane = static_cast<std::size_t>(wire::lane::ordinary);
constexpr std::size_t large_lane = static_cast<std::size_t>(wire::lane::large);
// Below this, a cookie is short enough to guess offline from one recorded handshake.
constexpr std::size_t min_strong_cookie_size = 16;

std::uint64_t random_uid() {
  std::uint64_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) v = std::random_device{}();
  }
  return v;
}

/// The path part of a local ref's path: "troupe://sys/user/a" -> "/user/a".
std::string strip_system(const std::string& full) {
  constexpr std::string_view scheme = "troupe://";
  if (full.compare(0, scheme.size(), scheme) != 0) return full;
  const auto slash = full.find('/', scheme.size());
  return slash == std::string::npos ? std::string("/") : full.substr(slash);
}

/// A one-entry cache per thread of the last local sender's path (senders repeat).
struct sender_path_cache {
  const ref_target* target = nullptr;
  std::uint64_t uid = 0;
  std::string path;
};
thread_local sender_path_cache last_sender;

/// A string or byte buffer as it came off the wire, up to `capacity` bytes, turned into its
/// value by the receiving actor's thread (see `deferred_envelope`): the I/O thread then
/// copies the bytes once into an envelope from the runtime's arena instead of allocating
/// the value with malloc for a worker to free.
template <class T, std::size_t capacity>
struct wire_value final : deferred_envelope {
  std::uint32_t size;
  std::uint8_t bytes[capacity];

  explicit wire_value(std::span<const std::uint8_t> b) noexcept : size(static_cast<std::uint32_t>(b.size())) {
    std::memcpy(bytes, b.data(), b.size());
  }
  envelope* materialize() override {
    auto* e = new typed_envelope<T>(bytes, bytes + size);
    e->sender = std::move(sender);
    return e;
  }
};

template <class T>
envelope* deferred_value(std::span<const std::uint8_t> b) {
  // Two sizes, so a short string does not take a 500-byte block; larger values are decoded
  // by the I/O thread as before (their copy costs more than the allocation).
  if (b.size() <= 100) return new wire_value<T, 100>(b);
  if (b.size() <= 480) return new wire_value<T, 480>(b);
  return nullptr;
}

/// A deferred envelope for a built-in string or byte-buffer payload, or nullptr. Serializer
/// ids below 100 are troupe's, and the registry refuses a second type for an id and
/// manifest, so (string, "s") and (bytes, "b") always mean these two types.
envelope* deferred_for(const wire::envelope& e) {
  if (e.serializer == serializer_id::string && e.manifest == "s") return deferred_value<std::string>(e.payload);
  if (e.serializer == serializer_id::bytes && e.manifest == "b") return deferred_value<bytes>(e.payload);
  return nullptr;
}

/// The buffer a sender encodes a payload into: the one its thread keeps, or a fresh one when
/// that is in use further up the stack (an encoder that sends a remote message itself).
class payload_scratch {
 public:
  payload_scratch() noexcept : owns_(!in_use_) {
    in_use_ = true;
    if (owns_) kept_.clear();
  }
  ~payload_scratch() {
    if (owns_) in_use_ = false;
  }
  payload_scratch(const payload_scratch&) = delete;
  payload_scratch& operator=(const payload_scratch&) = delete;
  wire::byte_buffer& buffer() noexcept { return owns_ ? kept_ : own_; }

 private:
  static thread_local wire::byte_buffer kept_;
  static thread_local bool in_use_;
  bool owns_;
  wire::byte_buffer own_;
};
thread_local wire::byte_buffer payload_scratch::kept_;
thread_local bool payload_scratch::in_use_ = false;

/// The envelope of a serialized message to `to` (views into both; no sender, no seq yet).
wire::envelope envelope_to(const remote_ref& to, encoded_as as, std::span<const std::uint8_t> payload) {
  wire::envelope e;
  e.recipient_path = to.local_path();
  e.recipient_uid = to.uid();
  e.serializer = as.serializer;
  e.manifest = as.manifest;
  e.payload = payload;
  return e;
}

/// What a ref arriving from the network names when nothing lives at its local path (any
/// more): it keeps the path and uid, sends to dead letters and answers a watch at once
/// (Akka's EmptyLocalActorRef), so the watcher's `terminated` names the actor it watched.
class missing_ref final : public ref_target {
 public:
  missing_ref(actor_system& system, std::string uri, std::uint64_t uid)
      : ref_target(uid), dead_letters_(system.dead_letters()), uri_(std::move(uri)) {}
  void enqueue(envelope* e) noexcept override { dead_letters_.get()->enqueue(e); }
  void enqueue_system(envelope* e) noexcept override {
    std::unique_ptr<envelope> owned(e);
    if (e->type == type_id_of<sys::watch>()) {
      auto& w = *static_cast<sys::watch*>(e->payload());
      if (w.watcher) {
        w.watcher.get()->enqueue_system(new typed_envelope<sys::death_watch_notification>(
            sys::death_watch_notification{actor_ref::share(this), false, false}));
      }
    }
  }
  std::string path() const override { return uri_; }
  std::string name() const override { return uri_.substr(uri_.rfind('/') + 1); }
  bool is_terminated() const noexcept override { return true; }

 private:
  actor_ref dead_letters_;
  std::string uri_;
};

}  // namespace

// ---- association ----------------------------------------------------------------------

association::association(transport_core& c, address p)
    : core(c), peer(std::move(p)), peer_uri(to_string(peer)) {
  for (auto& l : lanes) l.retry_timer = std::make_unique<asio::steady_timer>(c.io());
}

// ---- remote_ref -----------------------------------------------------------------------

remote_ref::remote_ref(std::shared_ptr<transport_core> core, std::shared_ptr<association> a, std::string path,
                       std::uint64_t uid)
    : ref_target(uid), core_(std::move(core)), assoc_(std::move(a)), path_(std::move(path)) {}

std::string remote_ref::name() const {
  const auto slash = path_.rfind('/');
  return slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

bool remote_ref::same_actor(const ref_target& other) const noexcept {
  if (this == &other) return true;
  const auto* o = dynamic_cast<const remote_ref*>(&other);
  return o && o->uid() == uid() && o->assoc_ == assoc_ && o->path_ == path_;
}

void remote_ref::enqueue(envelope* e) noexcept { core_->send_user(*this, e); }

void remote_ref::enqueue_system(envelope* e) noexcept {
  // Remember local watchers of this remote actor, to tell them when its node is lost.
  if (e->type == type_id_of<sys::watch>() || e->type == type_id_of<sys::unwatch>()) {
    const bool add = e->type == type_id_of<sys::watch>();
    const auto& watchee = add ? static_cast<sys::watch*>(e->payload())->watchee
                              : static_cast<sys::unwatch*>(e->payload())->watchee;
    const auto& watcher = add ? static_cast<sys::watch*>(e->payload())->watcher
                              : static_cast<sys::unwatch*>(e->payload())->watcher;
    if (watchee.get() == this && watcher && watcher.get()->is_local()) {
      std::lock_guard lock(assoc_->watch_mutex);
      auto it = std::find_if(assoc_->watching.begin(), assoc_->watching.end(),
                             [&](const auto& w) { return w.first == watchee; });
      if (add) {
        if (it == assoc_->watching.end()) {
          assoc_->watching.emplace_back(watchee, std::vector<actor_ref>{});
          it = std::prev(assoc_->watching.end());
        }
        if (std::find(it->second.begin(), it->second.end(), watcher) == it->second.end()) {
          it->second.push_back(watcher);
        }
      } else if (it != assoc_->watching.end()) {
        std::erase(it->second, watcher);
        if (it->second.empty()) assoc_->watching.erase(it);
      }
    }
  }
  core_->send_system(*this, e);
}

// ---- transport_core -------------------------------------------------------------------

transport_core::transport_core(actor_system& system, remote_settings settings,
                               std::shared_ptr<remote::serialization> registry)
    : system_(system), settings_(std::move(settings)), serialization_(std::move(registry)), uid_(random_uid()) {
  codec_.to_wire = [this](const actor_ref& r) -> std::pair<std::string, std::uint64_t> {
    return {uri_of(r), r.uid()};
  };
  codec_.from_wire = [this](const std::string& uri, std::uint64_t uid) -> actor_ref {
    if (auto r = ref_for(uri, uid)) return *r;
    if (parse_actor_uri(uri)) return actor_ref::adopt(new missing_ref(system_, uri, uid));
    return system_.dead_letters();
  };
}

transport_core::~transport_core() = default;

wire::nonce transport_core::fresh_nonce() {
  wire::nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) {
    std::random_device rd;
    for (auto& b : n) b = static_cast<std::uint8_t>(rd());
  }
  return n;
}

expected<address, std::string> transport_core::start() {
  // Authentication is not optional by accident: a node without a cookie (and without TLS,
  // whose certificates authenticate peers) lets anyone who reaches its port join the
  // cluster, send to any actor and have members removed.
  if (settings_.cookie.empty() && !settings_.tls.enabled && !settings_.insecure) {
    return unexpected<std::string>{
        "cookie: expected a shared secret (32 or more random characters, the same on every node), "
        "or tls.enabled, or \"insecure\": true to run without authentication"};
  }
  if (settings_.tls.enabled) {
    // Mutual authentication: each side presents its certificate and checks the other's
    // against the configured CA (no host name check: nodes are addressed by IP).
    tls_.emplace(asio::ssl::context::tls);
    boost::system::error_code tls_error;
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1,
                      tls_error);
    auto load = [&](const char* key, const std::string& file, auto&& fn) -> std::optional<std::string> {
      fn(tls_error);
      if (!tls_error) return std::nullopt;
      return std::string("tls.") + key + ": cannot use \"" + file + "\": " + tls_error.message();
    };
    std::optional<std::string> bad =
        load("certificate", settings_.tls.certificate,
             [&](auto& e) { tls_->use_certificate_chain_file(settings_.tls.certificate, e); });
    if (!bad) {
      bad = load("private-key", settings_.tls.private_key,
                 [&](auto& e) { tls_->use_private_key_file(settings_.tls.private_key, asio::ssl::context::pem, e); });
    }
    if (!bad) bad = load("ca", settings_.tls.ca, [&](auto& e) { tls_->load_verify_file(settings_.tls.ca, e); });
    if (!bad) {
      tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert, tls_error);
    }
    if (bad) {
      tls_.reset();
      return unexpected<std::string>{*bad};
    }
  }
  boost::system::error_code ec;
  bind_address_ = asio::ip::make_address(settings_.host, ec);
  if (ec) {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(settings_.host, "", ec);
    if (ec || results.empty()) {
      return unexpected<std::string>{"host \"" + settings_.host + "\" does not resolve: " + ec.message()};
    }
    bind_address_ = results.begin()->endpoint().address();
  }
  acceptor_.emplace(io_);
  const tcp::endpoint ep(bind_address_, settings_.port);
  acceptor_->open(ep.protocol(), ec);
  if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_->bind(ep, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return unexpected<std::string>{"cannot listen on " + settings_.host + ":" + std::to_string(settings_.port) +
                                   ": " + ec.message()};
  }
  self_ = address{system_.name(), settings_.host, acceptor_->local_endpoint().port()};
  self_uri_ = to_string(self_);
  work_.emplace(io_.get_executor());
  heartbeat_timer_ = std::make_unique<asio::steady_timer>(io_);
  resend_timer_ = std::make_unique<asio::steady_timer>(io_);
  accept_timer_ = std::make_unique<asio::steady_timer>(io_);
  running_.store(true, std::memory_order_release);
  accept_next();
  on_heartbeat_tick();
  on_resend_tick();
  io_thread_ = std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;
      } catch (const std::exception& ex) {
        TROUPE_LOG(log(), error) << "remote I/O handler threw (continuing): " << ex.what();
      }
    }
  });
  TROUPE_LOG(log(), info) << "remoting listening on " << self_uri_ << " (uid " << uid_ << ")";
  if (settings_.insecure) {
    TROUPE_LOG(log(), warning)
        << "remoting on " << self_uri_ << " runs WITHOUT AUTHENTICATION (\"insecure\": true): anyone "
        << "who can connect to port " << self_.port << " can join, send to any actor and have "
        << "members removed. Set a cookie outside tests and demos on one machine.";
  } else if (!settings_.cookie.empty() && settings_.cookie.size() < min_strong_cookie_size) {
    TROUPE_LOG(log(), warning)
        << "remote cookie has " << settings_.cookie.size() << " characters: a host that takes over a "
        << "member's address could guess it offline from one handshake; use "
        << min_strong_cookie_size << " or more random characters (32 recommended)";
  }
  return self_;
}

void transport_core::shutdown() {
  if (shutdown_started_.exchange(true, std::memory_order_acq_rel) || !running()) {
    if (io_thread_.joinable()) io_thread_.join();
    return;
  }
  // Let queued frames go out (up to a second), then close everything and stop the thread.
  auto self = shared_from_this();
  const auto deadline = steady::now() + std::chrono::seconds(1);
  auto drain = std::make_shared<std::function<void()>>();
  auto timer = std::make_shared<asio::steady_timer>(io_);
  *drain = [this, self, deadline, drain, timer] {
    // Busy while a frame waits to be written or a system message to be acked (the death
    // notifications of the actors that just stopped, above all).
    bool busy = false;
    for (auto& a : all_associations()) {
      if (a->current_quarantined.load(std::memory_order_acquire)) continue;
      for (auto& l : a->lanes) {
        std::lock_guard lock(l.mutex);
        if (!l.pending.empty()) busy = true;
      }
      std::lock_guard lock(a->sys_mutex);
      if (!a->unacked.empty()) busy = true;
    }
    if (busy && steady::now() < deadline) {
      timer->expires_after(std::chrono::milliseconds(5));
      timer->async_wait([drain](const boost::system::error_code&) { (*drain)(); });
      return;
    }
    running_.store(false, std::memory_order_release);
    boost::system::error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    heartbeat_timer_->cancel();
    resend_timer_->cancel();
    accept_timer_->cancel();
    for (auto& a : all_associations()) {
      for (auto& l : a->lanes) {
        l.retry_timer->cancel();
        if (auto c = std::move(l.conn)) c->close("", false);
      }
    }
    for (auto c : std::set<std::shared_ptr<connection>>(inbound_)) c->close("", false);
    inbound_.clear();
    recipient_cache_.clear();
    {
      std::lock_guard lock(routers_mutex_);
      routers_.clear();
    }
    found_recipient_ = {};
    found_sender_ = {};  // may be a remote ref, which holds this core: a cycle until cleared
    for (auto& a : all_associations()) a->forget_senders();
    work_.reset();
    *drain = nullptr;  // breaks the cycle
  };
  asio::post(io_, [drain] { (*drain)(); });
  if (io_thread_.joinable()) io_thread_.join();
  {
    std::lock_guard lock(temp_mutex_);
    temp_refs_.clear();
  }
  // Watches and unacked system messages hold refs; drop them with the associations' state.
  for (auto& a : all_associations()) {
    std::vector<std::pair<actor_ref, std::vector<actor_ref>>> w;
    {
      std::lock_guard lock(a->watch_mutex);
      w.swap(a->watching);
    }
    std::lock_guard lock(a->sys_mutex);
    a->unacked.clear();
  }
}

std::vector<std::shared_ptr<association>> transport_core::all_associations() {
  std::lock_guard lock(associations_mutex_);
  std::vector<std::shared_ptr<association>> out;
  out.reserve(associations_.size());
  for (auto& [k, v] : associations_) out.push_back(v);
  return out;
}

std::shared_ptr<association> transport_core::association_for(const address& a) {
  std::lock_guard lock(associations_mutex_);
  auto& slot = associations_[a];
  if (!slot) slot = std::make_shared<association>(*this, a);
  return slot;
}

bool transport_core::local_address_is(const address& a) const {
  return a.port == self_.port && a.system == self_.system &&
         (a.host == self_.host || a.host == bind_address_.to_string());
}

std::optional<actor_ref> transport_core::ref_for(std::string_view uri, std::uint64_t uid) {
  auto parsed = parse_actor_uri(uri);
  if (!parsed) return std::nullopt;
  if (local_address_is(parsed->address)) {
    if (parsed->path.rfind("/temp/", 0) == 0) {
      std::lock_guard lock(temp_mutex_);
      auto it = temp_refs_.find(static_cast<std::uint32_t>(uid));
      if (it != temp_refs_.end()) return it->second;
      return std::nullopt;
    }
    auto r = system_.resolve(parsed->path);
    if (r && uid != 0 && r->uid() != static_cast<std::uint32_t>(uid)) return std::nullopt;
    return r;
  }
  auto a = association_for(parsed->address);
  return actor_ref::adopt(new remote_ref(shared_from_this(), std::move(a), std::move(parsed->path), uid));
}

std::string transport_core::local_path_of(const actor_ref& r) {
  std::string p = strip_system(r.path());
  if (p.rfind("/user", 0) != 0 && p.rfind("/system", 0) != 0) {
    // Not reachable by path (an ask's temporary ref, dead letters): found by uid instead.
    // Uids are random 32-bit numbers: at tens of thousands of asks a second a new ask
    // meets the uid of one that finished but is not purged yet, and the newest holds it.
    std::lock_guard lock(temp_mutex_);
    auto [it, added] = temp_refs_.try_emplace(static_cast<std::uint32_t>(r.uid()), r);
    if (!added && it->second != r) it->second = r;
  }
  return p;
}

std::string transport_core::uri_of(const actor_ref& r) {
  if (!r) return "";
  if (!r.get()->is_local()) {
    if (auto* rr = dynamic_cast<remote_ref*>(r.get())) return rr->path();
    return r.path();
  }
  return self_uri_ + local_path_of(r);
}

void transport_core::warn(const std::string& text) {
  const auto now = steady::now();
  std::uint64_t suppressed = 0;
  {
    std::lock_guard lock(warn_mutex_);
    if (now - warn_window_ >= std::chrono::seconds(1)) {
      suppressed = warn_suppressed_;
      warn_suppressed_ = 0;
      warn_window_ = now;
      warned_in_window_ = 0;
    }
    if (++warned_in_window_ > 10) {
      ++warn_suppressed_;
      return;
    }
  }
  if (suppressed) {
    TROUPE_LOG(log(), warning) << "remoting: " << suppressed << " more warnings suppressed";
  }
  TROUPE_LOG(log(), warning) << "remoting: " << text;
}

void transport_core::dead_letter(message m, const actor_ref& recipient, const char* reason) {
  if (!m) return;
  system_.publish_dead_letter(std::move(m), recipient, reason);
}

// ---- sending (any thread) -------------------------------------------------------------

void transport_core::enqueue_frame(association& a, std::size_t lane_index, const wire::byte_buffer& frame,
                                   message* for_dead_letter, const actor_ref& recipient) {
  auto& lane = a.lanes[lane_index];
  bool post = false;
  bool owe = false;
  {
    std::lock_guard lock(lane.mutex);
    if (lane.pending_messages >= settings_.outbound_queue_size && for_dead_letter) {
      stats.dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
      add_single_writer(a.traffic.dropped_queue_full[lane_index], 1);
    } else {
      for_dead_letter = nullptr;
      const std::size_t written = lane.direct_fd >= 0 && lane.pending.empty() ? write_directly(a, lane_index, frame) : 0;
      if (written == frame.size()) return;
      if (written > 0) lane.partial_front = frame.size() - written;  // (`pending` was empty)
      lane.pending.insert(lane.pending.end(), frame.begin() + static_cast<std::ptrdiff_t>(written), frame.end());
      ++lane.pending_messages;
      if (!lane.kick_posted) {
        if (lane.kick_owed_by == nullptr && in_actor_turn()) {
          lane.kick_owed_by = turn_token();
          owe = true;
        } else if (lane.kick_owed_by != turn_token() || lane.pending.size() >= eager_kick_bytes) {
          lane.kick_posted = true;
          post = true;
        }
      }
    }
  }
  if (for_dead_letter) {
    dead_letter(std::move(*for_dead_letter), recipient, "outbound queue to the remote node is full");
    return;
  }
  if (owe) owe_kick(association_for(a.peer), lane_index);
  if (post) post_kick(association_for(a.peer), lane_index);
}

// Inside an actor turn, the I/O thread is told once the turn ends (or once a burst fills
// `eager_kick_bytes`): whatever else the turn sends on the lane meanwhile (a region
// forwarding a mailbox's worth, one message per handler) goes in the same write, where a
// kick per message woke the I/O thread every few messages.
namespace {
struct owed_kick {
  std::shared_ptr<transport_core> core;
  std::shared_ptr<association> assoc;
  std::size_t lane;
};
thread_local std::vector<owed_kick> tls_owed_kicks;  // what this thread's turn owes
thread_local const char tls_turn_token = 0;          // its address tells threads apart
}  // namespace

bool transport_core::in_actor_turn() noexcept { return troupe::detail::current_actor() != nullptr; }
const void* transport_core::turn_token() noexcept { return &tls_turn_token; }

void transport_core::owe_kick(std::shared_ptr<association> a, std::size_t lane_index) {
  if (!tls_owed_kicks.empty() || at_turn_end(&transport_core::pay_owed_kicks, nullptr)) {
    tls_owed_kicks.push_back({shared_from_this(), std::move(a), lane_index});
    return;
  }
  // Not a turn after all (cannot happen: in_actor_turn said so): pay now.
  pay_kick(*a, lane_index);
}

void transport_core::pay_kick(association& a, std::size_t lane_index) {
  auto& lane = a.lanes[lane_index];
  bool post = false;
  {
    std::lock_guard lock(lane.mutex);
    if (lane.kick_owed_by == turn_token()) lane.kick_owed_by = nullptr;
    post = !lane.kick_posted && (!lane.pending.empty() || lane.partial_front != 0);
    if (post) lane.kick_posted = true;
  }
  if (post) post_kick(association_for(a.peer), lane_index);
}

void transport_core::pay_owed_kicks(void*) {
  auto owed = std::move(tls_owed_kicks);
  tls_owed_kicks.clear();
  for (auto& k : owed) k.core->pay_kick(*k.assoc, k.lane);
}

void transport_core::post_kick(std::shared_ptr<association> a, std::size_t lane_index) {
  asio::post(io_, [this, keep = std::move(a), lane_index] { kick_lane(*keep, lane_index); });
}

void transport_core::count_sent(association* a, std::size_t lane_index, std::size_t bytes, std::size_t messages) {
  if (bytes == 0 && messages == 0) return;
  stats.socket_writes.fetch_add(1, std::memory_order_relaxed);
  stats.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
  stats.messages_sent.fetch_add(messages, std::memory_order_relaxed);
  stats.messages_sent_by_lane[lane_index].fetch_add(messages, std::memory_order_relaxed);
  if (a) {
    a->traffic.bytes_sent.fetch_add(bytes, std::memory_order_relaxed);
    a->traffic.messages_sent[lane_index].fetch_add(messages, std::memory_order_relaxed);
  }
}

std::size_t transport_core::write_directly(association& a, std::size_t lane_index, const wire::byte_buffer& frame) {
  // An idle lane: the sender writes its frame to the socket itself, which spares a wake-up
  // of the I/O thread on each side of a round trip. Under the lane's mutex, so the I/O
  // thread neither writes nor closes the socket meanwhile. At most one per quiet spell:
  // a stream goes through the I/O thread, a write for many frames.
  auto& lane = a.lanes[lane_index];
  const auto now = steady::now();
  if (now < lane.next_direct) return 0;
  lane.next_direct = now + direct_write_spacing;
  const ssize_t n = ::send(lane.direct_fd, frame.data(), frame.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  const std::size_t written = n > 0 ? static_cast<std::size_t>(n) : 0;
  const bool whole = written == frame.size();
  count_sent(&a, lane_index, written, whole ? 1 : 0);  // a part's message is counted with its rest
  if (whole) {
    stats.frames_written_by_senders.fetch_add(1, std::memory_order_relaxed);
    return written;
  }
  // Part of it, or none (the socket's buffer is full, or it failed: the I/O thread's own
  // write will see why): the rest goes first in the lane, and the I/O thread takes over.
  lane.direct_fd = -1;
  return written;
}

void transport_core::send_user(remote_ref& to, envelope* e) noexcept {
  message m(e);
  if (!running()) return;  // shut down: the system may be gone, so nothing is reported
  association& a = to.assoc();
  try {
    if (a.drops_send()) {
      stats.dropped_blackholed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (a.current_quarantined.load(std::memory_order_acquire)) {
      stats.dropped_quarantined.fetch_add(1, std::memory_order_relaxed);
      dead_letter(std::move(m), actor_ref::share(&to), "the remote node is quarantined");
      probe_quarantined(a);
      return;
    }
    std::size_t lane = ordinary_lane;
    for (const auto& pattern : settings_.large_message_destinations) {
      if (path_matches(pattern, to.local_path())) lane = large_lane;
    }
    for (const auto& pattern : settings_.control_message_destinations) {
      if (path_matches(pattern, to.local_path())) lane = control_lane;
    }
    ref_codec_scope scope(&codec_);
    // The payload and the frame are built in buffers this thread keeps: nothing is
    // allocated per message once they have grown to the messages' size.
    payload_scratch scratch;
    wire::byte_buffer& payload = scratch.buffer();
    auto s = serialization_->encode_into(m, payload);
    if (!s) {
      stats.dropped_unserializable.fetch_add(1, std::memory_order_relaxed);
      warn("cannot send to " + to.path() + ": " + s.error());
      dead_letter(std::move(m), actor_ref::share(&to), "the message type is not serializable");
      return;
    }
    wire::envelope we = envelope_to(to, *s, payload);
    std::string_view sender_address, sender_path;
    if (const actor_ref& sender = m.sender()) {
      if (sender.get()->is_local()) {
        auto& c = last_sender;
        if (c.target != sender.get() || c.uid != sender.uid()) {
          c.path = local_path_of(sender);
          c.target = sender.get();
          c.uid = sender.uid();
        }
        sender_path = c.path;
      } else if (auto* rr = dynamic_cast<remote_ref*>(sender.get())) {
        sender_address = rr->assoc().peer_uri;
        sender_path = rr->local_path();
      }
      we.sender = wire::sender_ref{sender_address, sender_path, sender.uid()};
    }
    thread_local wire::byte_buffer frame;
    frame.clear();
    const std::size_t limit = lane == large_lane ? settings_.max_large_frame_size : settings_.max_frame_size;
    if (auto too_big = wire::append_envelope_frame(frame, we, limit)) {
      stats.dropped_too_large.fetch_add(1, std::memory_order_relaxed);
      warn("cannot send " + m.type_name() + " to " + to.path() + ": " + too_big->reason());
      dead_letter(std::move(m), actor_ref::share(&to), "the message is larger than the maximum frame size");
      return;
    }
    enqueue_frame(a, lane, frame, &m, actor_ref::share(&to));
  } catch (const std::exception& ex) {
    warn("cannot send to " + to.path() + ": " + ex.what());
    dead_letter(std::move(m), actor_ref::share(&to), "the message could not be sent");
  }
}

void transport_core::send_system(remote_ref& to, envelope* e) noexcept {
  message m(e);
  if (!running()) return;
  association& a = to.assoc();
  try {
    if (a.current_quarantined.load(std::memory_order_acquire)) {
      stats.dropped_quarantined.fetch_add(1, std::memory_order_relaxed);
      // A watch of an actor on a quarantined node is answered at once.
      if (const auto* w = m.get_if<sys::watch>(); w && w->watcher) {
        w->watcher.get()->enqueue_system(
            new typed_envelope<sys::death_watch_notification>(sys::death_watch_notification{w->watchee, true, true}));
      }
      return;
    }
    ref_codec_scope scope(&codec_);
    wire::byte_buffer payload;
    auto s = serialization_->encode_into(m, payload);
    if (!s) {
      stats.dropped_unserializable.fetch_add(1, std::memory_order_relaxed);
      warn("cannot send system message to " + to.path() + ": " + s.error());
      return;
    }
    wire::envelope we = envelope_to(to, *s, payload);
    std::lock_guard lock(a.sys_mutex);
    we.seq = a.next_seq++;
    wire::byte_buffer frame;
    if (auto too_big = wire::append_envelope_frame(frame, we, settings_.max_frame_size)) {
      warn("cannot send system message to " + to.path() + ": " + too_big->reason());
      --a.next_seq;
      return;
    }
    const auto now = steady::now();
    a.unacked.push_back(unacked_system_message{*we.seq, frame, now, now});
    if (!a.drops_send()) enqueue_frame(a, control_lane, frame, nullptr);
  } catch (const std::exception& ex) {
    warn("cannot send system message to " + to.path() + ": " + ex.what());
  }
}

void transport_core::probe_quarantined(association& a) {
  const std::int64_t now = steady::now().time_since_epoch().count();
  const std::int64_t every =
      std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.reconnect_backoff_max).count();
  std::int64_t last = a.last_probe.load(std::memory_order_relaxed);
  if (now - last < every || !a.last_probe.compare_exchange_strong(last, now)) return;
  auto keep = association_for(a.peer);
  asio::post(io_, [this, keep] {
    if (!keep->lanes[control_lane].retry_scheduled) connect_lane(keep, control_lane);
  });
}

void transport_core::send_control(association& a, const wire::control_message& m) {
  if (a.drops_send()) {
    stats.dropped_blackholed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  wire::byte_buffer frame;
  (void)wire::append_control_frame(frame, m);
  enqueue_frame(a, control_lane, frame, nullptr);
}

// ---- the I/O thread -------------------------------------------------------------------

namespace {
/// Errors that last as long as the process (or the machine) is short of descriptors or
/// memory, while the connection that asked waits in the listen backlog.
bool out_of_resources(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}
constexpr std::chrono::milliseconds first_accept_pause{10};
constexpr std::chrono::milliseconds longest_accept_pause{1000};
}  // namespace

void transport_core::accept_next() {
  acceptor_->async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (!running_.load(std::memory_order_acquire) || ec == asio::error::operation_aborted) return;
    if (!ec) {
      if (accept_pause_.count() != 0) {
        TROUPE_LOG(log(), info) << "remoting: accepting connections again, after " << accepts_failed_in_row_
                                << " failed attempts";
        accept_pause_ = {};
        accepts_failed_in_row_ = 0;
      }
      boost::system::error_code peer_error;
      const auto peer = socket.remote_endpoint(peer_error);
      if (peer_error) {  // reset before we got to it
        accept_next();
        return;
      }
      auto c = std::make_shared<connection>(*this, std::move(socket));
      if (admit_pending(*c, peer.address())) {
        inbound_.insert(c);
        c->start_accept();
      } else {
        c->close("", false);
      }
      accept_next();
      return;
    }
    stats.accept_failures.fetch_add(1, std::memory_order_relaxed);
    if (!out_of_resources(ec)) {  // one connection's trouble (it was reset meanwhile, say)
      warn(std::string("accept failed: ") + ec.message());
      accept_next();
      return;
    }
    // Out of descriptors, the next accept fails at once again: retrying at once spun a
    // core for as long as it lasted. Pause instead, 10 ms doubling to a second, and say
    // so once.
    ++accepts_failed_in_row_;
    if (accept_pause_.count() == 0) {
      accept_pause_ = first_accept_pause;
      TROUPE_LOG(log(), warning) << "remoting: cannot accept connections: " << ec.message()
                                 << " (the limit of open files, ulimit -n, is too low for this node's "
                                    "connections); retrying in "
                                 << first_accept_pause.count() << " ms, then less often, up to every "
                                 << longest_accept_pause.count() << " ms";
    } else {
      accept_pause_ = std::min(accept_pause_ * 2, longest_accept_pause);
    }
    accept_timer_->expires_after(accept_pause_);
    accept_timer_->async_wait([this](const boost::system::error_code& e) {
      if (e || !running_.load(std::memory_order_acquire)) return;
      accept_next();
    });
  });
}

bool transport_core::admit_pending(const connection& c, const asio::ip::address& host) {
  std::size_t& from_host = pending_by_host_[host];
  const char* limit = pending_handshakes_.size() >= settings_.max_pending_handshakes ? "max-pending-handshakes"
                      : from_host >= settings_.max_pending_handshakes_per_host   ? "max-pending-handshakes-per-host"
                                                                                  : nullptr;
  if (limit) {
    if (from_host == 0) pending_by_host_.erase(host);
    stats.connections_refused.fetch_add(1, std::memory_order_relaxed);
    warn("refusing a connection from " + host.to_string() + ": " + std::to_string(pending_handshakes_.size()) +
         " connections (" + std::to_string(from_host) + " from that host) have not finished their handshake (" +
         limit + ")");
    return false;
  }
  ++from_host;
  pending_handshakes_.emplace(&c, host);
  return true;
}

void transport_core::handshake_over(const connection& c) {
  const auto it = pending_handshakes_.find(&c);
  if (it == pending_handshakes_.end()) return;
  const auto by_host = pending_by_host_.find(it->second);
  if (by_host != pending_by_host_.end() && --by_host->second == 0) pending_by_host_.erase(by_host);
  pending_handshakes_.erase(it);
}

void transport_core::kick_lane(association& a, std::size_t lane_index) {
  auto& lane = a.lanes[lane_index];
  {
    std::lock_guard lock(lane.mutex);
    lane.kick_posted = false;
  }
  if (!running_.load(std::memory_order_acquire)) return;
  if (lane.conn) {
    lane.conn->kick();
    return;
  }
  if (!lane.retry_scheduled) connect_lane(association_for(a.peer), lane_index);
}

void transport_core::connect_lane(const std::shared_ptr<association>& a, std::size_t lane_index) {
  auto& lane = a->lanes[lane_index];
  if (lane.conn || !running_.load(std::memory_order_acquire)) return;
  boost::system::error_code ec;
  auto peer_ip = asio::ip::make_address(a->peer.host, ec);
  if (ec) {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(a->peer.host, std::to_string(a->peer.port), ec);
    if (ec || results.empty()) {
      warn("cannot resolve " + a->peer.host + ": " + ec.message());
      schedule_retry(a, lane_index);
      return;
    }
    peer_ip = results.begin()->endpoint().address();
  }
  lane.conn = std::make_shared<connection>(*this, a, lane_index);
  lane.conn->start_connect(tcp::endpoint(peer_ip, a->peer.port), bind_address_);
}

void transport_core::schedule_retry(const std::shared_ptr<association>& a, std::size_t lane_index) {
  auto& lane = a->lanes[lane_index];
  if (lane.retry_scheduled || !running_.load(std::memory_order_acquire)) return;
  lane.backoff = lane.backoff.count() == 0 ? settings_.reconnect_backoff_min
                                           : std::min(lane.backoff * 2, settings_.reconnect_backoff_max);
  lane.retry_scheduled = true;
  lane.retry_timer->expires_after(lane.backoff);
  lane.retry_timer->async_wait([this, a, lane_index](const boost::system::error_code& ec) {
    auto& l = a->lanes[lane_index];
    l.retry_scheduled = false;
    if (ec || !running_.load(std::memory_order_acquire)) return;
    bool wanted;
    {
      std::lock_guard lock(l.mutex);
      wanted = !l.pending.empty();
    }
    if (lane_index == control_lane) {
      std::lock_guard lock(a->sys_mutex);
      wanted = wanted || !a->unacked.empty();
    }
    if (wanted) connect_lane(a, lane_index);
  });
}

void transport_core::on_outbound_established(connection& c, association& a, std::size_t lane_index,
                                             std::uint64_t peer_uid) {
  std::uint64_t old_uid = 0;
  bool refused = false;
  {
    std::lock_guard lock(a.state_mutex);
    if (a.quarantined_uids.count(peer_uid)) {
      refused = true;
    } else {
      if (a.peer_uid != 0 && a.peer_uid != peer_uid) old_uid = a.peer_uid;
      a.peer_uid = peer_uid;
      a.current_quarantined.store(false, std::memory_order_release);
    }
  }
  if (refused) {
    wire::byte_buffer frame;
    (void)wire::append_control_frame(
        frame, wire::quarantined{{self_, uid_}, {a.peer, peer_uid}});
    c.write_frame(frame);
    c.close("the peer incarnation is quarantined", false, true);
    return;
  }
  if (a.unverified_uid != 0) {
    if (a.unverified_uid != peer_uid) {
      warn("an inbound connection claimed " + a.peer_uri + " restarted as #" +
           std::to_string(a.unverified_uid) + ", but the address answers this node as #" +
           std::to_string(peer_uid) + ": the claim was forged or stale");
    }
    a.unverified_uid = 0;
  }
  if (old_uid != 0) quarantine(a, old_uid, "the node restarted with a new uid");
  a.lanes[lane_index].backoff = std::chrono::milliseconds(0);
  if (!a.reported_connected || a.reported_uid != peer_uid) {
    a.reported_connected = true;
    a.reported_uid = peer_uid;
    TROUPE_LOG(log(), info) << "remoting: associated with " << a.peer_uri << '#' << peer_uid;
    system_.events().publish(association_event{association_event::kind::connected, a.peer, peer_uid});
  }
  if (lane_index == control_lane) resend_unacked(a, true);
}

void transport_core::on_outbound_closed(connection& c, association& a, std::size_t lane_index) {
  auto& lane = a.lanes[lane_index];
  if (lane.conn.get() != &c) return;
  auto keep = association_for(a.peer);
  lane.conn.reset();
  if (!running_.load(std::memory_order_acquire)) return;
  bool wanted;
  {
    std::lock_guard lock(lane.mutex);
    wanted = !lane.pending.empty();
  }
  if (lane_index == control_lane) {
    std::lock_guard lock(a.sys_mutex);
    wanted = wanted || !a.unacked.empty();
  }
  // A pending claim of a new incarnation is settled by dialling the address again.
  if (wanted || !c.established() || (lane_index == control_lane && a.unverified_uid != 0)) {
    schedule_retry(keep, lane_index);
  }
}

bool transport_core::on_inbound_established(connection& c, const wire::handshake_peer& peer,
                                            std::shared_ptr<association>& out) {
  handshake_over(c);
  const address& from = peer.node.address;
  auto a = association_for(from);
  std::uint64_t old_uid = 0;
  std::uint64_t known_uid = 0;
  bool refused = false;
  {
    std::lock_guard lock(a->state_mutex);
    if (a->quarantined_uids.count(peer.node.uid)) {
      refused = true;
    } else if (a->peer_uid != 0 && a->peer_uid != peer.node.uid && !a->quarantined_uids.count(a->peer_uid)) {
      // A new incarnation of a live node, claimed by whoever connected: anyone holding the
      // cookie can claim any address. Believing it would quarantine the real node, which
      // then downs itself; so the claim waits for the address itself to confirm it.
      known_uid = a->peer_uid;
    } else {
      if (a->peer_uid != 0 && a->peer_uid != peer.node.uid) old_uid = a->peer_uid;
      a->peer_uid = peer.node.uid;
      a->current_quarantined.store(false, std::memory_order_release);
    }
  }
  if (refused) {
    wire::byte_buffer frame;
    (void)wire::append_control_frame(
        frame, wire::quarantined{{self_, uid_}, peer.node});
    c.write_frame(frame);
    c.close("refused " + to_string(from) + "#" + std::to_string(peer.node.uid) + ": that incarnation is quarantined",
            false, true);
    return false;
  }
  if (known_uid != 0) {
    refuse_unverified_incarnation(c, a, known_uid, peer.node.uid);
    return false;
  }
  if (old_uid != 0) quarantine(*a, old_uid, "the node restarted with a new uid");
  out = std::move(a);
  return true;
}

void transport_core::refuse_unverified_incarnation(connection& c, const std::shared_ptr<association>& a,
                                                   std::uint64_t known_uid, std::uint64_t claimed_uid) {
  stats.unverified_incarnations.fetch_add(1, std::memory_order_relaxed);
  const std::string claim = a->peer_uri + "#" + std::to_string(claimed_uid);
  if (a->unverified_uid != claimed_uid) {
    a->unverified_uid = claimed_uid;
    warn(claim + " says it is a new incarnation of #" + std::to_string(known_uid) +
         "; not believed until this node's own connection to " + a->peer_uri + " is answered as #" +
         std::to_string(claimed_uid));
  }
  // Ask the address itself. A live connection of ours to it is answered by the known
  // incarnation until it breaks; when the node really restarted it breaks soon (its
  // process is gone) and the redial (on_outbound_closed) meets the new one.
  auto& control = a->lanes[control_lane];
  if (!control.conn) connect_lane(a, control_lane);
  c.close("refused " + claim + " until " + a->peer_uri + " confirms that incarnation", false, true);
}

void transport_core::on_inbound_closed(connection& c) {
  handshake_over(c);
  for (auto it = inbound_.begin(); it != inbound_.end(); ++it) {
    if (it->get() == &c) {
      inbound_.erase(it);
      return;
    }
  }
}

void transport_core::route_inbound(const actor_ref& recipient, std::shared_ptr<inbound_router> router) {
  std::lock_guard lock(routers_mutex_);
  if (router) {
    routers_[recipient.get()] = {recipient, std::move(router)};
  } else {
    routers_.erase(recipient.get());
  }
  routers_generation_.fetch_add(1, std::memory_order_release);
}

const actor_ref& transport_core::local_recipient(association&, std::string_view path, std::uint64_t uid,
                                                 inbound_router** router) {
  *router = nullptr;
  if (path.rfind("/temp/", 0) == 0) {
    std::lock_guard lock(temp_mutex_);
    auto it = temp_refs_.find(static_cast<std::uint32_t>(uid));
    found_recipient_ = it == temp_refs_.end() ? actor_ref{} : it->second;
    return found_recipient_;
  }
  if (const auto g = routers_generation_.load(std::memory_order_acquire); g != routers_seen_) {
    recipient_cache_.clear();  // a router came or went: look each recipient's up again
    routers_seen_ = g;
  }
  auto it = recipient_cache_.find(path);
  if (it != recipient_cache_.end() && !it->second.ref.is_terminated()) {
    if (uid == 0 || it->second.ref.uid() == static_cast<std::uint32_t>(uid)) {
      *router = it->second.router.get();
      return it->second.ref;
    }
  }
  found_recipient_ = {};
  auto r = system_.resolve(path);
  if (!r || (uid != 0 && r->uid() != static_cast<std::uint32_t>(uid))) return found_recipient_;
  if (recipient_cache_.size() > 10000) recipient_cache_.clear();
  std::shared_ptr<inbound_router> routed;
  {
    std::lock_guard lock(routers_mutex_);
    if (auto found = routers_.find(r->get()); found != routers_.end()) routed = found->second.second;
  }
  auto& entry = recipient_cache_.insert_or_assign(std::string(path), cached_recipient{std::move(*r), std::move(routed)})
                    .first->second;
  *router = entry.router.get();
  return entry.ref;
}

const actor_ref& transport_core::sender_ref(association& a, const wire::sender_ref& s) {
  if (s.address.empty()) {
    if (const auto* last = a.last_sender; last && last->first.second == s.uid && last->first.first == s.path) {
      return last->second;
    }
    auto it = a.sender_cache.find(path_key{s.path, s.uid});
    if (it == a.sender_cache.end()) {
      if (a.sender_cache.size() > 4096) a.forget_senders();
      auto r = actor_ref::adopt(new remote_ref(shared_from_this(), association_for(a.peer), std::string(s.path), s.uid));
      it = a.sender_cache.emplace(std::pair{std::string(s.path), s.uid}, std::move(r)).first;
    }
    a.last_sender = &*it;
    return it->second;
  }
  std::string uri(s.address);
  uri += s.path;
  found_sender_ = {};
  if (auto r = ref_for(uri, s.uid)) found_sender_ = std::move(*r);
  return found_sender_;
}

void transport_core::on_envelope(connection& c, association& a, std::uint64_t peer_uid, const wire::envelope& e) {
  if (e.is_system()) {
    auto& expected_seq = a.inbound_expected_seq[peer_uid];
    if (expected_seq == 0) expected_seq = 1;
    wire::byte_buffer reply;
    if (*e.seq != expected_seq) {
      // A duplicate (resent before our ack arrived) is acked again; a gap asks for a resend.
      if (*e.seq < expected_seq) {
        (void)wire::append_control_frame(reply, wire::system_ack{expected_seq - 1});
      } else {
        (void)wire::append_control_frame(reply, wire::system_nack{expected_seq - 1});
      }
      c.write_frame(reply);
      return;
    }
    ++expected_seq;
    (void)wire::append_control_frame(reply, wire::system_ack{*e.seq});
    c.write_frame(reply);
  }
  deliver(a, e);
  // Counted once the envelope is in its recipient's mailbox (or dead letters), so a test or
  // an operator that sees the count has its effect ordered before anything it does next.
  stats.messages_received.fetch_add(1, std::memory_order_relaxed);
  add_single_writer(a.traffic.messages_received, 1);
}

void transport_core::deliver(association& a, const wire::envelope& e) {
  inbound_router* router = nullptr;
  const actor_ref& recipient = local_recipient(a, e.recipient_path, e.recipient_uid, &router);
  if (recipient && !router && !e.is_system() && recipient.get()->takes_deferred()) {
    if (envelope* d = deferred_for(e)) {
      if (e.sender) d->sender = sender_ref(a, *e.sender);
      recipient.tell_envelope(d);
      return;
    }
  }
  ref_codec_scope scope(&codec_);
  auto decoded = serialization_->decode(e.serializer, e.manifest, e.payload);
  if (!decoded) {
    stats.decode_failures.fetch_add(1, std::memory_order_relaxed);
    warn("dropping a message from " + a.peer_uri + " to " + std::string(e.recipient_path) + ": " + decoded.error());
    dead_letter(make_message(undecodable_message{a.peer_uri, std::string(e.recipient_path), std::string(e.manifest),
                                                 decoded.error()}),
                recipient, "the message could not be decoded");
    return;
  }
  message m = std::move(*decoded);
  if (e.sender) m.get()->sender = sender_ref(a, *e.sender);
  if (e.is_system()) {
    if (auto* w = m.get_if<sys::watch>(); w && recipient) {
      // The watch is addressed to its watchee. Its own copy of the watchee is decoded after
      // the recipient was found, and if the actor stopped in between, that copy names
      // nobody; the stopped cell would then drop the watch instead of answering it.
      w->watchee = recipient;
    }
    if (const auto* n = m.get_if<sys::death_watch_notification>(); n && recipient) {
      std::lock_guard lock(a.watch_mutex);
      auto it = std::find_if(a.watching.begin(), a.watching.end(), [&](const auto& w) { return w.first == n->actor; });
      if (it != a.watching.end()) {
        std::erase(it->second, recipient);
        if (it->second.empty()) a.watching.erase(it);
      }
    }
    if (recipient) {
      recipient.get()->enqueue_system(m.release());
    } else if (const auto* w = m.get_if<sys::watch>()) {
      // Nothing lives there (any more): the watchee decoded as a missing_ref answers.
      w->watchee.get()->enqueue_system(m.release());
    }
    return;
  }
  if (!recipient) {
    dead_letter(std::move(m), actor_ref{}, "no actor lives at the path the remote sender used");
    return;
  }
  if (router) {
    router->route(recipient, std::move(m));
    return;
  }
  recipient.tell_envelope(m.release());
}

void transport_core::on_control(connection& c, association& a, const wire::control_message& m) {
  if (const auto* hb = std::get_if<wire::heartbeat>(&m)) {
    wire::byte_buffer reply;
    (void)wire::append_control_frame(reply, wire::heartbeat_rsp{hb->seq});
    c.write_frame(reply);
  } else if (std::get_if<wire::heartbeat_rsp>(&m)) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    if (!a.detector) {
      a.detector.emplace(phi_accrual_settings{.threshold = settings_.watch_failure_threshold,
                                              .acceptable_heartbeat_pause = settings_.watch_acceptable_pause,
                                              .first_heartbeat_estimate = settings_.watch_heartbeat_interval});
    }
    a.detector->heartbeat(now);
    a.heartbeat_answered = true;
    const auto t = steady::now();
    if (a.last_heartbeat_answer) {
      const auto gap = static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(t - *a.last_heartbeat_answer).count());
      auto prev = stats.max_heartbeat_gap_us.load(std::memory_order_relaxed);
      while (gap > prev && !stats.max_heartbeat_gap_us.compare_exchange_weak(prev, gap)) {
      }
    }
    a.last_heartbeat_answer = t;
  } else if (const auto* ack = std::get_if<wire::system_ack>(&m)) {
    std::lock_guard lock(a.sys_mutex);
    while (!a.unacked.empty() && a.unacked.front().seq <= ack->seq) a.unacked.pop_front();
  } else if (const auto* nack = std::get_if<wire::system_nack>(&m)) {
    {
      std::lock_guard lock(a.sys_mutex);
      while (!a.unacked.empty() && a.unacked.front().seq <= nack->seq) a.unacked.pop_front();
    }
    resend_unacked(a, true);
  } else if (const auto* q = std::get_if<wire::quarantined>(&m)) {
    if (q->to.uid == uid_) {
      warn(a.peer_uri + "#" + std::to_string(q->from.uid) + " has quarantined this node; it will not talk to it again");
      quarantine(a, q->from.uid, "the peer quarantined this node", true);
    }
  } else if (std::get_if<wire::flush>(&m)) {
    wire::byte_buffer reply;
    (void)wire::append_control_frame(reply, wire::flush_ack{});
    c.write_frame(reply);
  } else if (const auto* u = std::get_if<wire::unknown_control>(&m)) {
    TROUPE_LOG(log(), debug) << "remoting: ignoring control message of unknown kind \"" << u->kind << "\" from "
                             << a.peer_uri;
  }
}

void transport_core::resend_unacked(association& a, bool all) {
  const auto now = steady::now();
  std::vector<wire::byte_buffer> frames;
  {
    std::lock_guard lock(a.sys_mutex);
    for (auto& u : a.unacked) {
      if (all || now - u.last_sent >= settings_.system_message_resend_interval) {
        u.last_sent = now;
        frames.push_back(u.frame);
      }
    }
  }
  for (auto& f : frames) {
    stats.system_messages_resent.fetch_add(1, std::memory_order_relaxed);
    if (a.drops_send()) {
      stats.dropped_blackholed.fetch_add(1, std::memory_order_relaxed);
    } else {
      enqueue_frame(a, control_lane, f, nullptr);
    }
  }
}

void transport_core::on_resend_tick() {
  if (!running_.load(std::memory_order_acquire)) return;
  const auto now = steady::now();
  for (auto& a : all_associations()) {
    bool give_up = false;
    std::uint64_t uid = 0;
    bool any = false;
    {
      std::lock_guard lock(a->sys_mutex);
      any = !a->unacked.empty();
      if (any && now - a->unacked.front().first_sent >= settings_.give_up_system_message_after) give_up = true;
    }
    if (give_up) {
      {
        std::lock_guard lock(a->state_mutex);
        uid = a->peer_uid;
      }
      quarantine(*a, uid,
                 "system messages were not acknowledged within " +
                     std::to_string(settings_.give_up_system_message_after.count()) + " ms");
    } else if (any) {
      // Resend what has waited an interval (a lost connection or a dropped frame).
      resend_unacked(*a, false);
    }
  }
  // Temporary refs of finished asks are forgotten.
  {
    std::lock_guard lock(temp_mutex_);
    std::erase_if(temp_refs_, [](const auto& kv) { return kv.second.is_terminated(); });
  }
  resend_timer_->expires_after(settings_.system_message_resend_interval / 2);
  resend_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_resend_tick();
  });
}

void transport_core::on_heartbeat_tick() {
  if (!running_.load(std::memory_order_acquire)) return;
  const auto now = steady::now();
  for (auto& a : all_associations()) {
    bool watching;
    {
      std::lock_guard lock(a->watch_mutex);
      watching = !a->watching.empty();
    }
    if (!watching) {
      a->detector.reset();
      a->first_heartbeat_sent.reset();
      a->last_heartbeat_answer.reset();
      a->heartbeat_answered = false;
      continue;
    }
    if (a->current_quarantined.load(std::memory_order_acquire)) {
      address_terminated(*a, "quarantined");
      a->detector.reset();
      a->first_heartbeat_sent.reset();
      continue;
    }
    send_control(*a, wire::heartbeat{});
    if (!a->first_heartbeat_sent) a->first_heartbeat_sent = now;
    // A node that never answers starts being monitored one interval after the first beat
    // (Akka's expected-response-after), so its silence is judged like any other.
    if (!a->detector && now - *a->first_heartbeat_sent >= settings_.watch_heartbeat_interval) {
      a->detector.emplace(phi_accrual_settings{.threshold = settings_.watch_failure_threshold,
                                               .acceptable_heartbeat_pause = settings_.watch_acceptable_pause,
                                               .first_heartbeat_estimate = settings_.watch_heartbeat_interval});
      a->detector->heartbeat(now.time_since_epoch());
    }
    if (a->detector && !a->detector->is_available(now.time_since_epoch())) {
      address_terminated(*a, "the watch failure detector gave up on it");
      a->detector.reset();  // the next watch of this node starts afresh
      a->first_heartbeat_sent.reset();
    }
  }
  heartbeat_timer_->expires_after(settings_.watch_heartbeat_interval);
  heartbeat_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) on_heartbeat_tick();
  });
}

void transport_core::address_terminated(association& a, const char* why) {
  std::vector<std::pair<actor_ref, std::vector<actor_ref>>> watching;
  {
    std::lock_guard lock(a.watch_mutex);
    watching.swap(a.watching);
  }
  if (watching.empty()) return;
  std::uint64_t uid;
  {
    std::lock_guard lock(a.state_mutex);
    uid = a.peer_uid;
  }
  TROUPE_LOG(log(), warning) << "remoting: " << a.peer_uri << '#' << uid << " is unreachable (" << why
                             << "); telling the watchers of " << watching.size() << " actors there";
  system_.events().publish(association_event{association_event::kind::unreachable, a.peer, uid});
  for (auto& [watchee, watchers] : watching) {
    for (auto& w : watchers) {
      w.get()->enqueue_system(new typed_envelope<sys::death_watch_notification>(
          sys::death_watch_notification{watchee, true, true}));
    }
  }
}

void transport_core::quarantine(association& a, std::uint64_t uid, const std::string& reason, bool by_peer) {
  {
    std::lock_guard lock(a.state_mutex);
    if (uid == 0) uid = a.peer_uid;
    if (uid == 0 || !a.quarantined_uids.insert(uid).second) return;
    if (uid == a.peer_uid) a.current_quarantined.store(true, std::memory_order_release);
  }
  stats.quarantines.fetch_add(1, std::memory_order_relaxed);
  TROUPE_LOG(log(), warning) << "remoting: quarantined " << a.peer_uri << '#' << uid << ": " << reason;
  {
    std::lock_guard lock(a.sys_mutex);
    a.unacked.clear();
    a.next_seq = 1;
  }
  address_terminated(a, "quarantined");
  system_.events().publish(quarantined_event{a.peer, uid, reason, by_peer});
  // Tell the peer and close our connections to that incarnation (on the I/O thread).
  auto keep = association_for(a.peer);
  asio::post(io_, [this, keep, uid] {
    wire::byte_buffer frame;
    (void)wire::append_control_frame(
        frame, wire::quarantined{{self_, uid_}, {keep->peer, uid}});
    for (auto& lane : keep->lanes) {
      if (lane.conn && lane.conn->peer_uid() == uid) {
        lane.conn->write_frame(frame);
        lane.conn->close("", false, true);
      }
    }
    for (auto c : std::set<std::shared_ptr<connection>>(inbound_)) {
      if (c->assoc() == keep.get() && c->peer_uid() == uid) c->close("", false);
    }
  });
}

void transport_core::set_blackhole(const address& node, std::uint8_t bits) {
  association_for(node)->blackhole.store(bits, std::memory_order_relaxed);
}

std::size_t transport_core::connected_peer_count() {
  std::size_t n = 0;
  for (auto& a : all_associations()) {
    std::lock_guard lock(a->state_mutex);
    if (a->peer_uid != 0 && !a->current_quarantined.load()) ++n;
  }
  return n;
}

std::vector<remote::peer_stats> transport_core::peer_stats() {
  std::vector<remote::peer_stats> out;
  for (auto& a : all_associations()) {
    if (a->peer == self_) continue;
    remote::peer_stats p;
    p.node = a->peer;
    {
      std::lock_guard lock(a->state_mutex);
      p.uid = a->peer_uid;
      p.connected = a->peer_uid != 0 && !a->current_quarantined.load();
    }
    p.quarantined = a->current_quarantined.load();
    auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    for (std::size_t i = 0; i < lane_count; ++i) {
      p.messages_sent_by_lane[i] = get(a->traffic.messages_sent[i]);
      p.dropped_queue_full_by_lane[i] = get(a->traffic.dropped_queue_full[i]);
      std::lock_guard lock(a->lanes[i].mutex);
      p.queued_messages_by_lane[i] = a->lanes[i].pending_messages;
      p.queued_bytes += a->lanes[i].pending.size();
    }
    p.messages_received = get(a->traffic.messages_received);
    p.bytes_sent = get(a->traffic.bytes_sent);
    p.bytes_received = get(a->traffic.bytes_received);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace troupe::remote::detail
