#include "catalog/catalog.h"

#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "catalog/builtin_data.h"
#include "catalog/catalog_loader.h"

namespace kgai::catalog {
namespace {

Result<Catalog> load_builtin() {
  Catalog catalog;
  for (const auto& file : internal::builtin_files()) {
    if (auto ok = catalog.load_text(file.text, file.name); !ok) return fail(ok.error());
  }
  return catalog;
}

// "name (alias, alias)" for each entry: what an unknown-name error offers instead.
template <typename Spec>
std::string known_names(const std::vector<Spec>& entries) {
  std::vector<std::string> names;
  for (const auto& entry : entries) {
    if (entry.aliases.empty()) {
      names.push_back(entry.name);
    } else {
      names.push_back(fmt::format("{} ({})", entry.name, fmt::join(entry.aliases, ", ")));
    }
  }
  return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, "; "));
}

template <typename Spec>
Result<const Spec*> find(const std::vector<Spec>& entries, std::string_view name,
                         std::string_view kind) {
  for (const auto& entry : entries) {
    if (internal::answers_to(entry, name)) return &entry;
  }
  return fail("unknown {} '{}'; known {}s: {}", kind, name, kind, known_names(entries));
}

}  // namespace

Result<Catalog> Catalog::builtin() {
  // Parsed once: the embedded text never changes while the process runs.
  static const Result<Catalog> kBuiltin = load_builtin();
  return kBuiltin;
}

Result<void> Catalog::load_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (std::filesystem::exists(path, ec)) {
      return fail("{}: cannot read catalog: not a regular file", path.string());
    }
    return fail("{}: cannot read catalog: no such file", path.string());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return fail("{}: cannot open catalog for reading", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail("{}: cannot read catalog", path.string());
  return load_text(text.str(), path.string());
}

Result<void> Catalog::load_text(std::string_view yaml, std::string_view source_name) {
  // All or nothing: a bad entry late in the file leaves the catalog as it was.
  std::vector<ModelSpec> models = models_;
  std::vector<AcceleratorSpec> accelerators = accelerators_;
  if (auto ok = internal::apply_catalog_yaml(yaml, source_name, models, accelerators); !ok) {
    return ok;
  }
  models_ = std::move(models);
  accelerators_ = std::move(accelerators);
  return {};
}

Result<const ModelSpec*> Catalog::model(std::string_view name) const {
  return find(models_, name, "model");
}

Result<const AcceleratorSpec*> Catalog::accelerator(std::string_view name) const {
  return find(accelerators_, name, "accelerator");
}

}  // namespace kgai::catalog
