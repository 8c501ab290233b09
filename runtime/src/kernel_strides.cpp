#include "kernel_strides.h"

#include <cstdint>

namespace mf::runtime {

long long stride_of(const ir::TensorDesc& desc, int dim) { return desc.shape[dim] == 1 ? 0 : desc.strides[dim]; }

bool vector_ok(const ir::TensorDesc& desc, const void* data, int inner) {
  if (inner < 0) inner = desc.rank() - 1;
  const auto bytes = static_cast<long long>(ir::size_of(desc.dtype));
  if (reinterpret_cast<std::uintptr_t>(data) % 16 != 0) return false;
  if (desc.shape[inner] > 1 && desc.strides[inner] != 1) return false;
  for (int dim = 0; dim < desc.rank(); ++dim)
    if (dim != inner && (stride_of(desc, dim) * bytes) % 16 != 0) return false;
  return true;
}

}  // namespace mf::runtime
