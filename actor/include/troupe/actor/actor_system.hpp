// actor_system: the home of a tree of actors, its threads, its clock and its events.
//
//   troupe::actor_system system("shop");                    // defaults
//   auto s = troupe::actor_system_settings::parse(R"({"dispatcher": {"workers": 4}})");
//   troupe::actor_system tuned("shop", s.value());
//
//   actor_ref cart = system.spawn<cart_actor>("cart-1");     // /user/cart-1
//   cart.tell(add_item{"apple"});
//   system.terminate();
//   system.await_termination();                              // or await_termination(5s)
//
// Paths: the root `/` has two guardians, `/user` (parent of everything users spawn) and
// `/system` (the runtime's own actors, and later layers' daemons). `terminate` stops
// `/user` first, then `/system`; children always stop before their parents.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "troupe/actor/actor.hpp"
#include "troupe/actor/event_stream.hpp"
#include "troupe/base/expected.hpp"
#include "troupe/actor/log.hpp"
#include "troupe/actor/scheduler.hpp"
#include "troupe/actor/settings.hpp"

namespace troupe {

namespace detail {
class system_core;
}
class coordinated_shutdown;

/// How a system reaches actors on other nodes. The remote layer installs one
/// (`troupe::remote::transport`), after which `resolve` and `select` accept node-qualified
/// URIs such as `troupe://shop@127.0.0.2:2552/user/cart`.
class ref_provider {
 public:
  virtual ~ref_provider() = default;
  /// The ref for a URI that names a node (`troupe://sys@host:port/path`): for this node the
  /// local actor (nullopt when none lives there), for another node a remote ref to whatever
  /// lives at the path when a message arrives (not checked; see the transport's `resolve`).
  /// nullopt for a malformed URI.
  virtual std::optional<actor_ref> resolve_uri(std::string_view uri) = 0;
};

/// Sends to whatever lives at a path when the message is sent.
class actor_selection {
 public:
  /// Delivers `msg` to the actor at the path now, or to dead letters.
  template <class T>
  void tell(T&& msg) const {
    tell_message(make_message(std::forward<T>(msg)));
  }
  /// The actor living at the path now, if any. For a path on another node this is a ref
  /// to whatever lives there when a message arrives (not checked): see `resolve_one`.
  std::optional<actor_ref> resolve() const;
  /// The actor living at the path now, checked also on another node by an identify round
  /// trip (Akka's resolveOne); an error saying why when nothing lives there or nothing
  /// answers within `timeout`. Blocks: for use outside actors.
  expected<actor_ref, std::string> resolve_one(std::chrono::nanoseconds timeout) const;
  const std::string& path() const noexcept { return path_; }

 private:
  friend class actor_system;
  actor_selection(const actor_system* s, std::string p) : system_(s), path_(std::move(p)) {}
  void tell_message(message m) const;
  const actor_system* system_;
  std::string path_;
};

/// An actor system's counters since it started (`actor_system::stats`).
struct system_stats {
  std::uint64_t messages_processed = 0;  ///< user messages handled by actors
  std::uint64_t dead_letters = 0;        ///< messages that could not be delivered
  std::uint64_t actors_stopped = 0;      ///< actors that stopped (any reason)
  std::uint64_t actors_restarted = 0;    ///< restarts by a supervisor
};

/// One long mailbox (`actor_system::deepest_mailboxes`).
struct mailbox_depth {
  std::string path;     ///< as `actor_ref::path()`: "troupe://shop/user/orders/17"
  std::uint32_t depth;  ///< user messages waiting
};

class actor_system {
 public:
  /// Starts a system with `settings`; `name` appears in every path.
  explicit actor_system(std::string name, actor_system_settings settings = {});
  /// Terminates (if not yet) and waits for every actor to stop.
  ~actor_system();
  actor_system(const actor_system&) = delete;
  actor_system& operator=(const actor_system&) = delete;

  const std::string& name() const noexcept;
  const actor_system_settings& settings() const noexcept;

  /// Starts a top-level actor under `/user`. Throws std::invalid_argument for a bad or
  /// duplicate name.
  actor_ref spawn(const props& p, std::string name = {});
  template <class T, class... Args>
  actor_ref spawn(std::string name, Args&&... args) {
    return spawn(props::of<T>(std::forward<Args>(args)...), std::move(name));
  }
  /// Starts an actor under `/system` (for the runtime's and later layers' daemons).
  actor_ref spawn_system_actor(const props& p, std::string name);
  /// Stops any actor (children first); `terminated` goes to its watchers.
  void stop(const actor_ref& r);

