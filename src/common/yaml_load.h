// YAML::LoadAll without the endless loop of yaml-cpp 0.7 (the version Debian bookworm ships)
// on some malformed input. Its LoadAll keeps calling HandleNextDocument while the parser
// returns true; on a token no node can start with (a stray ',' after a value, among others)
// the parser reports a null document without consuming the token, forever, and the list of
// null documents grows until memory runs out. yaml-cpp fixed it upstream in 2024 (its pull
// requests 1318 and 1319); found here by tests/fuzz. Every multi-document reader of kgai uses
// this instead of YAML::LoadAll.
//
// It also requires UTF-8, as YAML 1.2 does: yaml-cpp passes other bytes through into strings,
// where nlohmann's dump() throws on them later (found by tests/fuzz/dra_objects_fuzz.cpp). And
// it encodes the escapes "\N" and "\_" as UTF-8, which yaml-cpp 0.7 writes as the single
// bytes 0x85 and 0xA0.
#pragma once

#include <string_view>
#include <vector>

namespace YAML {
class Node;
}

namespace kgai {

// The documents of `text`, as YAML::LoadAll returns them. Throws YAML::ParserException (as
// yaml-cpp does for other syntax errors) at the first document the parser cannot get past, or
// at the first line that is not UTF-8.
std::vector<YAML::Node> load_yaml_documents(std::string_view text);

}  // namespace kgai
