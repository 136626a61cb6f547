// Registration of the subcommands. Each add_*_command adds its CLI11 subcommand to `app`;
// the subcommand's callback runs the job and stores its exit code in `exit_code`.
#pragma once

namespace CLI {
class App;
}

namespace kgai::cli {

void add_sim_command(CLI::App& app, int& exit_code);
void add_perf_command(CLI::App& app, int& exit_code);
void add_gateway_command(CLI::App& app, int& exit_code);
void add_demo_command(CLI::App& app, int& exit_code);
void add_dra_command(CLI::App& app, int& exit_code);
void add_quickstart_command(CLI::App& app, int& exit_code);
// Parts of `kgai quickstart`, registered by add_quickstart_command.
void add_quickstart_profiles_command(CLI::App& quickstart, int& exit_code);
void add_quickstart_benchmarks_command(CLI::App& quickstart, int& exit_code);
void add_quickstart_manifests_command(CLI::App& quickstart, int& exit_code);
void add_quickstart_report_command(CLI::App& quickstart, int& exit_code);
// `kgai quickstart calibrate`, added to the quickstart subcommand.
void add_quickstart_calibrate_command(CLI::App& quickstart, int& exit_code);

}  // namespace kgai::cli
