#include "troupe/actor/actor_system.hpp"

#include <algorithm>
#include <thread>

#include "internal/actor_cell.hpp"
#include "internal/system_core.hpp"
#include "troupe/actor/ask.hpp"
#include "troupe/actor/coordinated_shutdown.hpp"

namespace troupe::detail {

namespace {

/// Root guardian: parent of `/user` and `/system`. When `/user` has stopped it stops
/// `/system`; when that has stopped it stops itself, which ends the system.
class root_guardian final : public actor {
 public:
  explicit root_guardian(system_core* core) : core_(core) {}

  behavior make_behavior() override {
    return {[this](const terminated& t) {
      if (t.actor.name() == "user") {
        stop(actor_ref::share(core_->system_guardian()));
      } else if (t.actor.name() == "system") {
        stop_self();
      }
    }};
  }
  void pre_start() override {
    // By ref, not by name: a guardian stopped before the root's first turn (a system
    // terminated right after it started) has already left the root's children table,
    // and a watch of a stopped actor still delivers its `terminated`.
    watch(actor_ref::share(core_->user_guardian()));
    watch(actor_ref::share(core_->system_guardian()));
  }
  troupe::supervisor_strategy supervisor_strategy() const override {
    return supervisor_strategy::stopping_strategy();
  }

 private:
  system_core* core_;
};

/// `/user` and `/system`: supervise top-level actors with the default strategy.
class guardian final : public actor {
 public:
  behavior make_behavior() override { return {}; }
};

/// The dead letter office as a ref: everything sent to it is a dead letter.
class dead_letter_ref final : public ref_target {
 public:
  explicit dead_letter_ref(system_core* core) : ref_target(new_uid()), core_(core) {}
  void enqueue(envelope* e) noexcept override { core_->dead_letter(e, actor_ref{}, "sent to dead letters"); }
  void enqueue_system(envelope* e) noexcept override {
    // A watch of dead letters is answered at once, as for any stopped actor.
    if (e->type == type_id_of<sys::watch>()) {
      auto& w = *static_cast<sys::watch*>(e->payload());
      if (w.watcher) {
        w.watcher.get()->enqueue_system(new typed_envelope<sys::death_watch_notification>(
            sys::death_watch_notification{actor_ref::share(this), false, false}));
      }
    }
    delete e;
  }
  std::string path() const override { return "troupe://" + core_->name() + "/deadLetters"; }
  std::string name() const override { return "deadLetters"; }
  bool is_terminated() const noexcept override { return true; }

