#include "dra/allocator.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "dra/cel.h"
#include "dra/node_selector.h"

namespace kgai::dra {
namespace {

constexpr size_t kMaxDevicesPerClaim = 32;

std::string device_key(std::string_view driver, std::string_view pool, std::string_view device) {
  return fmt::format("{}/{}/{}", driver, pool, device);
}

// Pool facts over the whole cluster: the newest generation and how many of its slices exist.
struct PoolInfo {
  int64_t generation = 0;
  int64_t slices = 0;
  int64_t expected = 1;
};

// One request of one claim, with its alternatives (one for `exactly`).
struct Slot {
  size_t claim;
  const DeviceRequest* request;
  std::vector<const DeviceSelection*> options;
};

struct FilterStats {
  int64_t considered = 0, class_rejected = 0, selector_rejected = 0, in_use = 0, untolerated = 0;
  std::string untolerated_example;
};

struct Candidates {
  std::vector<uint32_t> devices;  // indexes into the node's devices
  FilterStats stats;
  bool incomplete_pool = false;  // All mode: a matching pool is being updated
};

struct SearchStats {
  int64_t constraint_rejected = 0, counter_rejected = 0, duplicate = 0;
  std::string constraint_example;
};

bool tolerates(const std::vector<DeviceToleration>& tolerations, const DeviceTaint& taint) {
  for (const auto& t : tolerations) {
    if (!t.key.empty() && t.key != taint.key) continue;
    if (!t.effect.empty() && t.effect != taint.effect) continue;
    if (t.op == "Exists") return true;
    if (t.key.empty()) continue;  // Equal needs a key
    if (t.value == taint.value) return true;
  }
  return false;
}

const cel::AttributeValue* find_attribute(const Device& device, std::string_view driver,
                                          std::string_view qualified) {
  const size_t slash = qualified.find('/');
  const std::string_view domain =
      slash == std::string_view::npos ? driver : qualified.substr(0, slash);
  const std::string_view id =
      slash == std::string_view::npos ? qualified : qualified.substr(slash + 1);
  auto d = device.attributes.find(domain);
  if (d == device.attributes.end()) return nullptr;
  auto a = d->second.find(id);
  return a == d->second.end() ? nullptr : &a->second;
}

bool same_value(const cel::AttributeValue& a, const cel::AttributeValue& b) {
  if (a.index() != b.index()) return false;
  if (const auto* va = std::get_if<Semver>(&a)) return va->compare(std::get<Semver>(b)) == 0;
  return a == b;
}

}  // namespace

// Everything that outlives one allocate(): the cluster's index, in-use marks, compiled
// selectors and their results per device.
struct Allocator::State {
  const Inputs& cluster;
  AllocatorOptions options;

  std::unordered_map<std::string, std::vector<const ResourceSlice*>> node_local;  // by nodeName
  std::vector<const ResourceSlice*> shared;  // allNodes, nodeSelector, perDeviceNodeSelection
  std::map<std::pair<std::string, std::string>, PoolInfo> pools;
  std::unordered_map<const ResourceSlice*, uint32_t> first_device_id;
  std::vector<uint32_t> key_of_device;  // device id -> name key id
  std::unordered_map<std::string, uint32_t> key_ids;
  std::vector<uint8_t> in_use;  // by key id
  // Free devices per node from node-local slices, and from slices that reach several nodes
  // (an upper bound for every node): a full node is passed over without gathering it.
  std::unordered_map<std::string, int64_t> node_local_free;
  std::vector<const std::string*> node_of_key;  // the node of a node-local device's key
  int64_t shared_free = 0;
  size_t first_open = 0;           // nodes before it have no free device
  std::vector<std::string> nodes;  // in name order
  std::map<std::string, const Node*, std::less<>> node_objects;
  std::map<std::string, const DeviceClass*, std::less<>> classes;

  std::unordered_map<std::string, uint32_t> program_ids;
  std::vector<cel::Program> programs;
  std::unordered_map<uint64_t, bool> selector_results;  // (program id << 32 | device id)

  State(const Inputs& c, AllocatorOptions o) : cluster(c), options(std::move(o)) {}

  uint32_t key_id(const std::string& key) {
    auto [it, added] = key_ids.emplace(key, static_cast<uint32_t>(key_ids.size()));
    if (added) {
      in_use.push_back(0);
      node_of_key.push_back(nullptr);
    }
    return it->second;
  }
  void mark(const DeviceResult& d) {
    if (d.admin_access) return;
    auto it = key_ids.find(device_key(d.driver, d.pool, d.device));
    if (it == key_ids.end() || in_use[it->second]) return;
    in_use[it->second] = 1;
    if (const std::string* node = node_of_key[it->second]) {
      --node_local_free[*node];
    } else {
      --shared_free;
    }
  }
  int64_t free_upper_bound(const std::string& node) const {
    auto it = node_local_free.find(node);
    return shared_free + (it == node_local_free.end() ? 0 : it->second);
  }

