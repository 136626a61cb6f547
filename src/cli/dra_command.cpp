// `kgai dra`: the Dynamic Resource Allocation allocator as a tool. `allocate` answers "will
// these claims fit, where, and if not, why not"; `fit` answers "how many copies fit".
#include <map>
#include <memory>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/log.h"
#include "dra/allocator.h"
#include "dra/object_reader.h"
#include "dra/output.h"

namespace kgai::cli {
namespace {

struct DraFlags {
  std::vector<std::string> files;
  std::string node;
  std::string output = "yaml";
  std::string claim_file;
  int max_copies = 1000;
};

void print(const nlohmann::ordered_json& value, const std::string& format) {
  if (format == "json") {
    fmt::print("{}\n", value.dump(2));
  } else {
    fmt::print("{}", dra::to_yaml(value));
  }
}

int run_allocate(const DraFlags& f) {
  auto inputs = dra::read_input_files(f.files);
  if (!inputs) {
    log::error("{}", inputs.error().message);
    return 2;
  }
  dra::AllocatorOptions options;
  if (!f.node.empty()) options.node = f.node;
  auto allocation = dra::allocate(*inputs, options);
  if (!allocation) {
    log::error("{}", allocation.error().message);
    return 2;
  }
  if (!allocation->ok) {
    if (f.output == "json") {
      print(dra::explanation(*allocation), "json");
    } else {
      fmt::print("{}", dra::explanation_text(*allocation));
    }
    return 1;
  }
  print(dra::allocated_list(*inputs, *allocation), f.output);
  return 0;
}

int run_fit(const DraFlags& f) {
  auto cluster = dra::read_input_files(f.files);
  if (!cluster) {
    log::error("{}", cluster.error().message);
    return 2;
  }
  auto template_inputs = dra::read_input_files({f.claim_file});
  if (!template_inputs) {
    log::error("{}", template_inputs.error().message);
    return 2;
  }
  if (template_inputs->claims.empty()) {
    log::error("{}: no ResourceClaim in it", f.claim_file);
    return 2;
  }
  // Classes may come with the claim file too.
  for (auto& c : template_inputs->classes) cluster->classes.push_back(std::move(c));
  dra::AllocatorOptions options;
  if (!f.node.empty()) options.node = f.node;
  dra::Allocator allocator(*cluster, options);
  std::map<std::string, int> per_node;
  int copies = 0;
  dra::Allocation last;
  while (copies < f.max_copies) {
    std::vector<dra::ResourceClaim> batch;
    for (const auto& claim : template_inputs->claims) {
      dra::ResourceClaim copy = claim;
      copy.allocated = false;
      copy.allocated_devices.clear();
      copy.name = fmt::format("{}-{}", claim.name, copies + 1);
      batch.push_back(std::move(copy));
    }
    auto allocation = allocator.allocate(batch);
    if (!allocation) {
      log::error("{}", allocation.error().message);
      return 2;
    }
    if (!allocation->ok) {
      last = std::move(*allocation);
      break;
    }
    allocator.commit(*allocation);
    ++per_node[allocation->node.empty() ? "(any node)" : allocation->node];
    ++copies;
  }
  nlohmann::ordered_json nodes = nlohmann::ordered_json::object();
  for (const auto& [node, n] : per_node) nodes[node] = n;
  nlohmann::ordered_json out = {{"copies", copies}, {"max", f.max_copies}, {"nodes", nodes}};
  if (copies < f.max_copies) out["next_copy"] = dra::explanation(last);
  if (f.output == "json") {
    print(out, "json");
  } else if (f.output == "yaml") {
    print(out, "yaml");
  }
  return 0;
}

}  // namespace

void add_dra_command(CLI::App& app, int& exit_code) {
  auto f = std::make_shared<DraFlags>();
  auto* dra = app.add_subcommand(
      "dra",
      "Dynamic Resource Allocation (resource.k8s.io/v1, Kubernetes 1.34): allocate devices "
      "to ResourceClaims as the scheduler would, explain why claims do not fit, count how "
      "many copies of a claim fit.");
  dra->require_subcommand(1);
  auto* allocate = dra->add_subcommand(
      "allocate",
      "Allocate the claims without status.allocation together (all or nothing) on the first "
      "node that fits; print them as a List with status.allocation. Exit 0: allocated; 1: no "
      "node fits (the output says why, per node and request); 2: invalid input or an error "
      "Kubernetes would report.");
  allocate
      ->add_option("-f,--filename", f->files,
                   "YAML or JSON files with ResourceSlices, DeviceClasses, ResourceClaims and "
                   "Nodes (several documents, or kind: List)")
      ->required();
  allocate->add_option("--node", f->node, "Allocate for this node only");
  allocate->add_option("-o,--output", f->output, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  allocate->callback([&exit_code, f] { exit_code = run_allocate(*f); });

  auto* fit = dra->add_subcommand(
      "fit",
      "How many copies of a claim (or of a pod's set of claims) fit on the cluster, and on "
      "which nodes: allocates copy after copy until one does not fit.");
  fit->add_option("-f,--filename", f->files,
                  "The cluster: ResourceSlices, DeviceClasses, Nodes, "
                  "allocated claims")
      ->required();
  fit->add_option("--claim", f->claim_file, "The claim(s) to copy (and optionally classes)")
      ->required();
  fit->add_option("--max", f->max_copies, "Stop after this many copies")->capture_default_str();
  fit->add_option("--node", f->node, "Only this node");
  fit->add_option("-o,--output", f->output, "yaml or json")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  fit->callback([&exit_code, f] { exit_code = run_fit(*f); });
}

}  // namespace kgai::cli
