// How the cuda executables hand tensors to generated kernels: strides with broadcast
// dimensions as 0, and whether 16-byte copies may read or write a tensor.
#pragma once

#include "mf/ir/tensor_desc.h"

namespace mf::runtime {

// A dimension of extent 1 is read at index 0 only when its stride is 0: the kernels index
// broadcast dimensions with the full-size loop variable.
long long stride_of(const ir::TensorDesc& desc, int dim);

// 16-byte copies need every row start on a 16-byte boundary and unit stride along rows
// (the last dimension, or `inner` when given).
bool vector_ok(const ir::TensorDesc& desc, const void* data, int inner = -1);

}  // namespace mf::runtime
