// The process-wide list of suites; filled at static-initialisation time by DSBENCH_REGISTER_SUITE.
#include "dsbench/registry.h"

#include <algorithm>

#include "dsbench/error.h"

namespace dsbench {

namespace {
std::vector<SuiteInfo>& suite_list() {
  static std::vector<SuiteInfo> list;  // function-local: safe from static-init order
  return list;
}
}  // namespace

void register_suite(SuiteInfo info) {
  auto& list = suite_list();
  DSBENCH_CHECK(find_suite(info.name) == nullptr) << "suite registered twice: " << info.name;
  list.push_back(std::move(info));
  std::sort(list.begin(), list.end(),
            [](const SuiteInfo& a, const SuiteInfo& b) { return a.name < b.name; });
}

const std::vector<SuiteInfo>& registered_suites() { return suite_list(); }

const SuiteInfo* find_suite(const std::string& name) {
  for (const auto& s : suite_list()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const BenchmarkRecord* find_earlier(const std::vector<BenchmarkRecord>& earlier, const std::string& name,
                                    const nlohmann::json& match) {
  for (const auto& r : earlier) {
    if (r.name != name || r.skipped) continue;
    bool same = true;
    for (const auto& [k, v] : match.items()) same = same && r.params.value(k, nlohmann::json()) == v;
    if (same) return &r;
  }
  return nullptr;
}

std::vector<double> sample_ratios(const BenchmarkRecord& num, const BenchmarkRecord& den, double scale) {
  std::vector<double> out;
  const size_t n = std::min(num.samples.size(), den.samples.size());
  for (size_t i = 0; i < n; ++i) out.push_back(scale * num.samples[i] / den.samples[i]);
  return out;
}

}  // namespace dsbench
