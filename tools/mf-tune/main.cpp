// mf-tune: offline tuning into the tuning database (tools/mf-tune/mf_tune.h).
#include <iostream>
#include <string>
#include <vector>

#include "mf_tune.h"

int main(int argc, char** argv) {
  return mf::tools::mf_tune(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
