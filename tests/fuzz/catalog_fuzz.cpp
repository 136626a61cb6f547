// The catalog loader (src/catalog/catalog_loader.cpp): the models and accelerators YAML users
// add with --catalog (the schema of data/catalog/*.yaml). Loaded into an empty catalog, so each
// input is read on its own; a loaded entry must then be found by its own name.
#include "catalog/catalog.h"
#include "fuzz/fuzz_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kgai::catalog::Catalog catalog;
  auto loaded = catalog.load_text(kgai::fuzz::as_text(data, size), "fuzz.yaml");
  if (!loaded) return 0;
  for (const auto& model : catalog.models()) FUZZ_CHECK(catalog.model(model.name).has_value());
  for (const auto& accelerator : catalog.accelerators()) {
    FUZZ_CHECK(catalog.accelerator(accelerator.name).has_value());
  }
  return 0;
}