  Result<uint32_t> program(const std::string& expression, const std::string& where) {
    if (auto it = program_ids.find(expression); it != program_ids.end()) return it->second;
    if (expression.empty()) return fail("{}: empty CEL expression", where);
    auto compiled = cel::compile(expression);
    if (!compiled) return fail("{}: CEL compile error: {}", where, compiled.error().message);
    programs.push_back(std::move(*compiled));
    const auto id = static_cast<uint32_t>(programs.size() - 1);
    program_ids.emplace(expression, id);
    return id;
  }
};

namespace {

using State = Allocator::State;

class NodeSearch {
 public:
  NodeSearch(State& state, const std::vector<ResourceClaim>& claims, const std::vector<Slot>& slots,
             const std::string& node)
      : state_(state), claims_(claims), slots_(slots), node_(node) {
    auto it = state.node_objects.find(node);
    node_object_ = it == state.node_objects.end() ? nullptr : it->second;
  }

  // Gathers the node's devices from the newest generation of each pool that reaches it.
  Result<void> gather() {
    std::map<std::pair<std::string, std::string>, size_t> index;
    auto add_slice = [&](const ResourceSlice* s) {
      const auto key = std::make_pair(s->driver, s->pool);
      const PoolInfo& info = state_.pools.at(key);
      if (s->generation != info.generation) return;
      auto [it, added] = index.emplace(key, pools_.size());
      if (added) {
        Pool p;
        p.driver = s->driver;
        p.name = s->pool;
        p.complete = info.slices >= info.expected;
        p.slices = info.slices;
        p.expected = info.expected;
        pools_.push_back(std::move(p));
      }
      Pool& pool = pools_[it->second];
      for (const auto& set : s->shared_counters) {
        for (const auto& [name, q] : set.counters) pool.remaining[set.name][name] = q;
      }
      const uint32_t first = state_.first_device_id.at(s);
      for (size_t i = 0; i < s->devices.size(); ++i) {
        const Device& d = s->devices[i];
        if (s->per_device_node_selection && !device_reaches(d)) continue;
        const uint32_t id = first + static_cast<uint32_t>(i);
        devices_.push_back({s, &d, it->second, id, state_.key_of_device[id]});
      }
    };
    if (auto it = state_.node_local.find(node_); it != state_.node_local.end()) {
      for (const ResourceSlice* s : it->second) add_slice(s);
    }
    for (const ResourceSlice* s : state_.shared) {
      if (s->all_nodes || s->per_device_node_selection ||
          (s->node_selector && selector_matches(*s->node_selector))) {
        add_slice(s);
      }
    }
    // Pools by driver and pool name; devices by pool, then in input order.
    std::vector<size_t> order(pools_.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::tie(pools_[a].driver, pools_[a].name) <
             std::tie(pools_[b].driver, pools_[b].name);
    });
    std::vector<size_t> rank(order.size());
    for (size_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
    std::stable_sort(
        devices_.begin(), devices_.end(),
        [&](const NodeDevice& a, const NodeDevice& b) { return rank[a.pool] < rank[b.pool]; });
    // Duplicate device names make a pool invalid.
    std::vector<uint32_t> keys;
    keys.reserve(devices_.size());
    for (const auto& d : devices_) keys.push_back(d.key);
    std::sort(keys.begin(), keys.end());
    if (auto dup = std::adjacent_find(keys.begin(), keys.end()); dup != keys.end()) {
      for (const auto& d : devices_) {
        if (d.key == *dup) {
          return fail("ResourceSlice {}: pool {}/{} is invalid: device name '{}' appears twice",
                      d.slice->name, d.slice->driver, d.slice->pool, d.device->name);
        }
      }
    }
    used_.assign(devices_.size(), false);
    for (uint32_t i = 0; i < devices_.size(); ++i) {
      if (state_.in_use[devices_[i].key]) {
        consume(i, +1);
      } else {
        ++free_devices_;
      }
    }
    return {};
  }

