#include "dra/object_reader.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/config_reader.h"
#include "common/yaml_load.h"

namespace kgai::dra {
namespace {

using json = nlohmann::ordered_json;

constexpr size_t kMaxDevicesPerSlice = 128;
constexpr size_t kMaxAttributesAndCapacity = 32;
constexpr size_t kMaxAttributeString = 64;
constexpr size_t kMaxSelectors = 32;
constexpr size_t kMaxRequests = 32;
constexpr size_t kMaxSubrequests = 8;
constexpr size_t kMaxDriverName = 63;

// YAML 1.2 core schema for plain scalars; quoted and tagged scalars stay strings.
json scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  {
    size_t used = 0;
    try {
      const long long v = std::stoll(text, &used, 10);
      if (used == text.size()) return v;
    } catch (...) {
    }
  }
  if (text.find_first_of(".eE") != std::string::npos &&
      text.find_first_not_of("+-.0123456789eE") == std::string::npos) {
    try {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used == text.size() && std::isfinite(v)) return v;
    } catch (...) {
    }
  }
  return text;
}

Result<json> to_json(const YAML::Node& node, int depth) {
  if (depth > 64) return fail("nesting deeper than 64 levels");
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      return scalar_to_json(node);
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) {
        auto v = to_json(item, depth + 1);
        if (!v) return v;
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar())
          return fail("{}: map keys must be strings", config::position(kv.first.Mark()));
        auto v = to_json(kv.second, depth + 1);
        if (!v) return v;
        out[kv.first.Scalar()] = std::move(*v);
      }
      return out;
    }
  }
  return json(nullptr);
}

// Field access with the path for errors.
class Fields {
 public:
  Fields(const json& j, std::string where, std::string path)
      : j_(j), where_(std::move(where)), path_(std::move(path)) {}

