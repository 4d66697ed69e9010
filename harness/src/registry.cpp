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

}  // namespace dsbench
