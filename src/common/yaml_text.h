// How a YAML value reads in an error message ("a map", "'abc'"), shared by the strict readers
// of the catalog and of perf configs. Only a declaration of YAML::Node here: yaml-cpp stays
// out of the includers' compile time.
#pragma once

#include <string>

namespace YAML {
class Node;
}

namespace kgai::yaml_text {

// "nothing", "null", "a list", "a map", or the scalar quoted (cut after 40 characters).
std::string describe(const YAML::Node& node);

}  // namespace kgai::yaml_text