  // Runs the search; true when every slot found devices.
  Result<bool> run() {
    candidates_.assign(slots_.size(), {});
    for (size_t i = 0; i < slots_.size(); ++i) candidates_[i].resize(slots_[i].options.size());
    chosen_option_.assign(slots_.size(), 0);
    // A full node is passed over without evaluating a selector.
    size_t least_needed = 0;
    for (const auto& slot : slots_) {
      size_t least = SIZE_MAX;
      for (const DeviceSelection* sel : slot.options) {
        least = std::min(least, sel->admin_access ? 0
                                : sel->all        ? 1
                                                  : static_cast<size_t>(sel->count));
      }
      least_needed += least;
    }
    if (free_devices_ < least_needed) {
      short_of_devices_ = least_needed;
      return false;
    }
    const bool found = place(0);
    if (!error_.empty()) return fail(Error{error_});
    return found;
  }

  std::vector<DeviceResult> results_for(size_t slot_index) const {
    std::vector<DeviceResult> out;
    const DeviceSelection* sel = chosen(slot_index);
    const std::string request = request_name(slot_index, *sel);
    for (const auto& [s, dev] : picks_) {
      if (s != slot_index) continue;
      const auto& d = devices_[dev];
      out.push_back({request, d.slice->driver, d.slice->pool, d.device->name, sel->admin_access});
    }
    return out;
  }
  const DeviceSelection* chosen(size_t slot_index) const {
    return slots_[slot_index].options[chosen_option_[slot_index]];
  }
  std::string request_name(size_t slot_index, const DeviceSelection& sel) const {
    return sel.name.empty() ? slots_[slot_index].request->name
                            : slots_[slot_index].request->name + "/" + sel.name;
  }

  // How the chosen devices tie a claim to nodes: node-local devices to this node, devices
  // of a nodeSelector slice to that selector, cluster-wide ones not at all.
  nlohmann::ordered_json node_selector_for(size_t claim) const {
    const NodeSelector* selector = nullptr;
    bool node_local = false;
    for (const auto& [s, dev] : picks_) {
      if (slots_[s].claim != claim) continue;
      const auto& d = devices_[dev];
      if (d.slice->node_name || d.device->node_name) node_local = true;
      if (d.slice->node_selector) selector = &*d.slice->node_selector;
      if (d.device->node_selector) selector = &*d.device->node_selector;
    }
    if (node_local) {
      return {{"nodeSelectorTerms",
               {{{"matchFields",
                  {{{"key", "metadata.name"}, {"operator", "In"}, {"values", {node_}}}}}}}}};
    }
    if (selector) return node_selector_json(*selector);
    return nullptr;
  }

  std::vector<std::string> reasons() const {
    std::vector<std::string> out;
    if (pools_.empty()) {
      out.push_back("no ResourceSlice offers devices on this node");
      return out;
    }
    for (const auto& p : pools_) {
      if (!p.complete) {
        out.push_back(fmt::format("pool {}/{} is incomplete ({} of {} slices): it is being updated",
                                  p.driver, p.name, p.slices, p.expected));
      }
    }
    if (short_of_devices_ > 0) {
      out.push_back(fmt::format("{} of the node's {} devices are free; the claims need at least {}",
                                free_devices_, devices_.size(), short_of_devices_));
      return out;
    }
    for (size_t i = 0; i < slots_.size(); ++i) {
      const Slot& slot = slots_[i];
      const ResourceClaim& claim = claims_[slot.claim];
      for (size_t o = 0; o < slot.options.size(); ++o) {
        const DeviceSelection& sel = *slot.options[o];
        const std::string request = request_name(i, sel);
        const auto& cached = candidates_[i][o];
        if (!cached) {
          out.push_back(
              fmt::format("claim {}/{} request {}: not tried (an earlier request found no devices)",
                          claim.name_space, claim.name, request));
          continue;
        }
        const auto& st = cached->stats;
        std::string line = fmt::format(
            "claim {}/{} request {} (class {}, {}): {} devices on the node; {} rejected by the "
            "class's "
            "selectors, {} by the request's selectors, {} in use, {} with a taint not tolerated{}; "
            "{} candidates",
            claim.name_space, claim.name, request, sel.device_class_name,
            sel.all ? std::string("all matching") : fmt::format("count {}", sel.count),
            st.considered, st.class_rejected, st.selector_rejected, st.in_use, st.untolerated,
            st.untolerated_example.empty() ? "" : " (" + st.untolerated_example + ")",
            cached->devices.size());
        if (!sel.all && static_cast<int64_t>(cached->devices.size()) < sel.count) {
          line += fmt::format(", needs {}", sel.count);
        } else if (sel.all && (cached->devices.empty() || st.in_use > 0)) {
          line += cached->devices.empty() ? ", needs at least one"
                                          : ", and All needs every one of them free";
        }
        out.push_back(std::move(line));
      }
    }
    if (search_.constraint_rejected > 0) {
      out.push_back(fmt::format("constraints rejected {} device choices (first: {})",
                                search_.constraint_rejected, search_.constraint_example));
    }
    if (search_.counter_rejected > 0) {
      out.push_back(
          fmt::format("shared counters ran out for {} device choices", search_.counter_rejected));
    }
    if (search_.duplicate > 0) {
      out.push_back(fmt::format("{} device choices were taken by another request of these claims",
                                search_.duplicate));
    }
    return out;
  }

