#include "mf/tuner/search.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "decision.h"

namespace mf::tuner {
namespace {

std::string id_of(const ir::TileConfig& config) { return ir::to_string(config); }

std::set<std::string> measured(const std::vector<Trial>& history) {
  std::set<std::string> out;
  for (const auto& trial : history) out.insert(id_of(trial.config));
  return out;
}

// Proposes a fixed order in batches (exhaustive: the generator's order; random: shuffled).
class OrderedStrategy final : public Strategy {
 public:
  OrderedStrategy(std::string name, std::vector<ir::TileConfig> order, std::size_t batch)
      : name_(std::move(name)), order_(std::move(order)), batch_(batch) {}
  std::string name() const override { return name_; }
  std::vector<ir::TileConfig> propose(const std::vector<Trial>& history) override {
    const auto done = measured(history);
    std::vector<ir::TileConfig> out;
    for (const auto& config : order_) {
      if (out.size() == batch_) break;
      if (!done.count(id_of(config))) out.push_back(config);
    }
    return out;
  }

 private:
  std::string name_;
  std::vector<ir::TileConfig> order_;
  std::size_t batch_;
};

// Coordinate descent: from the default, measure every configuration that differs in one
// parameter, move to the best, repeat; at a local optimum restart from a random
// configuration not yet measured, and stop after kPatience restarts in a row that found
// nothing faster, or once it has measured a quarter of the space, rounded down (at least
// kFloor configurations). Tile parameters act mostly independently (block sizes, warps,
// stages, occupancy), so the optimum is usually a few moves away: on an H200, descent
// found the exhaustive winner (or one tied with it) on the seven AF3 EvoAttention
// problems measured both ways with 6-25 % of the trials (docs/tuning.md).
class DescentStrategy final : public Strategy {
 public:
  DescentStrategy(std::vector<ir::TileConfig> candidates, const ir::TileConfig& start, std::uint64_t seed)
      : candidates_(std::move(candidates)),
        cap_(std::max(candidates_.size() / 4, std::min(candidates_.size(), kFloor))),
        random_(seed) {
    const auto found = std::find(candidates_.begin(), candidates_.end(), start);
    anchor_ = found != candidates_.end() ? *found : (candidates_.empty() ? ir::TileConfig{} : candidates_.front());
  }
  std::string name() const override { return "descent"; }

  std::vector<ir::TileConfig> propose(const std::vector<Trial>& history) override {
    if (candidates_.empty()) return {};
    const auto done = measured(history);
    if (done.size() >= cap_) return {};
    if (!done.count(id_of(anchor_))) return {anchor_};
    // Move to the best of the anchor and its measured neighbours.
    std::map<std::string, double> time;
    for (const auto& trial : history)
      if (trial.measurement.ok) {
        auto [it, fresh] = time.emplace(id_of(trial.config), trial.measurement.median_us);
        if (!fresh) it->second = std::min(it->second, trial.measurement.median_us);
      }
    auto cost = [&](const ir::TileConfig& c) {
      const auto it = time.find(id_of(c));
      return it == time.end() ? 1e300 : it->second;
    };
    for (;;) {
      ir::TileConfig best = anchor_;
      for (const auto& n : neighbours(anchor_))
        if (done.count(id_of(n)) && cost(n) < cost(best)) best = n;
      if (best == anchor_) break;
      anchor_ = best;
    }
    std::vector<ir::TileConfig> out;
    for (const auto& n : neighbours(anchor_))
      if (!done.count(id_of(n)) && done.size() + out.size() < cap_) out.push_back(n);
    if (!out.empty()) return out;
    // A local optimum: restart from a configuration not yet measured, unless the last
    // restarts found nothing faster.
    double best = 1e300;
    for (const auto& [id, t] : time) best = std::min(best, t);
    fruitless_ = best < best_at_restart_ ? 0 : fruitless_ + 1;
    best_at_restart_ = std::min(best_at_restart_, best);
    if (fruitless_ >= kPatience) return {};
    std::vector<ir::TileConfig> left;
    for (const auto& c : candidates_)
      if (!done.count(id_of(c))) left.push_back(c);
    if (left.empty()) return {};
    anchor_ = left[std::uniform_int_distribution<std::size_t>(0, left.size() - 1)(random_)];
    return {anchor_};
  }

 private:
  std::vector<ir::TileConfig> neighbours(const ir::TileConfig& x) const {
    std::vector<ir::TileConfig> out;
    for (const auto& c : candidates_) {
      int differing = 0;
      for (const auto& [name, value] : x.params)
        if (c.get(name) != value) ++differing;
      if (differing == 1 && c.params.size() == x.params.size()) out.push_back(c);
    }
    return out;
  }

