// The static endpoint list: the endpoints file (YAML, watched for edits by
// EndpointsFileWatcher) and the --endpoints flag. Kubernetes discovery produces the same
// std::vector<Endpoint> from the pods of an InferencePool.
#pragma once

#include <string_view>
#include <vector>

#include "common/result.h"
#include "gateway/endpoint.h"

namespace kgai::gateway {

// Reads an endpoints file:
//
//   endpoints:
//     - address: 10.0.0.1:8000
//       engine: vllm          # vllm | sglang | trtllm | triton (default vllm)
//       labels: {zone: a}
//
// Strict, because a typo here silently routes with the wrong metric names: an unknown key,
// a bad address or engine, a duplicate key or address is an error naming `source`, the key
// path and the line, e.g. "endpoints.yaml: endpoints[1].engin: unknown key; did you mean
// 'engine'? (line 5)". IPv6 addresses must be quoted ("[::1]:8000"), or YAML reads a list.
// `endpoints: []` is a valid empty pool; a document without `endpoints` is an error (an
// empty file is more often a half-written one than an intent to drain the pool).
Result<std::vector<Endpoint>> parse_endpoints_yaml(std::string_view text, std::string_view source);

// Reads and parses the file at `path` (errors name the path).
Result<std::vector<Endpoint>> load_endpoints_file(std::string_view path);

// "HOST:PORT,HOST:PORT" (the --endpoints flag), spaces around items allowed; every endpoint
// gets the default engine. Empty items, bad addresses and duplicates are errors.
Result<std::vector<Endpoint>> parse_endpoint_list(std::string_view csv);

}  // namespace kgai::gateway
