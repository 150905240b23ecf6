// bank_protocol: the messages of the bank sample (commands and answers, sent across nodes)
// and its stored values (the `deposited` event and the account's snapshot).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bank {

/// Adds `amount` to `account`. `request` names the deposit: a retry with the same name is
/// answered without depositing again, so a client may resend until it gets an answer.
struct deposit {
  std::string account;
  std::int64_t amount = 0;
  std::string request;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(deposit, account, amount, request)

/// The answer to a deposit, sent once its event is stored: the balance right after it.
struct deposit_done {
  std::string account;
  std::string request;
  std::int64_t balance = 0;
  std::string node;        ///< where the account runs
  bool duplicate = false;  ///< the request had been applied before (this is a resend)
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(deposit_done, account, request, balance, node, duplicate)

struct get_balance {
  std::string account;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(get_balance, account)

struct balance {
  std::string account;
  std::int64_t amount = 0;
  std::string node;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(balance, account, amount, node)

/// The event: `amount` was deposited by the deposit named `request`.
struct deposited {
  std::int64_t amount = 0;
  std::string request;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(deposited, amount, request)

/// The snapshot: the balance and the names of the latest deposits (for recognising resends).
struct account_snapshot {
  std::int64_t balance = 0;
  std::vector<std::string> recent;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(account_snapshot, balance, recent)

}  // namespace bank
