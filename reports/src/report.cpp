// Builds the payload of a run report (the run itself, the baseline's metadata and the comparison
// verdicts); the page script draws it.
#include "dsbench/reports/report.h"

#include "dsbench/reports/html.h"
#include "dsbench/results.h"

namespace dsbench::reports {
using nlohmann::json;

json report_payload(const ReportInput& in) {
  json p = {{"kind", "report"},
            {"generated_at", utc_now_iso8601()},
            {"source", in.run_source},
            {"run", in.run},
            {"baseline", nullptr},
            {"comparison", nullptr}};
  if (in.baseline) {
    const json& b = *in.baseline;
    // Only what the page shows of the baseline: its identity, host and per-benchmark medians
    // come through the comparison, which keeps the page small.
    p["baseline"] = {{"source", in.baseline_source},
                     {"run_id", b.value("run_id", "")},
                     {"started_at", b.value("started_at", "")},
                     {"host", b.value("host", json::object())}};
    p["comparison"] =
        compare_runs(b, in.run, in.compare, in.baseline_source, in.run_source).to_json();
  }
  return p;
}

std::string render_report(const ReportInput& in) {
  std::string title = "dsbench report " + in.run.value("run_id", std::string());
  return render_page(title, report_payload(in));
}

}  // namespace dsbench::reports
