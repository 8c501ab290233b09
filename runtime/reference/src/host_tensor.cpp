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

// Calls visit(offset) with the storage offset (in elements) of every logical element, in
// row-major logical order: an odometer over the outer dimensions that carries the offset
// along, so that no element pays for a full index-to-offset product or a bounds check.
template <typename Visit>
void for_each_offset(const ir::TensorDesc& desc, Visit&& visit) {
  for (std::int64_t extent : desc.shape)
    if (extent <= 0) return;
  const int rank = desc.rank();
  if (rank == 0) return visit(std::int64_t{0});
  const std::int64_t inner = desc.shape[rank - 1], inner_stride = desc.strides[rank - 1];
  std::vector<std::int64_t> index(rank - 1, 0);
  std::int64_t offset = 0;
  for (;;) {
    for (std::int64_t i = 0; i < inner; ++i) visit(offset + i * inner_stride);
    int d = rank - 2;
    for (; d >= 0; --d) {
      offset += desc.strides[d];
      if (++index[d] < desc.shape[d]) break;
      offset -= index[d] * desc.strides[d];
      index[d] = 0;
    }
    if (d < 0) return;
  }
}

template <typename T>
T read_raw(const void* base, std::int64_t offset) {
  T value;
  std::memcpy(&value, static_cast<const std::byte*>(base) + offset * std::int64_t{sizeof(T)}, sizeof(T));
  return value;
}

// Calls visit(value) for every logical element in row-major order, with the dtype's read
// chosen once rather than per element.
template <typename Visit>
void for_each_value(const ir::TensorDesc& desc, const void* data, Visit&& visit) {
  auto each = [&](auto read) { for_each_offset(desc, [&](std::int64_t offset) { visit(read(offset)); }); };
  switch (desc.dtype) {
    case ir::DType::kBF16: return each([&](std::int64_t o) { return bf16_to_double(read_raw<std::uint16_t>(data, o)); });
    case ir::DType::kF16: return each([&](std::int64_t o) { return f16_to_double(read_raw<std::uint16_t>(data, o)); });
    case ir::DType::kF32: return each([&](std::int64_t o) { return double(read_raw<float>(data, o)); });
    case ir::DType::kF64: return each([&](std::int64_t o) { return read_raw<double>(data, o); });
    default: return each([&](std::int64_t o) { return load(desc.dtype, data, o); });
  }
}

// A NaN on either side (even on both: an output nobody wrote, against a reference nobody
// wrote) fails the comparison, and so does an infinity unless both sides hold the same one.
bool non_finite_mismatch(double out, double ref) {
  if (std::isfinite(out) && std::isfinite(ref)) return false;
  if (std::isnan(out) || std::isnan(ref)) return true;
  return out != ref;
}

// ‖out − ref‖² and ‖ref‖², element by element; a non-finite mismatch makes the error infinite.
struct ErrorSum {
  double error = 0.0, norm = 0.0;
  bool mismatch = false;

  void add(double out, double ref) {
    if (non_finite_mismatch(out, ref)) mismatch = true;
    if (!std::isfinite(ref)) return;  // the same infinity in both: equal (or already a mismatch)
    error += (out - ref) * (out - ref);
    norm += ref * ref;
  }
  double relative() const {
    constexpr double kInfinity = std::numeric_limits<double>::infinity();
    if (mismatch) return kInfinity;
    if (norm == 0.0) return error == 0.0 ? 0.0 : kInfinity;
    return std::sqrt(error / norm);
  }
};

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
  for_each_value(desc_, data(), [&](double value) { result.push_back(value); });
  return result;
}

double relative_error(const HostTensor& out, const HostTensor& ref) {
  if (out.desc().shape != ref.desc().shape)
    throw std::invalid_argument(fmt::format("relative_error: shapes differ, {} vs {}", ir::to_string(out.desc()),
                                            ir::to_string(ref.desc())));
  return relative_error(out.values(), ref.values());
}

double relative_error(std::span<const double> out, std::span<const double> ref) {
  if (out.size() != ref.size())
    throw std::invalid_argument(fmt::format("relative_error: {} values vs {}", out.size(), ref.size()));
  ErrorSum sum;
  for (std::size_t i = 0; i < out.size(); ++i) sum.add(out[i], ref[i]);
  return sum.relative();
}

double result_error(const HostTensor& out, const HostTensor& ref) {
  if (out.desc().shape != ref.desc().shape)
    throw std::invalid_argument(fmt::format("result_error: shapes differ, {} vs {}", ir::to_string(out.desc()),
                                            ir::to_string(ref.desc())));
  return result_error(out, ref.values());
}

double result_error(const HostTensor& out, std::span<const double> exact) {
  if (out.desc().numel() != static_cast<std::int64_t>(exact.size()))
    throw std::invalid_argument(
        fmt::format("result_error: {} has {} elements, the exact result {}", ir::to_string(out.desc()),
                    out.desc().numel(), exact.size()));
  double norm = 0.0;
  for (double x : exact) norm += x * x;
  if (std::sqrt(norm) >= 1e-9 * double(exact.size())) {
    ErrorSum sum;
    std::size_t i = 0;
    for_each_value(out.desc(), out.data(), [&](double value) { sum.add(value, exact[i++]); });
    return sum.relative();
  }
  double largest = 0.0;
  for_each_value(out.desc(), out.data(),
                 [&](double value) { largest = std::max(largest, std::isnan(value) ? INFINITY : std::abs(value)); });
  return largest;
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
