// What kgai dra prints: the claims as a `kind: List` with status.allocation filled as
// Kubernetes would, or why no node fits; YAML or JSON.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "dra/allocator.h"

namespace kgai::dra {

// Every input claim, in order; the pending ones with the allocation's status.allocation
// (devices.results, devices.config with FromClass before FromClaim, nodeSelector).
nlohmann::ordered_json allocated_list(const Inputs& inputs, const Allocation& allocation);

// When no node fits: {"allocated": false, "nodes": [{"node", "reasons": [...]}]}.
nlohmann::ordered_json explanation(const Allocation& allocation);
// The same for people: one block per node tried.
std::string explanation_text(const Allocation& allocation);

// JSON as block-style YAML (strings quoted where YAML would read them as something else).
std::string to_yaml(const nlohmann::ordered_json& value);

}  // namespace kgai::dra
