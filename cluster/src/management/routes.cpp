// The management endpoints as a pure function: a request and a snapshot of the node in, a
// response and the change to ask of the cluster out. No socket, no thread, no clock; the
// JSON shapes are Akka Management's (ClusterMembers, ClusterMember, ClusterUnreachableMember).
#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "troupe/cluster/management.hpp"
#include "troupe/remote/settings.hpp"

namespace troupe::cluster {

namespace {

using json = nlohmann::json;
using operation = management_change::operation;

constexpr std::string_view members_path = "/cluster/members";
constexpr std::string_view member_prefix = "/cluster/members/";
constexpr int max_json_depth = 8;  // {"operation": "leave"} needs 1

/// JSON text; invalid UTF-8 (echoed from a request) becomes U+FFFD instead of throwing.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

management_response reply(unsigned status, const json& body) {
  management_response r;
  r.status = status;
  r.body = dump(body);
  return r;
}

management_response error(unsigned status, std::string message) {
  return reply(status, json{{"message", std::move(message)}});
}

management_response method_not_allowed(const std::string& method, std::string_view path, std::string allow) {
  auto r = error(405, "Method [" + method + "] not allowed on " + std::string(path) + "; allowed: " + allow);
  r.allow = std::move(allow);
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `text` with its %XX escapes decoded ('+' as a space in forms); nullopt for a bad escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_value(text[i + 1]);
      const int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += plus_is_space && c == '+' ? ' ' : c;
    }
  }
  return out;
}

/// The fields of `a=1&b=2` (an urlencoded form or a query), the first of a name winning;
/// nullopt for a bad escape.
std::optional<std::map<std::string, std::string>> parse_form(std::string_view text) {
  std::map<std::string, std::string> fields;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    text.remove_prefix(amp == std::string_view::npos ? text.size() : amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    auto name = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
    if (!name || !value) return std::nullopt;
    fields.emplace(std::move(*name), std::move(*value));
  }
  return fields;
}

