// mf-db's command function run in-process, as the tools tests call it: its exit status and
// what it wrote to stdout and stderr.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "mf_db.h"

namespace mf::tools::testing {

struct Outcome {
  int status;
  std::string out, err;
};

inline Outcome mf_db_run(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int status = mf_db(args, out, err);
  return {status, out.str(), err.str()};
}

}  // namespace mf::tools::testing