 private:
  system_core* core_;  // not counted: the core owns this ref
};

}  // namespace

system_core::system_core(actor_system* owner, std::string name, actor_system_settings s)
    : owner_(owner),
      name_(std::move(name)),
      settings_(std::move(s)),
      log_(name_, settings_.log_min_level),
      seeds_(settings_.random_seed ? settings_.random_seed : std::random_device{}()) {
  if (settings_.dispatcher == dispatcher_kind::manual) {
    scheduler_ = std::make_unique<manual_scheduler>();
    auto m = std::make_unique<manual_dispatcher>();
    manual_ = m.get();
    default_ = std::move(m);
  } else {
    scheduler_ = std::make_unique<thread_scheduler>();
    std::size_t n = settings_.workers;
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    default_ = std::make_unique<work_stealing_dispatcher>(n, settings_.throughput, settings_.max_batch);
    pinned_ = std::make_unique<pinned_dispatcher>(settings_.throughput, settings_.max_batch);
  }
  dead_letters_ = new dead_letter_ref(this);
  dispatchers_[0] = default_.get();
  dispatchers_[1] = pinned_ ? pinned_.get() : default_.get();
}

system_core::~system_core() {
  dead_letters_->release();
}

manual_scheduler* system_core::manual_clock() noexcept {
  return dynamic_cast<manual_scheduler*>(scheduler_.get());
}

void system_core::start() {
  root_ = new actor_cell(this, nullptr, "", props::of<root_guardian>(this), 0);
  user_ = root_->spawn_child(props::of<guardian>(), "user");
  system_ = root_->spawn_child(props::of<guardian>(), "system");
  default_->schedule(root_);
}

std::uint8_t system_core::dispatcher_index(const std::string& name) const {
  if (name == "default" || name.empty()) return 0;
  if (name == "pinned") return 1;
  throw std::invalid_argument("unknown dispatcher [" + name + "]; expected \"default\" or \"pinned\"");
}

void system_core::dead_letter(envelope* e, const actor_ref& recipient, const char* reason) noexcept {
  dead_letters_total_.fetch_add(1, std::memory_order_relaxed);
  try {
    e = materialized(e);  // subscribers and the log see the value, not its wire form
  } catch (const std::bad_alloc&) {
    return;  // counted; `e` is gone
  }
  message m(e);
  // A dead letter about a dead letter (a stopped subscriber) is only counted.
  if (m.is<troupe::dead_letter>()) return;
  try {
    // Nothing lives there (any more): identify is answered with an empty ref, as documented.
    if (const auto* id = m.get_if<identify>(); id && m.sender() && (!recipient || recipient.is_terminated())) {
      m.sender().tell(actor_identity{id->correlation_id, actor_ref{}}, recipient);
    }
    if (settings_.dead_letters_log_limit > 0 && log_.enabled(log_level::info)) {
      std::uint64_t suppressed = 0;
      bool log_it = false;
      {
        std::lock_guard lock(dl_log_mutex_);
        const auto now = std::chrono::steady_clock::now();
        if (now - dl_window_start_ >= settings_.dead_letters_log_window) {
          suppressed = dl_suppressed_;
          dl_suppressed_ = 0;
          dl_window_start_ = now;
          dl_logged_in_window_ = 0;
        }
        if (dl_logged_in_window_ < settings_.dead_letters_log_limit) {
          ++dl_logged_in_window_;
          log_it = true;
        } else {
          ++dl_suppressed_;
        }
      }
      if (suppressed > 0) {
        TROUPE_LOG(log_, info) << suppressed << " more dead letters were not logged";
      }
      if (log_it) {
        TROUPE_LOG(log_, info) << "dead letter (" << reason << "): " << m.type_name() << " from "
                               << (m.sender() ? m.sender().path() : std::string("<nobody>"))
                               << " to " << (recipient ? recipient.path() : std::string("<unknown>"));
      }
    }
    if (events_.has_subscribers<troupe::dead_letter>()) {
      events_.publish(troupe::dead_letter{std::make_shared<const message>(std::move(m)), recipient, reason});
    }
  } catch (...) {
    // Logging or publishing failed (out of memory): the message is counted and dropped.
  }
}

void system_core::terminate() {
  if (terminating_.exchange(true)) return;
  user_.get()->enqueue_system(new typed_envelope<sys::terminate>());
}

void system_core::on_root_terminated() {
  scheduler_->shutdown();  // pending timers must not keep anything alive
  events_.unsubscribe_terminated();  // nor subscribers: they hold their parents, up to the root and the core
  {
    std::lock_guard lock(term_mutex_);
    terminated_.store(true, std::memory_order_release);
  }
  term_cv_.notify_all();
}

bool system_core::await_termination(std::chrono::nanoseconds timeout) {
  if (manual_) {
    // Deterministic mode: nobody else runs the actors, so the waiter does.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!is_terminated()) {
      if (!manual_->run_one()) return is_terminated();
      if (std::chrono::steady_clock::now() > deadline) return false;
    }
    return true;
  }
  std::unique_lock lock(term_mutex_);
  return term_cv_.wait_for(lock, timeout, [this] { return is_terminated(); });
}

void system_core::release_guardians() {
  {
    std::array<actor_ref, deep_mailbox_slots> listed;  // released outside the lock
    std::lock_guard lock(deep_lock_);
    listed.swap(deep_);
  }
  user_ = actor_ref{};
  system_ = actor_ref{};
  // The root cell was never owned by a parent: drop the reference start() made.
  if (root_) std::exchange(root_, nullptr)->release();
}

void system_core::shutdown_threads() {
  if (threads_joined_) return;
  threads_joined_ = true;
  scheduler_->shutdown();
  default_->shutdown();
  if (pinned_) pinned_->shutdown();
}

std::uint64_t system_core::next_seed() noexcept {
  std::lock_guard lock(seed_mutex_);
  return seeds_();
}

}  // namespace troupe::detail