  const json& raw() const { return j_; }
  std::string at(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  template <typename... Args>
  Error error(std::string_view key, fmt::format_string<Args...> format, Args&&... args) const {
    return Error{fmt::format("{}: {}: {}", where_, at(key),
                             fmt::format(format, std::forward<Args>(args)...))};
  }
  bool has(std::string_view key) const {
    return j_.is_object() && j_.contains(key) && !j_.at(std::string(key)).is_null();
  }
  Result<std::string> string(std::string_view key, bool required = false) const {
    if (!has(key)) {
      if (required) return fail(error(key, "required"));
      return std::string();
    }
    const json& v = j_.at(std::string(key));
    if (!v.is_string()) return fail(error(key, "expected a string, got {}", v.dump()));
    return v.get<std::string>();
  }
  Result<int64_t> integer(std::string_view key, int64_t fallback) const {
    if (!has(key)) return fallback;
    const json& v = j_.at(std::string(key));
    if (!v.is_number_integer()) return fail(error(key, "expected an integer, got {}", v.dump()));
    return v.get<int64_t>();
  }
  Result<bool> boolean(std::string_view key) const {
    if (!has(key)) return false;
    const json& v = j_.at(std::string(key));
    if (!v.is_boolean()) return fail(error(key, "expected true or false, got {}", v.dump()));
    return v.get<bool>();
  }
  Result<std::vector<Fields>> list(std::string_view key, size_t max_items = SIZE_MAX) const {
    std::vector<Fields> out;
    if (!has(key)) return out;
    const json& v = j_.at(std::string(key));
    if (!v.is_array()) return fail(error(key, "expected a list"));
    if (v.size() > max_items) {
      return fail(error(key, "{} items, at most {} allowed", v.size(), max_items));
    }
    for (size_t i = 0; i < v.size(); ++i)
      out.emplace_back(v[i], where_, fmt::format("{}[{}]", at(key), i));
    return out;
  }
  Result<Fields> object(std::string_view key) const {
    static const json kEmpty = json::object();
    if (!has(key)) return Fields(kEmpty, where_, at(key));
    const json& v = j_.at(std::string(key));
    if (!v.is_object()) return fail(error(key, "expected a map"));
    return Fields(v, where_, at(key));
  }
  Result<std::vector<std::string>> strings(std::string_view key,
                                           size_t max_items = SIZE_MAX) const {
    auto items = list(key, max_items);
    if (!items) return fail(items.error());
    std::vector<std::string> out;
    for (auto& item : *items) {
      if (!item.raw().is_string())
        return fail(Error{fmt::format("{}: {}: expected a string", where_, item.path_)});
      out.push_back(item.raw().get<std::string>());
    }
    return out;
  }
  const std::string& path() const { return path_; }
  const std::string& where() const { return where_; }

 private:
  const json& j_;
  std::string where_;
  std::string path_;
};

#define KGAI_TRY(var, expr)                             \
  auto var##_result = (expr);                           \
  if (!var##_result) return fail(var##_result.error()); \
  auto var = std::move(*var##_result)

Result<NodeSelectorRequirement> read_requirement(const Fields& f) {
  NodeSelectorRequirement r;
  KGAI_TRY(key, f.string("key", true));
  KGAI_TRY(op, f.string("operator", true));
  KGAI_TRY(values, f.strings("values"));
  static const std::vector<std::string> kOps = {"In",           "NotIn", "Exists",
                                                "DoesNotExist", "Gt",    "Lt"};
  if (std::find(kOps.begin(), kOps.end(), op) == kOps.end()) {
    return fail(
        f.error("operator", "'{}' is not one of In, NotIn, Exists, DoesNotExist, Gt, Lt", op));
  }
  r.key = key;
  r.op = op;
  r.values = values;
  return r;
}

Result<NodeSelector> read_node_selector(const Fields& f) {
  NodeSelector selector;
  KGAI_TRY(terms, f.list("nodeSelectorTerms"));
  if (terms.empty()) return fail(f.error("nodeSelectorTerms", "needs at least one term"));
  for (const auto& t : terms) {
    NodeSelectorTerm term;
    KGAI_TRY(exprs, t.list("matchExpressions"));
    for (const auto& e : exprs) {
      KGAI_TRY(r, read_requirement(e));
      term.match_expressions.push_back(std::move(r));
    }
    KGAI_TRY(fields, t.list("matchFields"));
    for (const auto& e : fields) {
      KGAI_TRY(r, read_requirement(e));
      if (r.key != "metadata.name") {
        return fail(e.error("key", "matchFields supports only metadata.name, got '{}'", r.key));
      }
      term.match_fields.push_back(std::move(r));
    }
    selector.terms.push_back(std::move(term));
  }
  return selector;
}

Result<NameMap<Quantity>> read_counters(const Fields& f, std::string_view key) {
  NameMap<Quantity> out;
  KGAI_TRY(counters, f.object(key));
  for (const auto& [name, value] : counters.raw().items()) {
    Fields c(value, f.where(), counters.at(name));
    if (!value.is_object())
      return fail(
          Error{fmt::format("{}: {}: expected {{value: QUANTITY}}", f.where(), counters.at(name))});
    const json& v = value.contains("value") ? value.at("value") : json();
    std::string text = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "";
    auto q = Quantity::parse(text);
    if (!q)
      return fail(
          Error{fmt::format("{}: {}.value: {}", f.where(), counters.at(name), q.error().message)});
    out.emplace(name, *q);
  }
  return out;
}

Result<Device> read_device(const Fields& f, const ResourceSlice& slice) {
  Device d;
  KGAI_TRY(name, f.string("name", true));
  d.name = name;
  KGAI_TRY(attributes, f.object("attributes"));
  KGAI_TRY(capacity, f.object("capacity"));
  if (attributes.raw().size() + capacity.raw().size() > kMaxAttributesAndCapacity) {
    return fail(f.error(
        "attributes", "attributes and capacity together hold {} entries, at most {} allowed",
        attributes.raw().size() + capacity.raw().size(), kMaxAttributesAndCapacity));
  }
  for (const auto& [qualified, value] : attributes.raw().items()) {
    const std::string path = attributes.at(qualified);
    auto bad = [&](std::string what) {
      return Error{fmt::format("{}: {}: {}", f.where(), path, what)};
    };
    if (!value.is_object() || value.size() != 1)
      return fail(bad("needs exactly one of int, bool, string, version"));
    // (Not a structured binding of *items().begin(): the proxy it refers to is a temporary.)
    const auto entry = value.begin();
    const std::string& type = entry.key();
    const json& v = entry.value();
    cel::AttributeValue av;
    if (type == "int" && v.is_number_integer()) {
      av = v.get<int64_t>();
    } else if (type == "bool" && v.is_boolean()) {
      av = v.get<bool>();
    } else if (type == "string" && v.is_string()) {
      if (v.get<std::string>().size() > kMaxAttributeString)
        return fail(bad("string longer than 64 characters"));
      av = v.get<std::string>();
    } else if (type == "version" && v.is_string()) {
      auto version = Semver::parse(v.get<std::string>());
      if (!version) return fail(bad(fmt::format("version: {}", version.error().message)));
      av = *version;
    } else {
      return fail(bad(
          fmt::format("'{}: {}' is not an int, bool, string or version value", type, v.dump())));
    }
    auto [domain, id] = split_qualified_name(qualified, slice.driver);
    d.attributes[domain][id] = std::move(av);
  }
  KGAI_TRY(quantities, read_counters(f, "capacity"));
  for (auto& [qualified, q] : quantities) {
    auto [domain, id] = split_qualified_name(qualified, slice.driver);
    d.capacity[domain][id] = q;
  }
  KGAI_TRY(consumes, f.list("consumesCounters"));
  for (const auto& c : consumes) {
    CounterConsumption cc;
    KGAI_TRY(set, c.string("counterSet", true));
    cc.counter_set = set;
    KGAI_TRY(counters, read_counters(c, "counters"));
    cc.counters = std::move(counters);
    d.consumes_counters.push_back(std::move(cc));
  }
  KGAI_TRY(taints, f.list("taints"));
  for (const auto& t : taints) {
    DeviceTaint taint;
    KGAI_TRY(key, t.string("key", true));
    KGAI_TRY(value, t.string("value"));
    KGAI_TRY(effect, t.string("effect", true));
    if (effect != "NoSchedule" && effect != "NoExecute") {
      return fail(t.error("effect", "'{}' is not NoSchedule or NoExecute", effect));
    }
    taint.key = key;
    taint.value = value;
    taint.effect = effect;
    d.taints.push_back(std::move(taint));
  }
  KGAI_TRY(multiple, f.boolean("allowMultipleAllocations"));
  d.allow_multiple_allocations = multiple;
  const bool per_device = f.has("nodeName") || f.has("nodeSelector") || f.has("allNodes");
  if (per_device && !slice.per_device_node_selection) {
    return fail(
        f.error("nodeName", "per-device node selection needs spec.perDeviceNodeSelection: true"));
  }
  if (slice.per_device_node_selection) {
    KGAI_TRY(node_name, f.string("nodeName"));
    KGAI_TRY(all, f.boolean("allNodes"));
    int set = (!node_name.empty()) + all + f.has("nodeSelector");
    if (set != 1)
      return fail(f.error("nodeName",
                          "exactly one of nodeName, nodeSelector, allNodes is required with "
                          "perDeviceNodeSelection"));
    if (!node_name.empty()) d.node_name = node_name;
    d.all_nodes = all;
    if (f.has("nodeSelector")) {
      KGAI_TRY(sel, f.object("nodeSelector"));
      KGAI_TRY(selector, read_node_selector(sel));
      d.node_selector = std::move(selector);
    }
  }
  return d;
}

// "kind" when it is a string, else "" (add_object reports a kind of another type).
std::string kind_of(const json& object) {
  auto it = object.find("kind");
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string object_name(const json& object) {
  if (object.contains("metadata") && object["metadata"].is_object() &&
      object["metadata"].contains("name") && object["metadata"]["name"].is_string()) {
    return object["metadata"]["name"].get<std::string>();
  }
  return "";
}

Result<ResourceSlice> read_slice(const json& object, const std::string& where) {
  ResourceSlice s;
  s.name = object_name(object);
  Fields root(object, where, "");
  KGAI_TRY(spec, root.object("spec"));
  KGAI_TRY(driver, spec.string("driver", true));
  if (driver.size() > kMaxDriverName)
    return fail(spec.error("driver", "longer than 63 characters"));
  s.driver = driver;
  KGAI_TRY(pool, spec.object("pool"));
  KGAI_TRY(pool_name, pool.string("name", true));
  s.pool = pool_name;
  KGAI_TRY(generation, pool.integer("generation", 0));
  KGAI_TRY(count, pool.integer("resourceSliceCount", 1));
  if (count < 1) return fail(pool.error("resourceSliceCount", "must be at least 1"));
  s.generation = generation;
  s.resource_slice_count = count;
  KGAI_TRY(node_name, spec.string("nodeName"));
  KGAI_TRY(all_nodes, spec.boolean("allNodes"));
  KGAI_TRY(per_device, spec.boolean("perDeviceNodeSelection"));
  const int set = (!node_name.empty()) + all_nodes + per_device + spec.has("nodeSelector");
  if (set != 1) {
    return fail(spec.error(
        "nodeName",
        "exactly one of nodeName, nodeSelector, allNodes, perDeviceNodeSelection is required"));
  }
  if (!node_name.empty()) s.node_name = node_name;
  s.all_nodes = all_nodes;
  s.per_device_node_selection = per_device;
  if (spec.has("nodeSelector")) {
    KGAI_TRY(sel, spec.object("nodeSelector"));
    KGAI_TRY(selector, read_node_selector(sel));
    if (selector.terms.size() != 1)
      return fail(
          sel.error("nodeSelectorTerms", "a ResourceSlice's nodeSelector takes exactly one term"));
    s.node_selector = std::move(selector);
  }
  KGAI_TRY(counter_sets, spec.list("sharedCounters"));
  for (const auto& c : counter_sets) {
    CounterSet set_;
    KGAI_TRY(name, c.string("name", true));
    set_.name = name;
    KGAI_TRY(counters, read_counters(c, "counters"));
    set_.counters = std::move(counters);
    s.shared_counters.push_back(std::move(set_));
  }
  KGAI_TRY(devices, spec.list("devices", kMaxDevicesPerSlice));
  for (const auto& d : devices) {
    KGAI_TRY(device, read_device(d, s));
    s.devices.push_back(std::move(device));
  }
  return s;
}

Result<OpaqueConfig> read_opaque(const Fields& f) {
  OpaqueConfig c;
  KGAI_TRY(opaque, f.object("opaque"));
  KGAI_TRY(driver, opaque.string("driver", true));
  c.driver = driver;
  c.parameters = opaque.has("parameters") ? opaque.raw().at("parameters") : json::object();
  return c;
}

Result<std::vector<std::string>> read_selectors(const Fields& f) {
  std::vector<std::string> out;
  KGAI_TRY(selectors, f.list("selectors", kMaxSelectors));
  for (const auto& s : selectors) {
    KGAI_TRY(cel, s.object("cel"));
    KGAI_TRY(expression, cel.string("expression", true));
    out.push_back(expression);
  }
  return out;
}

Result<DeviceClass> read_class(const json& object, const std::string& where) {
  DeviceClass c;
  c.name = object_name(object);
  if (c.name.empty()) return fail("{}: metadata.name: required", where);
  Fields root(object, where, "");
  KGAI_TRY(spec, root.object("spec"));
  KGAI_TRY(selectors, read_selectors(spec));
  c.selectors = std::move(selectors);
  KGAI_TRY(config, spec.list("config"));
  for (const auto& item : config) {
    KGAI_TRY(opaque, read_opaque(item));
    c.config.push_back(std::move(opaque));
  }
  return c;
}

Result<DeviceSelection> read_selection(const Fields& f, bool subrequest) {
  DeviceSelection s;
  if (subrequest) {
    KGAI_TRY(name, f.string("name", true));
    s.name = name;
  }
  KGAI_TRY(cls, f.string("deviceClassName", true));
  s.device_class_name = cls;
  KGAI_TRY(selectors, read_selectors(f));
  s.selectors = std::move(selectors);
  KGAI_TRY(mode, f.string("allocationMode"));
  if (!mode.empty() && mode != "ExactCount" && mode != "All") {
    return fail(f.error("allocationMode", "'{}' is not ExactCount or All", mode));
  }
  s.all = mode == "All";
  KGAI_TRY(count, f.integer("count", 1));
  if (!s.all && count < 1) return fail(f.error("count", "must be at least 1"));
  if (s.all && f.has("count"))
    return fail(f.error("count", "must not be set with allocationMode All"));
  s.count = count;
  if (!subrequest) {
    KGAI_TRY(admin, f.boolean("adminAccess"));
    s.admin_access = admin;
  } else if (f.has("adminAccess")) {
    return fail(f.error("adminAccess", "not allowed in a firstAvailable subrequest"));
  }
  KGAI_TRY(tolerations, f.list("tolerations"));
  for (const auto& t : tolerations) {
    DeviceToleration tol;
    KGAI_TRY(key, t.string("key"));
    KGAI_TRY(op, t.string("operator"));
    KGAI_TRY(value, t.string("value"));
    KGAI_TRY(effect, t.string("effect"));
    if (!op.empty() && op != "Equal" && op != "Exists")
      return fail(t.error("operator", "'{}' is not Equal or Exists", op));
    tol.key = key;
    tol.op = op.empty() ? "Equal" : op;
    tol.value = value;
    tol.effect = effect;
    s.tolerations.push_back(std::move(tol));
  }
  return s;
}

Result<ResourceClaim> read_claim(const json& object, const std::string& where) {
  ResourceClaim c;
  c.name = object_name(object);
  if (c.name.empty()) return fail("{}: metadata.name: required", where);
  if (object["metadata"].contains("namespace") && object["metadata"]["namespace"].is_string()) {
    c.name_space = object["metadata"]["namespace"].get<std::string>();
  }
  c.object = object;
  Fields root(object, where, "");
  KGAI_TRY(spec, root.object("spec"));
  KGAI_TRY(devices, spec.object("devices"));
  KGAI_TRY(requests, devices.list("requests", kMaxRequests));
  for (const auto& r : requests) {
    DeviceRequest req;
    KGAI_TRY(name, r.string("name", true));
    req.name = name;
    if (r.has("exactly") == r.has("firstAvailable")) {
      return fail(r.error("exactly", "exactly one of exactly and firstAvailable is required"));
    }
    if (r.has("exactly")) {
      KGAI_TRY(exactly, r.object("exactly"));
      KGAI_TRY(selection, read_selection(exactly, false));
      req.exactly = std::move(selection);
    } else {
      KGAI_TRY(subs, r.list("firstAvailable", kMaxSubrequests));
      if (subs.empty()) return fail(r.error("firstAvailable", "needs at least one subrequest"));
      for (const auto& s : subs) {
        KGAI_TRY(selection, read_selection(s, true));
        req.first_available.push_back(std::move(selection));
      }
    }
    for (const auto& other : c.requests) {
      if (other.name == req.name)
        return fail(r.error("name", "duplicate request name '{}'", req.name));
    }
    c.requests.push_back(std::move(req));
  }
  // What a constraint or config may name: a request, or a request/subrequest.
  auto unknown_request = [&](const std::vector<std::string>& names) -> std::optional<std::string> {
    for (const auto& name : names) {
      bool found = false;
      for (const auto& r : c.requests) {
        found = found || name == r.name;
        for (const auto& sub : r.first_available) found = found || name == r.name + "/" + sub.name;
      }
      if (!found) return name;
    }
    return std::nullopt;
  };
  KGAI_TRY(constraints, devices.list("constraints"));
  for (const auto& k : constraints) {
    DeviceConstraint dc;
    KGAI_TRY(reqs, k.strings("requests"));
    if (auto bad = unknown_request(reqs)) {
      return fail(k.error("requests",
                          "'{}' is not the name of a request (or request/subrequest) of this claim",
                          *bad));
    }
    dc.requests = std::move(reqs);
    KGAI_TRY(match, k.string("matchAttribute"));
    KGAI_TRY(distinct, k.string("distinctAttribute"));
    if (match.empty() == distinct.empty()) {
      return fail(k.error("matchAttribute",
                          "exactly one of matchAttribute and distinctAttribute is required"));
    }
    if (!match.empty()) dc.match_attribute = match;
    if (!distinct.empty()) dc.distinct_attribute = distinct;
    c.constraints.push_back(std::move(dc));
  }
  KGAI_TRY(config, devices.list("config"));
  for (const auto& item : config) {
    DeviceClaimConfig cc;
    KGAI_TRY(reqs, item.strings("requests"));
    if (auto bad = unknown_request(reqs)) {
      return fail(item.error(
          "requests", "'{}' is not the name of a request (or request/subrequest) of this claim",
          *bad));
    }
    cc.requests = std::move(reqs);
    KGAI_TRY(opaque, read_opaque(item));
    cc.opaque = std::move(opaque);
    c.config.push_back(std::move(cc));
  }
  // An existing allocation: its devices are in use.
  if (object.contains("status") && object["status"].is_object() &&
      object["status"].contains("allocation") && !object["status"]["allocation"].is_null()) {
    c.allocated = true;
    Fields status(object["status"]["allocation"], where, "status.allocation");
    KGAI_TRY(alloc_devices, status.object("devices"));
    KGAI_TRY(results, alloc_devices.list("results"));
    for (const auto& r : results) {
      DeviceResult dr;
      KGAI_TRY(request, r.string("request", true));
      KGAI_TRY(driver, r.string("driver", true));
      KGAI_TRY(pool, r.string("pool", true));
      KGAI_TRY(device, r.string("device", true));
      KGAI_TRY(admin, r.boolean("adminAccess"));
      dr.request = request;
      dr.driver = driver;
      dr.pool = pool;
      dr.device = device;
      dr.admin_access = admin;
      c.allocated_devices.push_back(std::move(dr));
    }
  }
  return c;
}

Result<Node> read_node(const json& object, const std::string& where) {
  Node n;
  n.name = object_name(object);
  if (n.name.empty()) return fail("{}: metadata.name: required", where);
  if (object["metadata"].contains("labels") && object["metadata"]["labels"].is_object()) {
    for (const auto& [k, v] : object["metadata"]["labels"].items()) {
      if (!v.is_string()) return fail("{}: metadata.labels.{}: expected a string", where, k);
      n.labels.emplace(k, v.get<std::string>());
    }
  }
  return n;
}

}  // namespace

std::pair<std::string, std::string> split_qualified_name(std::string_view name,
                                                         std::string_view driver) {
  const size_t slash = name.find('/');
  if (slash == std::string_view::npos) return {std::string(driver), std::string(name)};
  return {std::string(name.substr(0, slash)), std::string(name.substr(slash + 1))};
}

Result<std::vector<json>> read_documents(std::string_view text, std::string_view source) {
  std::vector<YAML::Node> docs;
  try {
    docs = load_yaml_documents(text);
  } catch (const YAML::Exception& e) {
    return fail("{}: {}", source, e.what());
  }
  std::vector<json> out;
  for (const auto& doc : docs) {
    if (doc.IsNull()) continue;
    auto j = to_json(doc, 0);
    if (!j) return fail("{}: {}", source, j.error().message);
    if (!j->is_object()) return fail("{}: a document must be a Kubernetes object (a map)", source);
    const std::string kind = kind_of(*j);
    if (kind == "List" || (j->contains("items") && kind.ends_with("List"))) {
      if (!(*j)["items"].is_array()) return fail("{}: a List needs items", source);
      for (auto& item : (*j)["items"]) {
        if (!item.is_object()) return fail("{}: List items must be objects", source);
        out.push_back(std::move(item));
      }
      continue;
    }
    out.push_back(std::move(*j));
  }
  return out;
}

Result<bool> add_object(const json& object, std::string_view source, Inputs& inputs) {
  // value() would throw on a kind or apiVersion of another type (found by tests/fuzz).
  for (const char* key : {"kind", "apiVersion"}) {
    auto it = object.find(key);
    if (it != object.end() && !it->is_string()) {
      return fail("{}: {}: expected a string, got {}", source, key, it->dump());
    }
  }
  const std::string kind = kind_of(object);
  const std::string api = object.value("apiVersion", "");
  const std::string name = object_name(object);
  const std::string where = fmt::format("{}: {} {}", source, kind.empty() ? "object" : kind,
                                        name.empty() ? "(unnamed)" : name);
  const bool resource_kind =
      kind == "ResourceSlice" || kind == "DeviceClass" || kind == "ResourceClaim";
  if (resource_kind && api != "resource.k8s.io/v1") {
    return fail(
        "{}: apiVersion '{}' is not supported (kgai dra reads resource.k8s.io/v1, Kubernetes 1.34)",
        where, api);
  }
  if (kind == "ResourceSlice") {
    KGAI_TRY(slice, read_slice(object, where));
    inputs.slices.push_back(std::move(slice));
  } else if (kind == "DeviceClass") {
    KGAI_TRY(cls, read_class(object, where));
    inputs.classes.push_back(std::move(cls));
  } else if (kind == "ResourceClaim") {
    KGAI_TRY(claim, read_claim(object, where));
    inputs.claims.push_back(std::move(claim));
  } else if (kind == "Node" && (api == "v1" || api.empty())) {
    KGAI_TRY(node, read_node(object, where));
    inputs.nodes.push_back(std::move(node));
  } else {
    return false;
  }
  return true;
}

Result<Inputs> read_input_files(const std::vector<std::string>& paths) {
  Inputs inputs;
  for (const auto& path : paths) {
    auto text = config::read_config_file(path, 256u << 20);
    if (!text) return fail(text.error());
    auto docs = read_documents(*text, path);
    if (!docs) return fail(docs.error());
    for (const auto& doc : *docs) {
      auto added = add_object(doc, path, inputs);
      if (!added) return fail(added.error());
    }
  }
  return inputs;
}

}  // namespace kgai::dra
