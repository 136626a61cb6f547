// Reads the objects kgai dra works on from YAML or JSON files: several documents per file,
// or a `kind: List` as `kubectl get -o yaml` prints. Every error names the file, the object
// (kind and name) and the field path, e.g.
//   cluster.yaml: ResourceSlice node-1-gpus: spec.devices[2].attributes.model: needs exactly
//   one of int, bool, string, version
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "dra/objects.h"

namespace kgai::dra {

// The documents of one file as JSON values, List items expanded; `source` names the file in
// errors. YAML scalars get JSON types by the YAML 1.2 core schema (quoted ones stay strings).
Result<std::vector<nlohmann::ordered_json>> read_documents(std::string_view text,
                                                           std::string_view source);

// One object into `inputs` by its kind (ResourceSlice, DeviceClass, ResourceClaim of
// resource.k8s.io/v1; Node of v1). Other kinds are skipped: returns false for them.
Result<bool> add_object(const nlohmann::ordered_json& object, std::string_view source,
                        Inputs& inputs);

// Every file, in order. Errors for an unreadable file, bad YAML/JSON, or an invalid object.
Result<Inputs> read_input_files(const std::vector<std::string>& paths);

// "gpu.nvidia.com/productName" -> {"gpu.nvidia.com", "productName"}; "model" -> {driver,
// "model"}.
std::pair<std::string, std::string> split_qualified_name(std::string_view name,
                                                         std::string_view driver);

}  // namespace kgai::dra