namespace troupe {

actor_system::actor_system(std::string name, actor_system_settings settings)
    : core_(new detail::system_core(this, std::move(name), std::move(settings))) {
  core_->start();
  if (core_->manual()) run_until_idle();
  shutdown_ = std::make_unique<troupe::coordinated_shutdown>(*this);
}

actor_system::~actor_system() {
  terminate();
  const auto warn_every = std::chrono::seconds(10);
  while (!core_->await_termination(warn_every)) {
    TROUPE_LOG(core_->log(), warning)
        << "actor system " << core_->name()
        << " is still stopping: an actor is blocked in a handler or hook";
    if (core_->manual()) break;
  }
  shutdown_.reset();
  core_->shutdown_threads();
  extensions_.clear();
  core_->release_guardians();
  core_->release();
}

const std::string& actor_system::name() const noexcept { return core_->name(); }
const actor_system_settings& actor_system::settings() const noexcept { return core_->settings(); }

actor_ref actor_system::spawn(const props& p, std::string name) {
  return core_->user_guardian()->spawn_child(p, std::move(name));
}

actor_ref actor_system::spawn_system_actor(const props& p, std::string name) {
  return core_->system_guardian()->spawn_child(p, std::move(name));
}

void actor_system::stop(const actor_ref& r) {
  if (r) r.get()->enqueue_system(new typed_envelope<sys::terminate>());
}

void actor_system::set_ref_provider(std::shared_ptr<ref_provider> p) {
  std::lock_guard lock(provider_mutex_);
  provider_ = std::move(p);
}

std::optional<actor_ref> actor_system::resolve(std::string_view path) const {
  const std::string prefix = "troupe://" + core_->name();
  if (path.substr(0, 9) == "troupe://") {
    const std::string_view authority = path.substr(9, path.find('/', 9) - 9);
    if (authority.find('@') != std::string_view::npos) {
      std::shared_ptr<ref_provider> provider;
      {
        std::lock_guard lock(provider_mutex_);
        provider = provider_;
      }
      if (!provider) return std::nullopt;
      return provider->resolve_uri(path);
    }
    if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
    path.remove_prefix(prefix.size());
  }
  actor_ref cur = actor_ref::share(core_->root());
  while (!path.empty()) {
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (path.empty()) break;
    const std::size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash);
    if (part == ".") continue;
    auto* cell = static_cast<detail::actor_cell*>(cur.get());
    if (part == "..") {
      if (cell->parent_cell()) cur = actor_ref::share(cell->parent_cell());
      continue;
    }
    cur = cell->find_child(part);
    if (!cur) return std::nullopt;
  }
  if (cur.is_terminated()) return std::nullopt;
  return cur;
}

std::optional<actor_ref> actor_selection::resolve() const { return system_->resolve(path_); }

expected<actor_ref, std::string> actor_selection::resolve_one(std::chrono::nanoseconds timeout) const {
  auto ref = resolve();
  if (!ref) return unexpected<std::string>{"no actor lives at " + path_};
  if (ref->get()->is_local()) return *ref;
  try {
    // A ref to another node: ask whatever lives there who it is. (An ask only adds a
    // temporary ref to the system; a selection keeps its system as const.)
    auto& sys = const_cast<actor_system&>(*system_);
    auto identity = ask<actor_identity>(sys, *ref, identify{}, timeout).get();
    if (!identity.ref) return unexpected<std::string>{"no actor lives at " + path_};
    return identity.ref;
  } catch (const ask_error& e) {
    switch (e.reason) {
      case ask_error::kind::dead_recipient:
        return unexpected<std::string>{"no actor lives at " + path_};
      case ask_error::kind::timeout:
        return unexpected<std::string>{
            "no answer from " + path_ + " within " +
            std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) + " ms"};
      default:
        return unexpected<std::string>{"cannot resolve " + path_ + ": " + e.what()};
    }
  }
}

void actor_selection::tell_message(message m) const {
  if (auto r = resolve()) {
    actor_ref sender = m.sender() ? m.sender() : actor_ref::share(detail::current_actor());
    r->tell(std::move(m), sender);
  } else {
    system_->core().dead_letter(m.release(), actor_ref{}, "no actor at the selected path");
  }
}

event_stream& actor_system::events() noexcept { return core_->events(); }
actor_ref actor_system::dead_letters() const { return actor_ref::share(core_->dead_letters()); }
void actor_system::publish_dead_letter(message m, const actor_ref& recipient, const char* reason) {
  if (m) core_->dead_letter(m.release(), recipient, reason);
}
std::uint64_t actor_system::dead_letter_count() const noexcept { return core_->dead_letter_count(); }

system_stats actor_system::stats() const noexcept { return core_->stats(); }
std::vector<mailbox_depth> actor_system::deepest_mailboxes(std::size_t n) const {
  return core_->deepest_mailboxes(n);
}

std::optional<std::uint32_t> actor_system::mailbox_size(const actor_ref& r) const {
  // Local refs are cells, dead letters or an ask's temporary ref: only a cell has a mailbox.
  const auto* cell = r ? dynamic_cast<const detail::actor_cell*>(r.get()) : nullptr;
  if (!cell || &cell->core() != core_ || cell->is_terminated()) return std::nullopt;
  return cell->queued_user_messages();
}

const logger& actor_system::log() const noexcept { return core_->log(); }
troupe::scheduler& actor_system::scheduler() noexcept { return core_->timers(); }
std::uint64_t actor_system::random_seed() noexcept { return core_->next_seed(); }
troupe::coordinated_shutdown& actor_system::coordinated_shutdown() { return *shutdown_; }

