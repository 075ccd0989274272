// The CLI's subcommands. Each registers its flags on the app and returns the
// function that runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace plx::cli {

using Command = std::function<int()>;

Command add_info_command(CLI::App& app);
Command add_plan_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_stack_command(CLI::App& app);
Command add_coadd_command(CLI::App& app);
Command add_tune_command(CLI::App& app);

}  // namespace plx::cli
