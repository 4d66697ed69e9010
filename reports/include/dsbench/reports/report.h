// `dsbench report`: one run (and optionally its baseline) as a self-contained HTML page.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "dsbench/reports/compare.h"

namespace dsbench::reports {

struct ReportInput {
  nlohmann::json run;  // a validated result document
  std::string run_source;
  std::optional<nlohmann::json> baseline;
  std::string baseline_source;
  CompareOptions compare;  // used when a baseline is given
};

// The JSON the page script renders: {"kind":"report", "run", "baseline", "comparison", ...}.
nlohmann::json report_payload(const ReportInput& in);
std::string render_report(const ReportInput& in);

}  // namespace dsbench::reports
