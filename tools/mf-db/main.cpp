// mf-db: the tuning database's command line (tools/mf-db/mf_db.h).
#include <iostream>
#include <string>
#include <vector>

#include "mf_db.h"

int main(int argc, char** argv) {
  return mf::tools::mf_db(std::vector<std::string>(argv + 1, argv + argc), std::cout, std::cerr);
}
