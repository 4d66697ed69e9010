// The files of reports/assets (uPlot, CSS, the report script), compiled into the library so that
// every report is self-contained and the executable needs nothing at run time.
#pragma once

#include <string_view>

namespace dsbench::reports {

// "uPlot.iife.min.js", "uPlot.min.css", "report.css", "report_lib.js", "report.js",
// "suite_charts.js"; empty when unknown.
std::string_view asset(std::string_view name);

}  // namespace dsbench::reports
