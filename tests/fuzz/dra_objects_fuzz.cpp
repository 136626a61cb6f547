// DRA's object reader (src/dra/object_reader.h): the YAML or JSON files of ResourceSlices,
// DeviceClasses, ResourceClaims and Nodes that `kgai dra` reads (several documents, or a
// `kind: List`). Every document is read into the inputs as the command does.
#include "dra/object_reader.h"
#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto documents = kgai::dra::read_documents(kgai::fuzz::as_text(data, size), "fuzz.yaml");
  if (!documents) return 0;
  kgai::dra::Inputs inputs;
  for (const auto& document : *documents) {
    if (!kgai::dra::add_object(document, "fuzz.yaml", inputs)) break;
  }
  return 0;
}
