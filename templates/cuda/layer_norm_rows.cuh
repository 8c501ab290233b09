// The LayerNorm of tile rows in shared memory, shared by the LayerNormLinear and
// Transition forwards: statistics in fp32, two passes over each row (mean, then the
// centred variance) for accuracy, the normalised row written back in place as T.
#pragma once

namespace mf {

// Where the forward saves each row's statistics for the backward ([M] fp32 each), or
// nowhere when mean is null.
struct RowStatistics {
  float* mean;
  float* rstd;
  i64 mean_stride, rstd_stride;
};

// Rows first .. first+15 of tile `a` (ld elements a row; tile row r is tensor row m0 + r)
// become (x − mean)·rstd·γ + β over their k_count columns. One warp, one row at a time;
// rows past `rows` are normalised too (they are zeros) but their statistics are not saved.
template <class T>
__device__ __forceinline__ void normalise_rows(T* a, int ld, int first, const float* gamma, const float* beta,
                                               int k_count, float eps, int m0, int rows, const RowStatistics& saved) {
  const int lane = lane_id();
  const float inv_k = 1.0f / float(k_count);
  for (int r = first; r < first + 16; ++r) {
    T* row = a + r * ld;
    float sum = 0.0f;
    for (int k = lane; k < k_count; k += 32) sum += to_float(row[k]);
    const float mean = warp_sum(sum) * inv_k;
    float squares = 0.0f;
    for (int k = lane; k < k_count; k += 32) {
      const float centred = to_float(row[k]) - mean;
      squares = fmaf(centred, centred, squares);
    }
    const float rstd = rsqrtf(warp_sum(squares) * inv_k + eps);
    for (int k = lane; k < k_count; k += 32)
      row[k] = from_float<T>(fmaf((to_float(row[k]) - mean) * rstd, gamma[k], beta[k]));
    const int m = m0 + r;
    if (lane == 0 && m < rows && saved.mean != nullptr) {
      saved.mean[m * saved.mean_stride] = mean;
      saved.rstd[m * saved.rstd_stride] = rstd;
    }
  }
}

}  // namespace mf
