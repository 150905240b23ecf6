// account: the bank's entity, an event-sourced actor (troupe::persistence) per account id.
// A deposit is answered only after its `deposited` event is stored, so an answered deposit
// survives any crash; on every start the account replays its events. It remembers the
// names of its latest `recent_limit` deposits, so a resend of one of them (after a lost
// answer) is answered with the balance instead of being deposited twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <utility>

#include <troupe/persistence/persistent_actor.hpp>

#include "bank_protocol.hpp"

namespace bank {

class account final : public troupe::persistence::persistent_actor {
 public:
  /// Called once recovered (balance, events replayed) and after each new deposit (the
  /// balance after it); both may be empty.
  struct observer {
    std::function<void(const std::string& id, std::int64_t balance, std::int64_t events)> recovered;
    std::function<void(const std::string& id, std::int64_t amount, std::int64_t balance)> deposited;
  };
  static constexpr std::size_t recent_limit = 1000;

  account(std::string id, std::string node, const observer* watch)
      : persistent_actor("account-" + id), id_(std::move(id)), node_(std::move(node)), watch_(watch) {}

  troupe::behavior receive_recover() override {
    return {[this](const deposited& e) { apply(e); },
            [this](const account_snapshot& s) {
              balance_ = s.balance;
              recent_.clear();
              recent_set_.clear();
              for (const auto& r : s.recent) remember(r);
            }};
  }

  void on_recovery_completed() override {
    if (watch_ && watch_->recovered) watch_->recovered(id_, balance_, last_sequence_nr());
  }

  troupe::behavior receive_command() override {
    return {[this](const deposit& d) {
              if (recent_set_.contains(d.request)) {
                sender().tell(deposit_done{id_, d.request, balance_, node_, true});
                return;
              }
              persist(deposited{d.amount, d.request}, [this, to = sender()](const deposited& e) {
                apply(e);
                if (watch_ && watch_->deposited) watch_->deposited(id_, e.amount, balance_);
                to.tell(deposit_done{id_, e.request, balance_, node_, false});
              });
            },
            [this](const get_balance&) { return balance{id_, balance_, node_}; }};
  }

  troupe::message snapshot_state() const override {
    return troupe::make_message(account_snapshot{balance_, {recent_.begin(), recent_.end()}});
  }

 private:
  void apply(const deposited& e) {
    balance_ += e.amount;
    remember(e.request);
  }
  void remember(const std::string& request) {
    if (request.empty() || !recent_set_.insert(request).second) return;
    recent_.push_back(request);
    if (recent_.size() > recent_limit) {
      recent_set_.erase(recent_.front());
      recent_.pop_front();
    }
  }

  std::string id_;
  std::string node_;
  const observer* watch_;
  std::int64_t balance_ = 0;
  std::deque<std::string> recent_;
  std::set<std::string> recent_set_;
};

}  // namespace bank
