// Loading result files for reports: the core schema validation plus the extra structure the
// report views rely on (numeric counters, trace kernel tables), with errors naming file and field.
#pragma once

#include <filesystem>

#include <nlohmann/json.hpp>

namespace dsbench::reports {

// load_result_file() plus the checks below; throws UsageError "FILE: FIELD: problem".
nlohmann::json load_run(const std::filesystem::path& path);
// The report-specific checks on an already validated document.
void check_report_fields(const nlohmann::json& doc, const std::string& source);

}  // namespace dsbench::reports
