#include "catalog/catalog_loader.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <span>
#include <string>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "catalog/yaml_reader.h"
#include "common/yaml_load.h"

namespace kgai::catalog::internal {
namespace {

// ---- Field tables: one row per YAML key, with the function that reads it into a spec. ----

template <typename Spec>
struct Field {
  std::string_view key;
  bool required;  // for a new entry; an override may give any subset
  Result<void> (*apply)(Spec&, const YAML::Node&, const NodePath&);
};

template <typename Spec, int Spec::*kMember>
Result<void> positive_int(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_positive_int(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = *value;
  return {};
}

template <typename Spec, int Spec::*kMember>
Result<void> non_negative_int(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_non_negative_int(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = *value;
  return {};
}

// The YAML number times kScale: the file says "params_billion: 8.03", the spec holds 8.03e9.
template <typename Spec, double Spec::*kMember, double kScale>
Result<void> positive_scaled(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_positive_number(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = *value * kScale;
  return {};
}

template <typename Spec, double Spec::*kMember, double kScale>
Result<void> non_negative_scaled(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_non_negative_number(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = *value * kScale;
  return {};
}

template <typename Spec, double Spec::*kMember>
Result<void> fraction(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_fraction(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = *value;
  return {};
}

template <typename Spec, double Spec::*kMember>
Result<void> non_negative_fraction(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_non_negative_fraction(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = *value;
  return {};
}

template <typename Spec, std::string Spec::*kMember>
Result<void> string(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_string(node, path);
  if (!value) return fail(value.error());
  spec.*kMember = std::move(*value);
  return {};
}

template <typename Spec>
Result<void> aliases(Spec& spec, const YAML::Node& node, const NodePath& path) {
  auto value = read_string_list(node, path);
  if (!value) return fail(value.error());
  spec.aliases = std::move(*value);
  return {};
}

// `name` is read before the table is applied (it decides which entry the rest updates).
Result<void> skip(auto&, const YAML::Node&, const NodePath&) { return {}; }

constexpr double kBillion = 1e9;
constexpr double kTera = 1e12;
constexpr double kGiga = 1e9;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kMicro = 1e-6;
constexpr double kMilli = 1e-3;

using M = ModelSpec;
constexpr Field<M> kModelFields[] = {
    {"name", true, &skip},
    {"aliases", false, &aliases<M>},
    {"num_layers", true, &positive_int<M, &M::num_layers>},
    {"hidden_size", true, &positive_int<M, &M::hidden_size>},
    {"num_heads", true, &positive_int<M, &M::num_heads>},
    {"num_kv_heads", true, &positive_int<M, &M::num_kv_heads>},
    {"head_dim", true, &positive_int<M, &M::head_dim>},
    {"intermediate_size", true, &positive_int<M, &M::intermediate_size>},
    {"vocab_size", true, &positive_int<M, &M::vocab_size>},
    {"max_model_len", true, &positive_int<M, &M::max_model_len>},
    {"params_billion", true, &positive_scaled<M, &M::num_params, kBillion>},
    {"active_params_billion", false, &positive_scaled<M, &M::active_params, kBillion>},
    {"num_experts", false, &non_negative_int<M, &M::num_experts>},
    {"experts_per_token", false, &non_negative_int<M, &M::experts_per_token>},
    {"bytes_per_param", false, &positive_int<M, &M::bytes_per_param>},
    {"kv_bytes_per_element", false, &positive_int<M, &M::kv_bytes_per_element>},
    {"sliding_window", false, &non_negative_int<M, &M::sliding_window>},
    {"sliding_window_layer_fraction", false,
     &non_negative_fraction<M, &M::sliding_window_layer_fraction>},
};

using E = Efficiency;
constexpr Field<E> kEfficiencyFields[] = {
    {"compute_prefill", false, &fraction<E, &E::compute_prefill>},
    {"compute_decode", false, &fraction<E, &E::compute_decode>},
    {"memory", false, &fraction<E, &E::memory>},
    {"step_fixed_us", false, &non_negative_scaled<E, &E::step_fixed_s, kMicro>},
    {"per_layer_us", false, &non_negative_scaled<E, &E::per_layer_s, kMicro>},
    {"per_request_us", false, &non_negative_scaled<E, &E::per_request_s, kMicro>},
    {"allreduce_latency_us", false, &non_negative_scaled<E, &E::allreduce_latency_s, kMicro>},
    {"frontend_ms", false, &non_negative_scaled<E, &E::frontend_s, kMilli>},
    {"frontend_cpu_ms", false, &non_negative_scaled<E, &E::frontend_cpu_s, kMilli>},
    {"frontend_cpu_us_per_prompt_token", false,
     &non_negative_scaled<E, &E::frontend_cpu_per_prompt_token_s, kMicro>},
    {"frontend_cpu_us_per_output_token", false,
     &non_negative_scaled<E, &E::frontend_cpu_per_output_token_s, kMicro>},
};

template <typename Spec, size_t kSize>
std::vector<std::string_view> keys_of(const Field<Spec> (&fields)[kSize]) {
  std::vector<std::string_view> keys;
  for (const auto& field : fields) keys.push_back(field.key);
  return keys;
}

// Checks the keys of `node` against the table, then applies each key present.
template <typename Spec, size_t kSize>
Result<void> apply_fields(Spec& spec, const YAML::Node& node, const NodePath& path,
                          std::string_view what, const Field<Spec> (&fields)[kSize]) {
  auto known = keys_of(fields);
  if (auto checked = check_map_keys(node, path, what, known); !checked) return checked;
  for (const auto& field : fields) {
    const YAML::Node value = node[std::string(field.key)];
    if (!value.IsDefined()) continue;
    if (auto applied = field.apply(spec, value, path.key(field.key)); !applied) return applied;
  }
  return {};
}

template <typename Spec, size_t kSize>
Result<void> check_required(const YAML::Node& node, const NodePath& path,
                            const Field<Spec> (&fields)[kSize]) {
  std::vector<std::string> missing;
  for (const auto& field : fields) {
    if (field.required && !node[std::string(field.key)].IsDefined()) {
      missing.push_back(fmt::format("'{}'", field.key));
    }
  }
  if (missing.empty()) return {};
  return fail(path.error(node, "missing required key{} {}", missing.size() > 1 ? "s" : "",
                         fmt::join(missing, ", ")));
}

Result<void> efficiency(AcceleratorSpec& spec, const YAML::Node& node, const NodePath& path) {
  return apply_fields(spec.efficiency, node, path, "efficiency factors", kEfficiencyFields);
}

// Merged key by key, so overriding the on-demand price keeps the spot price.
Result<void> prices(AcceleratorSpec& spec, const YAML::Node& node, const NodePath& path) {
  if (!node.IsMap()) {
    return fail(
        path.error(node, "expected a map of pricing model to $ per hour, got {}", describe(node)));
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    auto model = read_string(item.first, path);
    if (!model) return fail(model.error());
    if (!seen.insert(*model).second) {
      return fail(path.error(item.first, "duplicate key '{}'", *model));
    }
    auto price = read_non_negative_number(item.second, path.key(*model));
    if (!price) return fail(price.error());
    spec.price_per_hour[*model] = *price;
  }
  return {};
}

using A = AcceleratorSpec;
constexpr Field<A> kAcceleratorFields[] = {
    {"name", true, &skip},
    {"aliases", false, &aliases<A>},
    {"vendor", false, &string<A, &A::vendor>},
    {"peak_tflops_bf16", true, &positive_scaled<A, &A::peak_flops, kTera>},
    {"memory_gib", true, &positive_scaled<A, &A::memory_bytes, kGiB>},
    {"bandwidth_tb_s", true, &positive_scaled<A, &A::memory_bandwidth, kTera>},
    {"interconnect_gb_s", true, &positive_scaled<A, &A::interconnect_bandwidth, kGiga>},
    {"price_per_hour", false, &prices},
    {"default_max_num_batched_tokens", false, &positive_int<A, &A::default_max_num_batched_tokens>},
    {"default_max_num_seqs", false, &positive_int<A, &A::default_max_num_seqs>},
    {"efficiency", false, &efficiency},
};

// ---- Checks across fields, once an entry is complete. ----

Result<void> validate_model(const ModelSpec& m, const YAML::Node& node, const NodePath& path) {
  if (m.num_heads % m.num_kv_heads != 0) {
    return fail(path.error(node, "num_heads ({}) must be a multiple of num_kv_heads ({})",
                           m.num_heads, m.num_kv_heads));
  }
  if (m.active_params > m.num_params) {
    return fail(path.error(node, "active_params_billion ({}) exceeds params_billion ({})",
                           m.active_params / kBillion, m.num_params / kBillion));
  }
  if (m.num_experts == 0 && m.experts_per_token != 0) {
    return fail(path.error(node, "experts_per_token is {} but num_experts is 0 (a dense model)",
                           m.experts_per_token));
  }
  if (m.num_experts > 0) {
    if (m.experts_per_token < 1 || m.experts_per_token > m.num_experts) {
      return fail(path.error(node,
                             "experts_per_token must be between 1 and num_experts ({}), got {}",
                             m.num_experts, m.experts_per_token));
    }
    // Active = shared + k/E * experts, so active >= total * k/E, whatever the shared part.
    double least_active = m.num_params * m.experts_per_token / m.num_experts;
    if (m.active_params < least_active * (1 - 1e-9)) {
      return fail(path.error(node,
                             "active_params_billion ({}) is below params_billion * "
                             "experts_per_token / num_experts ({:.4g})",
                             m.active_params / kBillion, least_active / kBillion));
    }
  }
  if (m.sliding_window_layer_fraction > 0 && m.sliding_window == 0) {
    return fail(path.error(node, "sliding_window_layer_fraction is set but sliding_window is 0"));
  }
  if (m.bytes_per_param > 8 || m.kv_bytes_per_element > 8) {
    return fail(path.error(node, "bytes_per_param and kv_bytes_per_element must be at most 8"));
  }
  return {};
}

// Fills the defaults that depend on other keys (only for keys this entry did not give).
void fill_model_defaults(ModelSpec& m, const ModelSpec& before, bool is_new,
                         const YAML::Node& node) {
  bool dense_before = is_new || before.active_params == before.num_params;
  if (!node["active_params_billion"].IsDefined() && dense_before) m.active_params = m.num_params;
  if (node["sliding_window"].IsDefined() && !node["sliding_window_layer_fraction"].IsDefined() &&
      m.sliding_window > 0 && m.sliding_window_layer_fraction == 0) {
    m.sliding_window_layer_fraction = 1.0;
  }
}

// vLLM's defaults for its OpenAI server: bigger budgets on GPUs with >= 70 GiB.
void fill_accelerator_defaults(AcceleratorSpec& a, bool is_new, const YAML::Node& node) {
  if (!is_new) return;
  bool big = a.memory_bytes >= 70 * kGiB;
  if (!node["default_max_num_batched_tokens"].IsDefined()) {
    a.default_max_num_batched_tokens = big ? 8192 : 2048;
  }
  if (!node["default_max_num_seqs"].IsDefined()) a.default_max_num_seqs = big ? 1024 : 256;
}

Result<void> validate_entry(const ModelSpec& m, const YAML::Node& node, const NodePath& path) {
  return validate_model(m, node, path);
}

Result<void> validate_entry(const AcceleratorSpec&, const YAML::Node&, const NodePath&) {
  return {};
}

// ---- Applying a list of entries. ----

template <typename Spec>
const Spec* find_entry(const std::vector<Spec>& entries, std::string_view name) {
  for (const auto& entry : entries) {
    if (answers_to(entry, name)) return &entry;
  }
  return nullptr;
}

// Every name and alias must resolve to one entry only.
template <typename Spec>
Result<void> check_names_unique(const Spec& spec, const std::vector<Spec>& entries,
                                const Spec* replaced, std::string_view kind, const YAML::Node& node,
                                const NodePath& path) {
  std::vector<std::string> names = spec.aliases;
  names.push_back(spec.name);
  for (const auto& other : entries) {
    if (&other == replaced) continue;
    for (const auto& name : names) {
      if (answers_to(other, name)) {
        return fail(path.error(node, "'{}' already names {} '{}'", name, kind, other.name));
      }
    }
  }
  return {};
}

template <typename Spec, size_t kSize>
Result<void> apply_entry(const YAML::Node& node, const NodePath& path, std::string_view kind,
                         const Field<Spec> (&fields)[kSize], std::vector<Spec>& entries) {
  if (!node.IsMap()) {
    return fail(path.error(node, "expected a map of {} fields, got {}", kind, describe(node)));
  }
  if (!node["name"].IsDefined()) return fail(path.error(node, "missing required key 'name'"));
  auto name = read_string(node["name"], path.key("name"));
  if (!name) return fail(name.error());

  const Spec* existing = find_entry(entries, *name);
  bool is_new = existing == nullptr;
  Spec spec = is_new ? Spec{} : *existing;
  if (is_new) spec.name = *name;  // an override keeps the canonical name it matched
  // Typos and bad values first: they often explain a "missing" key.
  if (auto ok = apply_fields(spec, node, path, fmt::format("{} fields", kind), fields); !ok) {
    return ok;
  }
  if (is_new) {
    if (auto ok = check_required(node, path, fields); !ok) return ok;
  }
  if constexpr (std::is_same_v<Spec, ModelSpec>) {
    fill_model_defaults(spec, is_new ? spec : *existing, is_new, node);
  } else {
    fill_accelerator_defaults(spec, is_new, node);
  }
  if (auto ok = validate_entry(spec, node, path); !ok) return ok;
  if (auto ok = check_names_unique(spec, entries, existing, kind, node, path); !ok) return ok;

  if (is_new) {
    entries.push_back(std::move(spec));
  } else {
    entries[existing - entries.data()] = std::move(spec);
  }
  return {};
}

template <typename Spec, size_t kSize>
Result<void> apply_list(const YAML::Node& node, const NodePath& path, std::string_view kind,
                        const Field<Spec> (&fields)[kSize], std::vector<Spec>& entries) {
  if (!node.IsSequence()) {
    return fail(path.error(node, "expected a list of {}s, got {}", kind, describe(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) {
    if (auto ok = apply_entry(node[i], path.index(i), kind, fields, entries); !ok) return ok;
  }
  return {};
}

constexpr std::string_view kTopKeys[] = {"models", "accelerators"};

Result<void> apply_document(const YAML::Node& doc, std::string_view source,
                            std::vector<ModelSpec>& models,
                            std::vector<AcceleratorSpec>& accelerators) {
  NodePath root(source, "");
  if (doc.IsNull()) {
    return fail("{}: the file is empty; expected a map with 'models' and/or 'accelerators'",
                source);
  }
  if (!doc.IsMap()) {
    return fail(root.error(doc, "expected a map with 'models' and/or 'accelerators', got {}",
                           describe(doc)));
  }
  if (auto ok = check_map_keys(doc, root, "catalog sections", kTopKeys); !ok) return ok;
  if (!doc["models"].IsDefined() && !doc["accelerators"].IsDefined()) {
    return fail(root.error(doc, "expected 'models' and/or 'accelerators', got an empty map"));
  }
  if (const YAML::Node list = doc["models"]; list.IsDefined()) {
    if (auto ok = apply_list(list, root.key("models"), "model", kModelFields, models); !ok) {
      return ok;
    }
  }
  if (const YAML::Node list = doc["accelerators"]; list.IsDefined()) {
    if (auto ok = apply_list(list, root.key("accelerators"), "accelerator", kAcceleratorFields,
                             accelerators);
        !ok) {
      return ok;
    }
  }
  return {};
}

}  // namespace

std::string fold_case(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<void> apply_catalog_yaml(std::string_view yaml, std::string_view source,
                                std::vector<ModelSpec>& models,
                                std::vector<AcceleratorSpec>& accelerators) {
  try {
    std::vector<YAML::Node> docs = load_yaml_documents(yaml);
    if (docs.size() > 1) {
      return fail("{}: expected one YAML document, found {}", source, docs.size());
    }
    return apply_document(docs.empty() ? YAML::Node() : docs.front(), source, models, accelerators);
  } catch (const YAML::ParserException& e) {
    return fail("{}: YAML syntax error at line {}, column {}: {}", source, e.mark.line + 1,
                e.mark.column + 1, e.msg);
  } catch (const YAML::Exception& e) {
    // Not expected (the readers check every node's type first), but never a crash.
    return fail("{}: {}", source, e.what());
  }
}

}  // namespace kgai::catalog::internal
