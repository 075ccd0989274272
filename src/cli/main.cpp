// parallax: the command-line face of libparallax (public C API only).
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"

int main(int argc, char** argv) {
  using namespace plx::cli;
  CLI::App app{"parallax - plan and run heavy image-processing loops on this machine's CPUs and OpenCL devices"};
  app.set_version_flag("--version", std::string("parallax ") + plx_version_string());
  app.require_subcommand(1);
  std::vector<Command> commands = {add_info_command(app), add_plan_command(app), add_bench_command(app),
                                   add_stack_command(app), add_coadd_command(app), add_tune_command(app)};
  // CLI11 would only say "a subcommand is required": name the unknown one.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "parallax: error: unknown command '" << argv[1] << "' (commands: " << names << ")\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or --help); its own codes (105, 106...) are
    // not what scripts test for: a usage error is 2, as documented.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (const Command& command : commands)
      if (int rc = command(); rc >= 0) return rc;
  } catch (const Failure& failure) {
    std::cerr << "parallax: error: " << failure.message << " [" << plx_status_string(failure.status) << "]\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "parallax: error: " << e.what() << "\n";
    return 1;
  }
  return 1;
}
