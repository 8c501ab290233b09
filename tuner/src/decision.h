// The decision at the end of run_search (search.h, Decision): finalists re-measured, noise
// detected and re-measured within a budget, the winner picked by the capped tie rule.
#pragma once

#include "mf/tuner/search.h"

namespace mf::tuner::detail {

// Decides among result.trials (the search's measurements). Measures more through
// `measure`, appending those measurements to result.trials, and fills result.best,
// time_us, baseline_us, margin and noise. Leaves result.best empty when nothing measured.
void decide(SearchResult& result, const MeasureBatch& measure, const Decision& decision);

}  // namespace mf::tuner::detail
