// core/v1 NodeSelector evaluation for DRA: which nodes a ResourceSlice (or a device) reaches.
#pragma once

#include <nlohmann/json.hpp>

#include "dra/objects.h"

namespace kgai::dra {

// True when any term matches: every matchExpressions requirement on the node's labels and
// every matchFields requirement on metadata.name. Gt and Lt compare integers; a label that
// is not an integer does not match them.
bool matches(const NodeSelector& selector, const Node& node);

// The selector as the API's JSON ({"nodeSelectorTerms": [...]}).
nlohmann::ordered_json node_selector_json(const NodeSelector& selector);

}  // namespace kgai::dra