  /// The actor at `path` (`/user/a/b`, `user/a/b` or `troupe://name/user/a/b`), if alive.
  /// A URI naming a node (`troupe://name@host:port/user/a`) goes to the `ref_provider`
  /// (nullopt without one).
  std::optional<actor_ref> resolve(std::string_view path) const;
  /// A selection by path, resolved each time something is sent.
  actor_selection select(std::string path) const { return actor_selection(this, std::move(path)); }

  /// Publish/subscribe by type, system-wide.
  troupe::event_stream& events() noexcept;
  /// Where undeliverable messages go.
  actor_ref dead_letters() const;
  /// Records an undeliverable message (logged with a rate limit, counted, published as
  /// `dead_letter`); for layers that deliver messages themselves, such as the transport.
  /// An `identify` is answered with an empty ref when `recipient` is empty or stopped.
  void publish_dead_letter(message m, const actor_ref& recipient, const char* reason);
  /// How many messages became dead letters so far.
  std::uint64_t dead_letter_count() const noexcept;
  /// The runtime's counters since start (for monitoring: the cluster's `/metrics`).
  system_stats stats() const noexcept;
  /// The `n` longest mailboxes, longest first, with their depth now. Sampled: an actor is
  /// listed when one of its turns ends with 64 or more user messages still waiting (16 are
  /// kept; a longer one takes the place of the shortest), and it leaves the list once its
  /// mailbox is empty or it stopped. Empty while no mailbox runs long.
  std::vector<mailbox_depth> deepest_mailboxes(std::size_t n = 10) const;
  /// The user messages waiting in the mailbox of `r`, an actor of this system, now;
  /// nullopt for a remote ref, a ref of another system or one that is not an actor (dead
  /// letters, an ask), and for a stopped actor. A bounded mailbox counts each message as
  /// it arrives; an unbounded one publishes its count when a turn ends, so it tells what
  /// the actor's last turn left waiting, and messages that arrive while the actor is idle
  /// count from its next turn on. Any thread; for load reports (the cluster routers' least
  /// loaded logic) and monitoring.
  std::optional<std::uint32_t> mailbox_size(const actor_ref& r) const;
  /// The system's logger (source: the system name).
  const logger& log() const noexcept;
  /// The clock and timers of this system.
  troupe::scheduler& scheduler() noexcept;
  /// A seed for components that draw random numbers (from settings, or random).
  std::uint64_t random_seed() noexcept;

  /// Ordered shutdown phases; `run` ends in `terminate`.
  troupe::coordinated_shutdown& coordinated_shutdown();

  /// Starts stopping every actor; returns at once.
  void terminate();
  /// Waits until every actor stopped; false on timeout.
  bool await_termination(std::chrono::nanoseconds timeout);
  void await_termination();
  bool is_terminated() const noexcept;

  // ---- deterministic mode (dispatcher "manual"; see troupe/actor/testkit.hpp) ----
  /// Runs one message (of the actor scheduled first); false when nothing is ready.
  bool run_one();
  /// Runs until no actor has anything to do; returns the number of turns run.
  std::size_t run_until_idle(std::size_t max_turns = 10'000'000);
  /// Moves manual time forward (firing due timers), then runs until idle.
  void advance_time(std::chrono::nanoseconds d);
  /// True in deterministic mode.
  bool is_manual() const noexcept;

  /// The extension of type `T` (constructed once from this system on first use), as
  /// later layers attach themselves: `system.extension<troupe::remote::transport>()`.
  template <class T>
  T& extension() {
    std::lock_guard lock(extensions_mutex_);
    auto& slot = extensions_[std::type_index(typeid(T))];
    if (!slot) slot = std::shared_ptr<void>(std::make_shared<T>(*this));
    return *static_cast<T*>(slot.get());
  }

  /// Installs (or, with nullptr, removes) the provider of refs to other nodes.
  void set_ref_provider(std::shared_ptr<ref_provider> p);

  /// Low level: the runtime's shared state.
  detail::system_core& core() const noexcept { return *core_; }

 private:
  detail::system_core* core_;
  std::unique_ptr<troupe::coordinated_shutdown> shutdown_;
  mutable std::mutex provider_mutex_;
  std::shared_ptr<ref_provider> provider_;
  std::mutex extensions_mutex_;
  std::unordered_map<std::type_index, std::shared_ptr<void>> extensions_;
};

}  // namespace troupe