void actor_system::terminate() { core_->terminate(); }
bool actor_system::await_termination(std::chrono::nanoseconds timeout) {
  return core_->await_termination(timeout);
}
void actor_system::await_termination() {
  while (!core_->await_termination(std::chrono::hours(1))) {
    if (core_->manual()) return;
  }
}
bool actor_system::is_terminated() const noexcept { return core_->is_terminated(); }

bool actor_system::is_manual() const noexcept { return core_->manual() != nullptr; }

bool actor_system::run_one() {
  if (!core_->manual()) throw std::logic_error("run_one() needs the manual dispatcher");
  return core_->manual()->run_one();
}

std::size_t actor_system::run_until_idle(std::size_t max_turns) {
  if (!core_->manual()) throw std::logic_error("run_until_idle() needs the manual dispatcher");
  std::size_t n = 0;
  while (n < max_turns && core_->manual()->run_one()) ++n;
  return n;
}

void actor_system::advance_time(std::chrono::nanoseconds d) {
  auto* clock = core_->manual_clock();
  if (!clock) throw std::logic_error("advance_time() needs the manual dispatcher");
  run_until_idle();
  const auto until = clock->now() + d;
  // Fire timers one instant at a time, letting actors react (and re-arm) in between.
  while (auto next = clock->next_due()) {
    if (*next > until) break;
    clock->advance(*next > clock->now() ? *next - clock->now() : std::chrono::nanoseconds(0));
    run_until_idle();
  }
  if (clock->now() < until) clock->advance(until - clock->now());
  run_until_idle();
}

}  // namespace troupe

namespace troupe::detail {
actor_cell* system_core::user_guardian() const noexcept { return static_cast<actor_cell*>(user_.get()); }
actor_cell* system_core::system_guardian() const noexcept {
  return static_cast<actor_cell*>(system_.get());
}
void system_core::count_stop() noexcept {
  dispatcher* d = current_dispatcher();
  if ((d == dispatchers_[0] || d == dispatchers_[1]) && d->count_stop_here()) return;
  stops_total_.fetch_add(1, std::memory_order_relaxed);
}

void system_core::note_deep_mailbox(actor_cell* c) noexcept {
  // One call in 8 on average, drawn by a per-thread xorshift rather than counted: a count
  // would keep picking the same one of a few long mailboxes that take turns.
  thread_local std::uint32_t draw = 0x9e3779b9u;
  draw ^= draw << 13;
  draw ^= draw >> 17;
  draw ^= draw << 5;
  if ((draw & 7) != 0 || terminating_.load(std::memory_order_relaxed)) return;
  actor_ref evicted;  // released outside the lock: it may be the last reference
  std::lock_guard lock(deep_lock_);
  actor_ref* shortest = nullptr;
  std::uint32_t shortest_depth = 0;
  for (auto& slot : deep_) {
    if (!slot) {
      if (!shortest || shortest_depth > 0) shortest = &slot, shortest_depth = 0;
      continue;
    }
    auto* listed = static_cast<actor_cell*>(slot.get());
    if (listed == c) return;
    const std::uint32_t d = listed->is_terminated() ? 0 : listed->queued_user_messages();
    if (!shortest || d < shortest_depth) shortest = &slot, shortest_depth = d;
  }
  if (!shortest || shortest_depth >= c->queued_user_messages()) return;  // (deep_ is never empty)
  evicted = std::exchange(*shortest, c->self_ref());
}

std::vector<mailbox_depth> system_core::deepest_mailboxes(std::size_t n) {
  std::vector<actor_ref> listed;
  std::vector<actor_ref> dropped;  // released outside the lock
  {
    std::lock_guard lock(deep_lock_);
    for (auto& slot : deep_) {
      if (!slot) continue;
      auto* cell = static_cast<actor_cell*>(slot.get());
      if (cell->is_terminated() || cell->queued_user_messages() == 0) {
        dropped.push_back(std::move(slot));
        slot = actor_ref{};
      } else {
        listed.push_back(slot);
      }
    }
  }
  std::vector<mailbox_depth> out;
  out.reserve(listed.size());
  for (const auto& r : listed) {
    const auto d = static_cast<actor_cell*>(r.get())->queued_user_messages();
    if (d > 0) out.push_back({r.path(), d});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.depth > b.depth; });
  if (out.size() > n) out.resize(n);
  return out;
}

system_stats system_core::stats() const noexcept {
  system_stats s;
  s.messages_processed = dispatchers_[0]->messages_processed();
  s.actors_stopped = stops_total_.load(std::memory_order_relaxed) + dispatchers_[0]->stops_counted();
  if (dispatchers_[1] != dispatchers_[0]) {
    s.messages_processed += dispatchers_[1]->messages_processed();
    s.actors_stopped += dispatchers_[1]->stops_counted();
  }
  s.dead_letters = dead_letter_count();
  s.actors_restarted = restarts_total_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace troupe::detail