  static constexpr int kPatience = 2;
  static constexpr std::size_t kFloor = 12;
  std::vector<ir::TileConfig> candidates_;
  std::size_t cap_;
  ir::TileConfig anchor_;
  std::mt19937_64 random_;
  double best_at_restart_ = 1e300;
  int fruitless_ = 0;
};

// Runs each part to its end in turn, each seeing only the trials of its own proposals: one
// search per generator's space, whose trials then compete in one decision.
class SequenceStrategy final : public Strategy {
 public:
  explicit SequenceStrategy(std::vector<std::unique_ptr<Strategy>> parts) : parts_(std::move(parts)) {}
  std::string name() const override { return parts_.empty() ? "none" : parts_.front()->name(); }
  std::vector<ir::TileConfig> propose(const std::vector<Trial>& history) override {
    for (; current_ < parts_.size(); ++current_, begun_ = history.size()) {
      const std::vector<Trial> own(history.begin() + std::ptrdiff_t(begun_), history.end());
      auto batch = parts_[current_]->propose(own);
      if (!batch.empty()) return batch;
    }
    return {};
  }

 private:
  std::vector<std::unique_ptr<Strategy>> parts_;
  std::size_t current_ = 0;
  std::size_t begun_ = 0;  // where the current part's trials begin in the history
};

}  // namespace

std::optional<StrategyKind> strategy_from(const std::string& name) {
  for (StrategyKind kind : {StrategyKind::kExhaustive, StrategyKind::kRandom, StrategyKind::kDescent})
    if (name == name_of(kind)) return kind;
  return std::nullopt;
}

const char* name_of(StrategyKind kind) {
  switch (kind) {
    case StrategyKind::kExhaustive: return "exhaustive";
    case StrategyKind::kRandom: return "random";
    case StrategyKind::kDescent: return "descent";
  }
  return "unknown";
}

std::optional<OnNoise> on_noise_from(const std::string& name) {
  for (OnNoise policy : {OnNoise::kRemeasure, OnNoise::kKeepDefault})
    if (name == name_of(policy)) return policy;
  return std::nullopt;
}

const char* name_of(OnNoise policy) {
  switch (policy) {
    case OnNoise::kRemeasure: return "remeasure";
    case OnNoise::kKeepDefault: return "default";
  }
  return "unknown";
}

std::unique_ptr<Strategy> make_strategy(StrategyKind kind, std::vector<ir::TileConfig> candidates,
                                        const ir::TileConfig& start, std::uint64_t seed) {
  switch (kind) {
    case StrategyKind::kExhaustive:
      return std::make_unique<OrderedStrategy>("exhaustive", std::move(candidates), 16);
    case StrategyKind::kRandom: {
      std::mt19937_64 random(seed);
      // Fisher–Yates with our own draws: std::shuffle's order differs between libraries.
      for (std::size_t i = candidates.size(); i > 1; --i)
        std::swap(candidates[i - 1], candidates[std::uniform_int_distribution<std::size_t>(0, i - 1)(random)]);
      return std::make_unique<OrderedStrategy>("random", std::move(candidates), 8);
    }
    case StrategyKind::kDescent: return std::make_unique<DescentStrategy>(std::move(candidates), start, seed);
  }
  return nullptr;
}

std::unique_ptr<Strategy> make_sequence_strategy(std::vector<std::unique_ptr<Strategy>> parts) {
  return std::make_unique<SequenceStrategy>(std::move(parts));
}

std::unique_ptr<Strategy> make_list_strategy(std::string name, std::vector<ir::TileConfig> configs) {
  const std::size_t batch = configs.size();
  return std::make_unique<OrderedStrategy>(std::move(name), std::move(configs), batch);
}

SearchResult run_search(Strategy& strategy, const MeasureBatch& measure, const Budget& budget,
                        const Decision& decision) {
  SearchResult result;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  for (;;) {
    if (budget.seconds > 0 && elapsed() >= budget.seconds) break;
    auto batch = strategy.propose(result.trials);
    if (batch.empty()) break;
    if (budget.trials > 0) {
      const std::int64_t left = budget.trials - std::int64_t(result.trials.size());
      if (left <= 0) break;
      if (std::int64_t(batch.size()) > left) batch.resize(std::size_t(left));
    }
    const auto measurements = measure(batch);
    for (std::size_t i = 0; i < batch.size(); ++i) result.trials.push_back({batch[i], measurements.at(i)});
  }
  result.configurations = std::int64_t(measured(result.trials).size());
  detail::decide(result, measure, decision);
  return result;
}

}  // namespace mf::tuner