 private:
  struct Pool {
    std::string driver, name;
    bool complete = true;
    int64_t slices = 0, expected = 1;
    NameMap<NameMap<Quantity>> remaining;  // counter set -> counter -> what is left
  };
  struct NodeDevice {
    const ResourceSlice* slice;
    const Device* device;
    size_t pool;
    uint32_t id;   // cluster device id (selector cache)
    uint32_t key;  // name key id (in-use marks)
  };
  struct ConstraintState {
    std::optional<cel::AttributeValue> fixed;  // matchAttribute: the first device's value
    int holders = 0;
    std::vector<cel::AttributeValue> seen;  // distinctAttribute
  };

  bool selector_matches(const NodeSelector& selector) const {
    return node_object_ ? matches(selector, *node_object_) : matches(selector, Node{node_, {}});
  }
  bool device_reaches(const Device& d) const {
    if (d.all_nodes) return true;
    if (d.node_name) return *d.node_name == node_;
    if (d.node_selector) return selector_matches(*d.node_selector);
    return false;
  }

  // 1 match, 0 no match, -1 error (error_ set). Cached per program and device.
  int evaluate(uint32_t program, const NodeDevice& d, const std::string& where,
               const std::string& whose) {
    const uint64_t key = (uint64_t{program} << 32) | d.id;
    if (auto it = state_.selector_results.find(key); it != state_.selector_results.end())
      return it->second;
    cel::DeviceView view{d.slice->driver, &d.device->attributes, &d.device->capacity,
                         d.device->allow_multiple_allocations};
    const cel::Program& p = state_.programs[program];
    auto r = p.evaluate(view);
    if (!r) {
      error_ =
          fmt::format("{}: {} selector \"{}\" on device {}/{}/{}: {}", where, whose, p.source(),
                      d.slice->driver, d.slice->pool, d.device->name, r.error().message);
      return -1;
    }
    state_.selector_results.emplace(key, *r);
    return *r ? 1 : 0;
  }

  const Candidates* candidates(size_t slot_index, size_t option) {
    auto& cached = candidates_[slot_index][option];
    if (cached) return &*cached;
    const Slot& slot = slots_[slot_index];
    const DeviceSelection& sel = *slot.options[option];
    const ResourceClaim& claim = claims_[slot.claim];
    const std::string where = fmt::format("ResourceClaim {}/{}: request {}", claim.name_space,
                                          claim.name, request_name(slot_index, sel));
    auto cls_it = state_.classes.find(sel.device_class_name);
    if (cls_it == state_.classes.end()) {
      error_ = fmt::format("{}: could not retrieve device class {}", where, sel.device_class_name);
      return nullptr;
    }
    const DeviceClass& cls = *cls_it->second;
    std::vector<uint32_t> class_programs, request_programs;
    for (size_t i = 0; i < cls.selectors.size(); ++i) {
      auto p = state_.program(cls.selectors[i],
                              fmt::format("DeviceClass {}: spec.selectors[{}]", cls.name, i));
      if (!p) {
        error_ = p.error().message;
        return nullptr;
      }
      class_programs.push_back(*p);
    }
    for (size_t i = 0; i < sel.selectors.size(); ++i) {
      auto p = state_.program(sel.selectors[i], fmt::format("{}: selectors[{}]", where, i));
      if (!p) {
        error_ = p.error().message;
        return nullptr;
      }
      request_programs.push_back(*p);
    }
    Candidates c;
    const std::string class_whose = "class " + cls.name;
    for (uint32_t i = 0; i < devices_.size(); ++i) {
      const NodeDevice& d = devices_[i];
      ++c.stats.considered;
      const bool taken = state_.in_use[d.key] != 0;
      // A device in use cannot serve an ExactCount request: skip its selectors (and their
      // cost) unless the request has admin access or takes All devices.
      if (taken && !sel.admin_access && !sel.all) {
        ++c.stats.in_use;
        continue;
      }
      int ok = 1;
      for (uint32_t p : class_programs) {
        ok = evaluate(p, d, where, class_whose);
        if (ok <= 0) break;
      }
      if (ok < 0) return nullptr;
      if (ok == 0) {
        ++c.stats.class_rejected;
        continue;
      }
      for (uint32_t p : request_programs) {
        ok = evaluate(p, d, where, "the request's");
        if (ok <= 0) break;
      }
      if (ok < 0) return nullptr;
      if (ok == 0) {
        ++c.stats.selector_rejected;
        continue;
      }
      if (sel.all && !pools_[d.pool].complete) c.incomplete_pool = true;
      if (taken && !sel.admin_access) {
        ++c.stats.in_use;  // All mode: counted, and it cannot be satisfied
        continue;
      }
      bool tolerated = true;
      for (const auto& taint : d.device->taints) {
        if (!tolerates(sel.tolerations, taint)) {
          tolerated = false;
          if (c.stats.untolerated_example.empty()) {
            c.stats.untolerated_example =
                fmt::format("{}={}:{}", taint.key, taint.value, taint.effect);
          }
        }
      }
      if (!tolerated) {
        ++c.stats.untolerated;
        continue;
      }
      c.devices.push_back(i);
    }
    cached = std::move(c);
    return &*cached;
  }

