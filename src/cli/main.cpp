// kgai: one binary, one subcommand per job. Each subcommand lives in its own file and
// registers itself here; errors become messages on stderr and exit codes
// (0 ok, 1 a "no" answer, 2 bad input or failure).
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "common/log.h"

int main(int argc, char** argv) {
  CLI::App app{
      "kgai: fast, AI-aware serving tools for generative AI on Kubernetes.\n"
      "Run 'kgai <command> --help' for the options of a command."};
  app.require_subcommand(1);
  // A flag given twice takes its last value, as in most command-line tools (scripts append
  // overrides to a base command line).
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  kgai::log::init("info");
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->each([](const std::string& level) {
        if (!kgai::log::init(level)) throw CLI::ValidationError("--log-level", "unknown level");
      });
  app.set_version_flag("--version", "kgai 0.1.0");

  int exit_code = 0;
  kgai::cli::add_sim_command(app, exit_code);
  kgai::cli::add_perf_command(app, exit_code);
  kgai::cli::add_gateway_command(app, exit_code);
  kgai::cli::add_demo_command(app, exit_code);
  kgai::cli::add_dra_command(app, exit_code);
  kgai::cli::add_quickstart_command(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
