// mf-compile: a generator's output for one problem (tools/mf-compile/mf_compile.h).
#include <iostream>
#include <string>
#include <vector>

#include "mf_compile.h"

int main(int argc, char** argv) {
  return mf::tools::mf_compile(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
