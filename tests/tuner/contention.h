// Injected timing noise for the tuner's tests: a machine shared with other processes
// (issue 27.3: eight mf-tune processes on two cores), seeded so that every run of a test
// draws the same noise on every platform (our own draws from mt19937_64, whose output the
// standard fixes, rather than std's distributions, whose results it does not).
//
// Contention only ever adds time: a measurement that runs while other processes are busy
// has every sample slowed by one factor (they hold the core for its whole length), and any
// sample may be preempted (a spike of up to 64 times the kernel's own time, as a time slice
// of a few milliseconds is to a 100 µs kernel).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace mf::tuner::testing {

struct ContentionModel {
  double busy = 0.3;                      // chance that a measurement runs beside busy processes
  double busy_low = 1.2, busy_high = 8;   // the factor of all its samples, uniform in this range
  double spike = 0.2;                     // chance that one sample is preempted
  double spike_max = 64;                  // a preempted sample is 1 + up to this many times slower (log-uniform)
  double jitter = 0.01;                   // uniform relative noise of every sample
};

class Contention {
 public:
  explicit Contention(std::uint64_t seed, ContentionModel model = {}) : random_(seed), model_(model) {}

  // One measurement: `repeats` timed runs of a kernel whose undisturbed time is `us`.
  std::vector<double> samples(double us, int repeats) {
    const double busy = uniform() < model_.busy ? model_.busy_low + (model_.busy_high - model_.busy_low) * uniform() : 1.0;
    std::vector<double> out;
    for (int i = 0; i < repeats; ++i) {
      double t = us * busy * (1.0 + model_.jitter * (2.0 * uniform() - 1.0));
      if (uniform() < model_.spike) t += us * std::exp(std::log(model_.spike_max) * uniform());
      out.push_back(t);
    }
    return out;
  }

 private:
  double uniform() { return double(random_() >> 11) * 0x1.0p-53; }  // [0, 1)

  std::mt19937_64 random_;
  ContentionModel model_;
};

}  // namespace mf::tuner::testing