/// True for application/json and application/<x>+json, parameters ignored.
bool is_json_media_type(std::string_view content_type) {
  std::string type = lower(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  return type == "application/json" || (type.starts_with("application/") && type.ends_with("+json"));
}

/// `troupe://system@host:port` or `system@host:port`; nullopt otherwise.
std::optional<model::address> parse_member_address(std::string_view text) {
  std::string uri(text);
  if (uri.find("://") == std::string::npos) uri = "troupe://" + uri;
  auto parsed = remote::parse_actor_uri(uri);
  if (!parsed || !(parsed->path.empty() || parsed->path == "/")) return std::nullopt;
  return parsed->address;
}

/// The `operation` of a PUT: from the body (a form, or a JSON object when the Content-Type
/// says JSON), else from the query. An error is the 400 reason.
expected<operation, std::string> requested_operation(const management_request& request, std::string_view query) {
  std::optional<std::string> value;
  // 1. The body: Akka's clients send the form field `operation`.
  if (!request.body.empty()) {
    if (is_json_media_type(request.content_type)) {
      const auto shallow = [](int depth, json::parse_event_t, json&) { return depth <= max_json_depth; };
      const json j = json::parse(request.body, shallow, false);
      if (j.is_discarded() || !j.is_object()) {
        return unexpected<std::string>{"Malformed JSON body: expected an object such as {\"operation\": \"leave\"}"};
      }
      if (auto it = j.find("operation"); it != j.end()) {
        if (!it->is_string()) return unexpected<std::string>{"operation: expected a string, leave or down"};
        value = it->get<std::string>();
      }
    } else {
      auto form = parse_form(request.body);
      if (!form) return unexpected<std::string>{"Malformed form body: bad percent-encoding"};
      if (auto it = form->find("operation"); it != form->end()) value = it->second;
    }
  }
  // 2. The query, as in `curl -X PUT '.../cluster/members/...?operation=down'`.
  if (!value) {
    auto form = parse_form(query);
    if (!form) return unexpected<std::string>{"Malformed query: bad percent-encoding"};
    if (auto it = form->find("operation"); it != form->end()) value = it->second;
  }
  if (!value) return unexpected<std::string>{"Missing form field [operation]: expected leave or down"};
  const std::string name = lower(*value);
  if (name == "leave") return operation::leave;
  if (name == "down") return operation::down;
  return unexpected<std::string>{"Operation not supported [" + *value + "]: expected leave or down"};
}

json member_json(const model::member& m) {
  json roles = json::array();
  for (const auto& r : m.roles()) roles.push_back(r);
  return json{{"node", model::to_string(m.address())},
              {"nodeUid", std::to_string(m.unique_address().uid)},
              {"status", akka_status_name(m.status())},
              {"roles", std::move(roles)}};
}

/// Akka's ClusterMembers: "oldest" and "oldestPerRole" count the members that are Up.
json members_json(const management_snapshot& s) {
  json members = json::array();
  std::vector<const model::member*> up;
  for (const auto& m : s.state.members) {
    members.push_back(member_json(m));
    if (m.status() == model::member_status::up) up.push_back(&m);
  }
  std::sort(up.begin(), up.end(), [](const model::member* a, const model::member* b) { return a->is_older_than(*b); });

  json unreachable = json::array();
  for (const auto& [subject, observers] : s.reachability.observers_grouped_by_unreachable()) {
    json observed_by = json::array();
    for (const auto& o : observers) observed_by.push_back(model::to_string(o.address));
    unreachable.push_back(json{{"node", model::to_string(subject.address)}, {"observedBy", std::move(observed_by)}});
  }

  json oldest_per_role = json::object();
  for (const model::member* m : up) {  // oldest first: the first with a role is its oldest
    for (const auto& role : m->roles()) {
      if (!oldest_per_role.contains(role)) oldest_per_role[role] = model::to_string(m->address());
    }
  }

  json out{{"selfNode", model::to_string(s.self)},
           {"members", std::move(members)},
           {"unreachable", std::move(unreachable)},
           {"oldestPerRole", std::move(oldest_per_role)}};
  if (s.state.leader) out["leader"] = model::to_string(*s.state.leader);
  if (!up.empty()) out["oldest"] = model::to_string(up.front()->address());
  return out;
}

management_response ready(const management_snapshot& s) {
  const auto status = s.self_member.status();
  const bool is_ready = status == model::member_status::up || status == model::member_status::weakly_up;
  json body{{"ready", is_ready}, {"selfNode", model::to_string(s.self)}, {"status", akka_status_name(status)}};
  if (!is_ready) body["message"] = "Member status is " + akka_status_name(status) + "; ready once Up or WeaklyUp";
  return reply(is_ready ? 200 : 503, body);
}

/// GET, PUT and DELETE of `/cluster/members/{address}`; `raw` is the still-encoded address.
management_response route_member(const management_request& request, std::string_view path, std::string_view raw,
                                 std::string_view query, const std::function<management_snapshot()>& node,
                                 bool may_change) {
  const std::string& method = request.method;
  // 1. The method, and whether changes are allowed at all.
  if (method != "GET" && method != "PUT" && method != "DELETE") {
    return method_not_allowed(method, path, "GET, PUT, DELETE");
  }
  if (method != "GET" && !may_change) {
    return error(403, method + " refused: changes are disabled, as no bearer token is configured and "
                               "management.allow-unauthenticated-changes is false (the default); configure "
                               "management.token-file or management.token-env and send the token, or allow "
                               "unauthenticated changes");
  }
  // 2. The address.
  const auto text = percent_decode(raw, false);
  if (!text) return error(400, "Malformed percent-encoding in [" + std::string(raw) + "]");
  const auto where = parse_member_address(*text);
  if (!where) {
    return error(400, "Malformed address [" + *text + "]: expected troupe://system@host:port or system@host:port");
  }
  // 3. The operation.
  operation op = operation::none;
  if (method == "PUT") {
    auto requested = requested_operation(request, query);
    if (!requested) return error(400, requested.error());
    op = *requested;
  } else if (method == "DELETE") {
    op = operation::leave;
  }
  // 4. The member.
  const management_snapshot s = node();
  const auto& members = s.state.members;
  const auto found = std::find_if(members.begin(), members.end(),
                                  [&](const model::member& m) { return m.address() == *where; });
  if (found == members.end()) return error(404, "Member [" + *text + "] not found");
  if (op == operation::none) return reply(200, member_json(*found));
  const std::string name = model::to_string(found->address());
  auto r = reply(200, json{{"message", (op == operation::leave ? "Leaving " : "Downing ") + name}});
  r.change = management_change{op, found->address()};
  return r;
}

/// The path of a request target: without the query and a trailing slash.
std::string_view path_of(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

bool is_dashboard_path(std::string_view path) { return path == "/" || path == "/dashboard"; }

management_response route(const management_request& request, const std::function<management_snapshot()>& node,
                          bool may_change) {
  // 1. Split the target into path and query; a trailing slash is ignored.
  const std::string_view target = request.target;
  if (target.empty() || target.front() != '/') {
    return error(400, "Malformed request target [" + std::string(target) + "]: expected a path such as /cluster/members");
  }
  const auto q = target.find('?');
  const std::string_view path = path_of(target);
  const std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  const bool get = request.method == "GET";
  // 2. Health checks.
  if (path == "/alive") return get ? reply(200, json{{"alive", true}}) : method_not_allowed(request.method, path, "GET");
  if (path == "/ready") return get ? ready(node()) : method_not_allowed(request.method, path, "GET");
  // 3. The dashboard: a static page that reads the routes below from the browser.
  if (is_dashboard_path(path)) {
    return get ? management_dashboard_page() : method_not_allowed(request.method, path, "GET");
  }
  // 4. The members.
  if (path == members_path) return get ? reply(200, members_json(node())) : method_not_allowed(request.method, path, "GET");
  if (path.starts_with(member_prefix)) {
    return route_member(request, path, path.substr(member_prefix.size()), query, node, may_change);
  }
  return error(404, "Unknown path [" + std::string(path) + "]");
}

/// True if `a` equals `b`, in a time that depends on their lengths only, not on where
/// they differ: a token guessed byte by byte learns nothing from the answer's delay.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

/// A 401 with RFC 6750's challenge; `error_code` is empty when no credentials came.
management_response unauthorized(std::string message, std::string_view error_code) {
  auto r = error(401, std::move(message));
  r.www_authenticate = "Bearer realm=\"troupe-management\"";
  if (!error_code.empty()) r.www_authenticate += ", error=\"" + std::string(error_code) + "\"";
  return r;
}

}  // namespace

management_authorization authorize_management_request(const management_request& request,
                                                      const management_access_policy& policy) {
  const std::string_view path = path_of(request.target);
  const bool read = request.method == "GET" || request.method == "HEAD";
  // 1. Probes carry no token: the health checks answer everyone, and change nothing; nor
  //    does a browser loading the dashboard, a page without data (its script sends the token).
  if (read && (path == "/alive" || path == "/ready" || is_dashboard_path(path))) return {false, std::nullopt};
  // 2. No token configured: the setting decides.
  if (policy.token.empty()) return {policy.allow_unauthenticated_changes, std::nullopt};
  // 3. Credentials given must be right, whatever the request.
  if (request.authorization) {
    constexpr std::string_view scheme = "bearer ";  // the scheme is case-insensitive (RFC 9110)
    const std::string_view given = *request.authorization;
    const bool bearer = given.size() > scheme.size() && lower(given.substr(0, scheme.size())) == scheme;
    if (bearer && constant_time_equal(given.substr(scheme.size()), policy.token)) return {true, std::nullopt};
    return {false, unauthorized("Invalid credentials: expected the configured token as \"Authorization: Bearer "
                                "<token>\"",
                                "invalid_token")};
  }
  // 4. None: reads pass unless they need the token too; changes never.
  if (read && !policy.token_for_reads) return {false, std::nullopt};
  return {false, unauthorized(request.method + " " + std::string(path) + " needs the management token: send "
                                  "\"Authorization: Bearer <token>\"",
                              {})};
}

std::string akka_status_name(model::member_status s) {
  switch (s) {
    case model::member_status::joining: return "Joining";
    case model::member_status::weakly_up: return "WeaklyUp";
    case model::member_status::up: return "Up";
    case model::member_status::leaving: return "Leaving";
    case model::member_status::exiting: return "Exiting";
    case model::member_status::down: return "Down";
    case model::member_status::removed: return "Removed";
    case model::member_status::preparing_for_shutdown: return "PreparingForShutdown";
    case model::member_status::ready_for_shutdown: return "ReadyForShutdown";
  }
  return "Unknown";
}

management_response route_management_request(const management_request& request,
                                             const std::function<management_snapshot()>& node,
                                             bool may_change) {
  try {
    return route(request, node, may_change);
  } catch (const std::exception& e) {
    return error(500, std::string("Internal error: ") + e.what());
  }
}

}  // namespace troupe::cluster
