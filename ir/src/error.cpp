#include "mf/ir/error.h"

namespace mf::ir {

Error::~Error() = default;

}  // namespace mf::ir
