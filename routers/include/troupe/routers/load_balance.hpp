// load_balance: the least-loaded choice among a router's routees.
//
// The pure part of the least-loaded routing logic. Each routee has a key (the router uses
// its ref's path) and an estimate of its load: the mailbox size last reported for it plus
// the messages this router sent it since that size was measured. `choose` takes the
// routee with the smallest estimate; among equal estimates it goes round robin (the first
// at or after the one after the last choice, in routing order), so routees that report
// nothing, or the same size, share the messages evenly. A routee with no report yet counts
// as size 0.
//
// A report carries the router's count of messages sent to the routee when the size was
// asked for (`sent(key)` at that moment): the messages sent before are taken as counted in
// the size, those sent after are added to it, so a report that took a network round trip
// does not forget the messages sent meanwhile.
//
//   load_balance lb;
//   lb.set_routees({"a", "b", "c"});
//   const auto asked = lb.sent("c");
//   lb.report("c", 50, asked);     // c's mailbox holds 50 messages
//   lb.choose();                   // 0 ("a"), then 1, 0, 1, ... until they reach 50
//
// A choice is linear in the number of routees, a report logarithmic. No I/O, no clock, no randomness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace troupe::routers {

class load_balance {
 public:
  /// The routees now, by key, in routing order. A key that was a routee before keeps its
  /// report and its count of messages sent; a new one starts with neither.
  void set_routees(std::vector<std::string> keys);

  /// `key`'s mailbox held `size` user messages when measured, and this router had sent it
  /// `sent_when_asked` messages (its `sent(key)`) when it asked. False, and no change, when
  /// `key` is not a routee.
  bool report(std::string_view key, std::uint32_t size, std::uint64_t sent_when_asked);

  /// The index of the routee with the smallest estimate (round robin among equals), which
  /// counts one more message sent to it. There must be at least one routee.
  std::size_t choose();

  /// The messages chosen for `key` since it became a routee (0 for a key that is not one).
  std::uint64_t sent(std::string_view key) const;
  /// The load estimate of routee `i`: its reported size plus what was sent since it was
  /// asked for.
  std::uint64_t estimate(std::size_t i) const;
  /// The size last reported for routee `i`, if any.
  std::optional<std::uint32_t> reported(std::size_t i) const;
  /// The routees' keys, in routing order.
  std::vector<std::string> keys() const;
  std::size_t size() const noexcept { return routees_.size(); }

 private:
  struct routee_load {
    std::string key;
    std::uint64_t sent = 0;             // messages chosen for it, in all
    std::optional<std::uint32_t> size;  // last reported mailbox size
    std::uint64_t sent_when_asked = 0;  // `sent` when that size was asked for
  };
  const routee_load* find(std::string_view key) const;

  std::vector<routee_load> routees_;
  std::map<std::string, std::size_t, std::less<>> index_;  // key -> position in routees_
  std::size_t next_ = 0;                                   // where the round robin among equals starts
};

}  // namespace troupe::routers