  bool place(size_t slot_index) {
    if (slot_index == slots_.size()) return true;
    const Slot& slot = slots_[slot_index];
    for (size_t o = 0; o < slot.options.size(); ++o) {
      const Candidates* c = candidates(slot_index, o);
      if (!c) return false;
      const DeviceSelection& sel = *slot.options[o];
      if (sel.all) {
        if (c->incomplete_pool) {
          const ResourceClaim& claim = claims_[slot.claim];
          error_ = fmt::format(
              "ResourceClaim {}/{}: request {} asks for all devices, but a resource pool it "
              "matches is "
              "currently being updated (incomplete)",
              claim.name_space, claim.name, request_name(slot_index, sel));
          return false;
        }
        if (c->stats.in_use > 0 || c->devices.empty()) continue;
      }
      const size_t need = sel.all ? c->devices.size() : static_cast<size_t>(sel.count);
      chosen_option_[slot_index] = o;
      if (choose(slot_index, sel, *c, 0, need)) return true;
      if (!error_.empty()) return false;
    }
    return false;
  }

  // Picks `need` more devices for the slot from candidates [start, end): combinations, not
  // permutations, so n devices are never tried in every order.
  bool choose(size_t slot_index, const DeviceSelection& sel, const Candidates& c, size_t start,
              size_t need) {
    if (need == 0) return place(slot_index + 1);
    if (need > 1 && !enough_left(slot_index, sel, c, start, need)) return false;
    for (size_t i = start; i + need <= c.devices.size(); ++i) {
      if (++steps_ > state_.options.max_steps) {
        error_ = fmt::format("the search gave up after {} steps", state_.options.max_steps);
        return false;
      }
      const uint32_t dev = c.devices[i];
      if (used_[dev] && !sel.admin_access) {
        ++search_.duplicate;
        continue;
      }
      if (!counters_allow(dev)) {
        ++search_.counter_rejected;
        continue;
      }
      if (!constraints_allow(slot_index, sel, dev)) {
        ++search_.constraint_rejected;
        continue;
      }
      take(slot_index, sel, dev);
      if (choose(slot_index, sel, c, i + 1, need - 1)) return true;
      release(slot_index, sel, dev);
      if (!error_.empty()) return false;
    }
    return false;
  }

  // Pruning: are there still `need` free candidates from `start` on that the slot's
  // constraints could accept? With a matchAttribute value fixed, only devices with that value
  // count; with distinctAttribute, only as many as there are unseen values. Without this, a
  // request for more devices than share a value walks every combination of those that do.
  bool enough_left(size_t slot_index, const DeviceSelection& sel, const Candidates& c, size_t start,
                   size_t need) {
    size_t free_left = 0;
    for (size_t i = start; i < c.devices.size(); ++i)
      free_left += !used_[c.devices[i]] || sel.admin_access;
    if (free_left < need) return false;
    bool enough = true;
    const size_t claim = slots_[slot_index].claim;
    for_constraints(slot_index, sel, [&](size_t k, const DeviceConstraint& constraint) {
      if (!enough) return;
      const ConstraintState& state = constraint_state_[{claim, k}];
      const std::string& attr =
          constraint.match_attribute ? *constraint.match_attribute : *constraint.distinct_attribute;
      if (constraint.match_attribute && !state.fixed) return;
      size_t fitting = 0;
      std::vector<const cel::AttributeValue*> values;
      for (size_t i = start; i < c.devices.size() && fitting < need; ++i) {
        const uint32_t dev = c.devices[i];
        if (used_[dev] && !sel.admin_access) continue;
        const cel::AttributeValue* v =
            find_attribute(*devices_[dev].device, devices_[dev].slice->driver, attr);
        if (!v) continue;
        if (constraint.match_attribute) {
          fitting += same_value(*state.fixed, *v);
          continue;
        }
        bool fresh = true;
        for (const auto& seen : state.seen) fresh = fresh && !same_value(seen, *v);
        for (const auto* other : values) fresh = fresh && !same_value(*other, *v);
        if (fresh) {
          values.push_back(v);
          ++fitting;
        }
      }
      enough = fitting >= need;
      if (!enough) {
        ++search_.constraint_rejected;
        if (search_.constraint_example.empty() || fitting > best_fitting_) {
          best_fitting_ = std::max(best_fitting_, fitting);
          search_.constraint_example =
              constraint.match_attribute
                  ? fmt::format("matchAttribute {}: at most {} candidates share a value, {} needed",
                                attr, best_fitting_ + 1, need + 1)
                  : fmt::format("distinctAttribute {}: only {} more distinct values, {} needed",
                                attr, fitting, need);
        }
      }
    });
    return enough;
  }

