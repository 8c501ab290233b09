#include "mf/reference/host_tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "mf/ir/error.h"
#include "mf/reference/element.h"

namespace mf::reference {
namespace {

// splitmix64 (Steele, Lea, Flood 2014): a tiny generator whose stream depends only on the
// seed, so a fill is identical on every platform and standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with 53 random bits.
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

std::int64_t storage_elements(const ir::TensorDesc& desc) {
  for (int d = 0; d < desc.rank(); ++d)
    if (desc.strides[d] < 0)
      ir::fail(ir::ErrorKind::kInvalidArgument,
               fmt::format("HostTensor: {} has a negative stride", ir::to_string(desc)));
  return desc.max_offset() + 1;
}

// Calls visit(index) for every logical index in row-major order.
template <typename Visit>
void for_each_index(const std::vector<std::int64_t>& shape, Visit&& visit) {
  for (std::int64_t extent : shape)
    if (extent <= 0) return;
  std::vector<std::int64_t> index(shape.size(), 0);
  for (;;) {
    visit(std::span<const std::int64_t>(index));
    int d = static_cast<int>(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

// A NaN on either side (even on both: an output nobody wrote, against a reference nobody
// wrote) fails the comparison, and so does an infinity unless both sides hold the same one.
bool non_finite_mismatch(double out, double ref) {
  if (std::isfinite(out) && std::isfinite(ref)) return false;
  if (std::isnan(out) || std::isnan(ref)) return true;
  return out != ref;
}

}  // namespace

HostTensor::HostTensor(ir::TensorDesc desc) : desc_(std::move(desc)) {
  if (desc_.shape.size() != desc_.strides.size())
    ir::fail(ir::ErrorKind::kInvalidArgument,
             fmt::format("HostTensor: {} has {} strides for {} dimensions", ir::to_string(desc_),
                         desc_.strides.size(), desc_.shape.size()));
  storage_.assign(static_cast<std::size_t>(storage_elements(desc_)) * ir::size_of(desc_.dtype), std::byte{0});
}

std::int64_t HostTensor::offset_of(std::span<const std::int64_t> index) const {
  if (static_cast<int>(index.size()) != desc_.rank())
    throw std::out_of_range(fmt::format("HostTensor: {} indices for {}", index.size(), ir::to_string(desc_)));
  std::int64_t offset = 0;
  for (int d = 0; d < desc_.rank(); ++d) {
    if (index[d] < 0 || index[d] >= desc_.shape[d])
      throw std::out_of_range(
          fmt::format("HostTensor: index {} of dimension {} is outside {}", index[d], d, ir::to_string(desc_)));
    offset += index[d] * desc_.strides[d];
  }
  return offset;
}

double HostTensor::get(std::span<const std::int64_t> index) const {
  return load(desc_.dtype, data(), offset_of(index));
}

void HostTensor::set(std::span<const std::int64_t> index, double value) {
  store(desc_.dtype, data(), offset_of(index), value);
}

void HostTensor::fill_uniform(std::uint64_t seed, double lo, double hi) {
  SplitMix64 random(seed);
  const auto elements = static_cast<std::int64_t>(storage_.size() / ir::size_of(desc_.dtype));
  for (std::int64_t i = 0; i < elements; ++i) {
    if (desc_.dtype == ir::DType::kBool) {
      store(desc_.dtype, data(), i, random.unit() < hi ? 1.0 : 0.0);
      continue;
    }
    // Rounding to a narrow dtype can reach hi itself; draw again to keep [lo, hi).
    int draws = 0;
    do {
      if (++draws > 64)
        throw std::invalid_argument(fmt::format("HostTensor::fill_uniform: [{}, {}) holds no {} value", lo, hi,
                                                ir::name_of(desc_.dtype)));
      store(desc_.dtype, data(), i, lo + (hi - lo) * random.unit());
    } while (hi > lo && load(desc_.dtype, data(), i) >= hi);
  }
}

void HostTensor::poison() {
  // All-ones bytes are a NaN in f16, bf16, f32 and f64 alike.
  const int byte = desc_.dtype == ir::DType::kBool ? 0xAB : 0xFF;
  std::memset(storage_.data(), byte, storage_.size());
}

std::vector<double> HostTensor::values() const {
  std::vector<double> result;
  result.reserve(static_cast<std::size_t>(desc_.numel()));
  for_each_index(desc_.shape, [&](std::span<const std::int64_t> index) { result.push_back(get(index)); });
  return result;
}

double relative_error(const HostTensor& out, const HostTensor& ref) {
  if (out.desc().shape != ref.desc().shape)
    throw std::invalid_argument(fmt::format("relative_error: shapes differ, {} vs {}", ir::to_string(out.desc()),
                                            ir::to_string(ref.desc())));
  const std::vector<double> out_values = out.values(), ref_values = ref.values();
  return relative_error(out_values, ref_values);
}

double result_error(const HostTensor& out, const HostTensor& ref) {
  const std::vector<double> exact = ref.values();
  double norm = 0.0;
  for (double x : exact) norm += x * x;
  if (std::sqrt(norm) >= 1e-9 * double(exact.size())) return relative_error(out, ref);
  double largest = 0.0;
  for (double x : out.values()) largest = std::max(largest, std::isnan(x) ? INFINITY : std::abs(x));
  return largest;
}

double relative_error(std::span<const double> out, std::span<const double> ref) {
  if (out.size() != ref.size())
    throw std::invalid_argument(fmt::format("relative_error: {} values vs {}", out.size(), ref.size()));
  constexpr double kInfinity = std::numeric_limits<double>::infinity();
  double error = 0.0, norm = 0.0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (non_finite_mismatch(out[i], ref[i])) return kInfinity;
    if (!std::isfinite(ref[i])) continue;  // the same infinity in both: equal
    error += (out[i] - ref[i]) * (out[i] - ref[i]);
    norm += ref[i] * ref[i];
  }
  if (norm == 0.0) return error == 0.0 ? 0.0 : kInfinity;
  return std::sqrt(error / norm);
}

double tolerance(ir::DType dtype) {
  switch (dtype) {
    case ir::DType::kF64: return 1e-12;
    case ir::DType::kF32: return 1e-5;
    case ir::DType::kF16: return 2e-3;
    case ir::DType::kBF16: return 1e-2;
    case ir::DType::kBool: break;
  }
  return 0.0;
}

}  // namespace mf::reference
