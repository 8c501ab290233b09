// Internal: dense row-major double matrices and the few products the reference needs.
// Every product is written as a sum of row updates (y += a·row), whose innermost loop runs
// over contiguous memory, so the compiler vectorises it without reassociating any sum.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "strided_view.h"

namespace mf::reference::internal {

class Matrix {
 public:
  Matrix() = default;
  Matrix(std::int64_t rows, std::int64_t cols)
      : rows_(rows), cols_(cols), values_(static_cast<std::size_t>(rows * cols), 0.0) {}

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  double& operator()(std::int64_t i, std::int64_t j) { return values_[i * cols_ + j]; }
  double operator()(std::int64_t i, std::int64_t j) const { return values_[i * cols_ + j]; }
  std::span<double> row(std::int64_t i) { return std::span(values_).subspan(i * cols_, cols_); }
  std::span<const double> row(std::int64_t i) const { return std::span(values_).subspan(i * cols_, cols_); }
  std::span<double> values() { return values_; }

 private:
  std::int64_t rows_ = 0, cols_ = 0;
  std::vector<double> values_;
};

// y += alpha·x
inline void add_scaled(double alpha, std::span<const double> x, std::span<double> y) {
  const double* in = x.data();
  double* out = y.data();
  for (std::size_t j = 0; j < y.size(); ++j) out[j] += alpha * in[j];
}

inline double dot(std::span<const double> a, std::span<const double> b) {
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// y += a·M for a row vector a of M.rows() entries.
inline void add_row_times_matrix(std::span<const double> a, const Matrix& m, std::span<double> y) {
  for (std::int64_t k = 0; k < m.rows(); ++k) add_scaled(a[k], m.row(k), y);
}

// M += a·bᵀ, with M given as the row-major values of an [a.size(), b.size()] matrix.
inline void add_outer_product(std::span<const double> a, std::span<const double> b, std::span<double> m) {
  for (std::size_t i = 0; i < a.size(); ++i) add_scaled(a[i], b, m.subspan(i * b.size(), b.size()));
}

// a·b
inline Matrix product(const Matrix& a, const Matrix& b) {
  Matrix c(a.rows(), b.cols());
  for (std::int64_t i = 0; i < a.rows(); ++i) add_row_times_matrix(a.row(i), b, c.row(i));
  return c;
}

// aᵀ·b = Σ_k a[k]ᵀ·b[k] over the rows k
inline Matrix transposed_product(const Matrix& a, const Matrix& b) {
  Matrix c(a.cols(), b.cols());
  for (std::int64_t k = 0; k < a.rows(); ++k) add_outer_product(a.row(k), b.row(k), c.values());
  return c;
}

inline Matrix transposed(const Matrix& a) {
  Matrix t(a.cols(), a.rows());
  for (std::int64_t i = 0; i < a.rows(); ++i)
    for (std::int64_t j = 0; j < a.cols(); ++j) t(j, i) = a(i, j);
  return t;
}

inline void scale(Matrix& m, double factor) {
  for (double& value : m.values()) value *= factor;
}

// A logical [rows, cols] tensor (any dtype and strides) as a dense matrix.
inline Matrix load_matrix(const ConstView& view, std::int64_t rows, std::int64_t cols) {
  Matrix m(rows, cols);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) m(i, j) = view(i, j);
  return m;
}

inline std::vector<double> load_vector(const ConstView& view, std::int64_t size) {
  std::vector<double> values(static_cast<std::size_t>(size));
  for (std::int64_t i = 0; i < size; ++i) values[i] = view(i);
  return values;
}

inline void load_row(const ConstView& view, std::int64_t row, std::span<double> values) {
  for (std::size_t j = 0; j < values.size(); ++j) values[j] = view(row, j);
}

inline void store_row(const View& view, std::int64_t row, std::span<const double> values) {
  for (std::size_t j = 0; j < values.size(); ++j) view(row, j) = values[j];
}

inline void store_matrix(const View& view, std::int64_t rows, std::int64_t cols, std::span<const double> values) {
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) view(i, j) = values[i * cols + j];
}

inline void store_vector(const View& view, std::span<const double> values) {
  for (std::size_t i = 0; i < values.size(); ++i) view(i) = values[i];
}

}  // namespace mf::reference::internal