  bool counters_allow(uint32_t dev) const {
    const NodeDevice& d = devices_[dev];
    const Pool& pool = pools_[d.pool];
    for (const auto& use : d.device->consumes_counters) {
      auto set = pool.remaining.find(use.counter_set);
      if (set == pool.remaining.end()) return false;
      for (const auto& [name, q] : use.counters) {
        auto have = set->second.find(name);
        if (have == set->second.end() || have->second.compare(q) < 0) return false;
      }
    }
    return true;
  }

  void consume(uint32_t dev, int direction) {
    const NodeDevice& d = devices_[dev];
    Pool& pool = pools_[d.pool];
    for (const auto& use : d.device->consumes_counters) {
      auto set = pool.remaining.find(use.counter_set);
      if (set == pool.remaining.end()) continue;
      for (const auto& [name, q] : use.counters) {
        auto have = set->second.find(name);
        if (have == set->second.end()) continue;
        auto next = direction > 0 ? have->second.sub(q) : have->second.add(q);
        if (next) have->second = *next;
      }
    }
  }

  template <typename F>
  void for_constraints(size_t slot_index, const DeviceSelection& sel, F&& f) const {
    const Slot& slot = slots_[slot_index];
    const auto& constraints = claims_[slot.claim].constraints;
    for (size_t k = 0; k < constraints.size(); ++k) {
      const auto& reqs = constraints[k].requests;
      const bool covers =
          reqs.empty() || std::find(reqs.begin(), reqs.end(), slot.request->name) != reqs.end() ||
          (!sel.name.empty() &&
           std::find(reqs.begin(), reqs.end(), slot.request->name + "/" + sel.name) != reqs.end());
      if (covers) f(k, constraints[k]);
    }
  }

  bool constraints_allow(size_t slot_index, const DeviceSelection& sel, uint32_t dev) {
    const NodeDevice& d = devices_[dev];
    const size_t claim = slots_[slot_index].claim;
    bool ok = true;
    for_constraints(slot_index, sel, [&](size_t k, const DeviceConstraint& constraint) {
      if (!ok) return;
      const std::string& attr =
          constraint.match_attribute ? *constraint.match_attribute : *constraint.distinct_attribute;
      const cel::AttributeValue* value = find_attribute(*d.device, d.slice->driver, attr);
      const ConstraintState& state = constraint_state_[{claim, k}];
      bool good = value != nullptr;
      if (good && constraint.match_attribute && state.fixed)
        good = same_value(*state.fixed, *value);
      if (good && constraint.distinct_attribute) {
        for (const auto& v : state.seen) good = good && !same_value(v, *value);
      }
      if (!good) {
        ok = false;
        if (search_.constraint_example.empty()) {
          search_.constraint_example = fmt::format(
              "{} {}: device {}/{}/{} {}",
              constraint.match_attribute ? "matchAttribute" : "distinctAttribute", attr,
              d.slice->driver, d.slice->pool, d.device->name,
              value ? (constraint.match_attribute ? "has a different value" : "repeats a value")
                    : "lacks the attribute");
        }
      }
    });
    return ok;
  }

  void take(size_t slot_index, const DeviceSelection& sel, uint32_t dev) {
    if (!sel.admin_access) used_[dev] = true;
    consume(dev, +1);
    picks_.emplace_back(slot_index, dev);
    const NodeDevice& d = devices_[dev];
    const size_t claim = slots_[slot_index].claim;
    for_constraints(slot_index, sel, [&](size_t k, const DeviceConstraint& constraint) {
      const std::string& attr =
          constraint.match_attribute ? *constraint.match_attribute : *constraint.distinct_attribute;
      const cel::AttributeValue* value = find_attribute(*d.device, d.slice->driver, attr);
      ConstraintState& state = constraint_state_[{claim, k}];
      if (constraint.match_attribute) {
        if (state.holders++ == 0) state.fixed = *value;
      } else {
        state.seen.push_back(*value);
      }
    });
  }

