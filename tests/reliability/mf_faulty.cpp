// mf_faulty: runs mf-tune or mf-db exactly as their executables do, over the faulty VFS
// (faulty_vfs.h), which kills the process with SIGKILL at a chosen write point.
//
//   mf_faulty [--kill-at N] [--count-to FILE] mf-tune|mf-db ARGS...
//
// --kill-at N: die at the Nth write point (1-based; default 0: never). --count-to FILE:
// write the number of write points seen to FILE when the command returns. The exit status
// is the command's; a kill leaves the status of SIGKILL.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "faulty_vfs.h"
#include "mf_db.h"
#include "mf_tune.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::int64_t kill_at = 0;
  std::string count_to;
  std::size_t i = 0;
  for (; i + 1 < args.size() && args[i].rfind("--", 0) == 0; i += 2) {
    if (args[i] == "--kill-at") kill_at = std::strtoll(args[i + 1].c_str(), nullptr, 10);
    else if (args[i] == "--count-to") count_to = args[i + 1];
    else break;
  }
  if (i >= args.size() || (args[i] != "mf-tune" && args[i] != "mf-db")) {
    std::cerr << "usage: mf_faulty [--kill-at N] [--count-to FILE] mf-tune|mf-db ARGS...\n";
    return 2;
  }
  mf::reliability::install_faulty_vfs(kill_at);
  const std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  const int status = args[i] == "mf-tune" ? mf::tools::mf_tune(command, std::cout, std::cerr)
                                          : mf::tools::mf_db(command, std::cout, std::cerr);
  if (!count_to.empty()) std::ofstream(count_to) << mf::reliability::write_points() << "\n";
  return status;
}