  void release(size_t slot_index, const DeviceSelection& sel, uint32_t dev) {
    if (!sel.admin_access) used_[dev] = false;
    consume(dev, -1);
    picks_.pop_back();
    const size_t claim = slots_[slot_index].claim;
    for_constraints(slot_index, sel, [&](size_t k, const DeviceConstraint& constraint) {
      ConstraintState& state = constraint_state_[{claim, k}];
      if (constraint.match_attribute) {
        if (--state.holders == 0) state.fixed.reset();
      } else {
        state.seen.pop_back();
      }
    });
  }

  State& state_;
  const std::vector<ResourceClaim>& claims_;
  const std::vector<Slot>& slots_;
  std::string node_;
  const Node* node_object_ = nullptr;
  uint64_t steps_ = 0;
  std::string error_;

  std::vector<Pool> pools_;
  std::vector<NodeDevice> devices_;
  std::vector<bool> used_;
  size_t free_devices_ = 0;
  size_t short_of_devices_ = 0;
  size_t best_fitting_ = 0;  // the most devices sharing a matchAttribute value seen by a prune
  std::vector<std::vector<std::optional<Candidates>>> candidates_;
  std::vector<size_t> chosen_option_;
  std::vector<std::pair<size_t, uint32_t>> picks_;
  std::map<std::pair<size_t, size_t>, ConstraintState> constraint_state_;
  SearchStats search_;
};

}  // namespace

Allocator::Allocator(const Inputs& cluster, AllocatorOptions options)
    : state_(std::make_unique<State>(cluster, std::move(options))) {
  State& s = *state_;
  uint32_t next_id = 0;
  std::set<std::string> names;
  for (const auto& slice : cluster.slices) {
    auto [pool, first_of_pool] = s.pools.try_emplace({slice.driver, slice.pool});
    pool->second.generation =
        first_of_pool ? slice.generation : std::max(pool->second.generation, slice.generation);
    if (slice.node_name) {
      s.node_local[*slice.node_name].push_back(&slice);
      names.insert(*slice.node_name);
    } else {
      s.shared.push_back(&slice);
    }
    s.first_device_id[&slice] = next_id;
    for (const auto& d : slice.devices) {
      s.key_of_device.push_back(s.key_id(device_key(slice.driver, slice.pool, d.name)));
      if (d.node_name) names.insert(*d.node_name);
      ++next_id;
    }
  }
  // Slices of each pool's newest generation (a second pass: the newest is known now).
  for (auto& [key, info] : s.pools) info.slices = 0;
  for (const auto& slice : cluster.slices) {
    PoolInfo& info = s.pools[{slice.driver, slice.pool}];
    if (slice.generation == info.generation) {
      ++info.slices;
      info.expected = slice.resource_slice_count;
    }
  }
  // Free-device counts (newest generations only), before the in-use marks below.
  for (const auto& slice : cluster.slices) {
    if (slice.generation != s.pools.at({slice.driver, slice.pool}).generation) continue;
    const uint32_t first = s.first_device_id.at(&slice);
    for (size_t i = 0; i < slice.devices.size(); ++i) {
      const uint32_t key = s.key_of_device[first + i];
      if (slice.node_name) {
        s.node_of_key[key] = &*slice.node_name;
        ++s.node_local_free[*slice.node_name];
      } else {
        ++s.shared_free;
      }
    }
  }
  for (const auto& n : cluster.nodes) {
    names.insert(n.name);
    s.node_objects[n.name] = &n;
  }
  for (const auto& c : cluster.classes) s.classes[c.name] = &c;
  if (s.options.node) {
    s.nodes.push_back(*s.options.node);
  } else {
    s.nodes.assign(names.begin(), names.end());
    if (s.nodes.empty()) s.nodes.push_back("");  // only cluster-wide devices: any node
  }
  for (const auto& claim : cluster.claims) {
    for (const auto& d : claim.allocated_devices) s.mark(d);
  }
  for (const auto& d : s.options.extra_in_use) s.mark(d);
}

Allocator::~Allocator() = default;

void Allocator::commit(const Allocation& allocation) {
  for (const auto& claim : allocation.claims) {
    for (const auto& d : claim.results) state_->mark(d);
  }
}

Result<Allocation> Allocator::allocate(const std::vector<ResourceClaim>& claims) {
  State& s = *state_;
  std::vector<Slot> slots;
  std::vector<size_t> pending;
  for (size_t c = 0; c < claims.size(); ++c) {
    const ResourceClaim& claim = claims[c];
    if (claim.allocated) continue;
    pending.push_back(c);
    int64_t exact = 0;
    for (const auto& r : claim.requests) {
      Slot slot{c, &r, {}};
      if (r.exactly) {
        slot.options.push_back(&*r.exactly);
        if (!r.exactly->all) exact += r.exactly->count;
      } else {
        for (const auto& sub : r.first_available) slot.options.push_back(&sub);
      }
      slots.push_back(std::move(slot));
    }
    if (exact > static_cast<int64_t>(kMaxDevicesPerClaim)) {
      return fail("ResourceClaim {}/{}: asks for {} devices, which exceeds the claim limit of {}",
                  claim.name_space, claim.name, exact, kMaxDevicesPerClaim);
    }
  }
  Allocation result;
  if (pending.empty()) {
    result.ok = true;
    return result;
  }
  int64_t least_needed = 0;
  for (const auto& slot : slots) {
    int64_t least = INT64_MAX;
    for (const DeviceSelection* sel : slot.options) {
      least = std::min<int64_t>(least, sel->admin_access ? 0 : sel->all ? 1 : sel->count);
    }
    least_needed += least;
  }
  // Nodes with no free device at all stay full (commits only take devices): they are
  // skipped for good, so filling a cluster in name order does not rescan its full part.
  while (s.first_open < s.nodes.size() && s.free_upper_bound(s.nodes[s.first_open]) == 0)
    ++s.first_open;
  // (Admin-access requests may use devices in use: they search full nodes too.)
  const size_t first_node = least_needed > 0 ? s.first_open : 0;
  // Nodes passed over for lack of free devices; their reasons are written only if no node fits.
  std::vector<std::pair<size_t, int64_t>> too_full;
  auto report_too_full = [&] {
    if (first_node > 0) {
      result.not_fitting.push_back(
          {fmt::format("{} .. {}", s.nodes.front(), s.nodes[first_node - 1]),
           {fmt::format("all {} nodes have no free device", first_node)}});
    }
    for (auto [n, free] : too_full) {
      result.not_fitting.push_back(
          {s.nodes[n].empty() ? "(any node)" : s.nodes[n],
           {fmt::format("at most {} free devices reach this node; the claims need at least {}",
                        free, least_needed)}});
    }
  };
  for (size_t n = first_node; n < s.nodes.size(); ++n) {
    const std::string& node = s.nodes[n];
    if (const int64_t free = s.free_upper_bound(node); free < least_needed) {
      too_full.emplace_back(n, free);
      continue;
    }
    NodeSearch search(s, claims, slots, node);
    if (auto g = search.gather(); !g) return fail(g.error());
    auto found = search.run();
    if (!found) return fail(found.error());
    if (!*found) {
      result.not_fitting.push_back({node.empty() ? "(any node)" : node, search.reasons()});
      continue;
    }
    result.ok = true;
    result.node = node;
    for (size_t c : pending) {
      ClaimAllocation a;
      a.claim = c;
      const ResourceClaim& claim = claims[c];
      for (size_t i = 0; i < slots.size(); ++i) {
        if (slots[i].claim != c) continue;
        auto devices = search.results_for(i);
        a.results.insert(a.results.end(), devices.begin(), devices.end());
        const DeviceSelection* sel = search.chosen(i);
        if (auto cls = s.classes.find(sel->device_class_name); cls != s.classes.end()) {
          for (const auto& cfg : cls->second->config) {
            a.config.push_back({"FromClass", {search.request_name(i, *sel)}, cfg});
          }
        }
      }
      if (a.results.size() > kMaxDevicesPerClaim) {
        return fail("ResourceClaim {}/{}: {} devices exceed the claim limit of {}",
                    claim.name_space, claim.name, a.results.size(), kMaxDevicesPerClaim);
      }
      for (const auto& cfg : claim.config)
        a.config.push_back({"FromClaim", cfg.requests, cfg.opaque});
      a.node_selector = search.node_selector_for(c);
      result.claims.push_back(std::move(a));
    }
    return result;
  }
  // Nothing fits: the explanation lists every node, the full ones first.
  std::vector<NodeReport> searched = std::move(result.not_fitting);
  result.not_fitting.clear();
  report_too_full();
  for (auto& r : searched) result.not_fitting.push_back(std::move(r));
  return result;
}

Result<Allocation> allocate(const Inputs& inputs, const AllocatorOptions& options) {
  Allocator allocator(inputs, options);
  return allocator.allocate(inputs.claims);
}

}  // namespace kgai::dra
