// Text and Markdown views of a Comparison (Markdown suits CI comments), and value formatting
// shared with the HTML report.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "dsbench/reports/compare.h"

namespace dsbench::reports {
namespace {

int verdict_rank(Verdict v) {
  switch (v) {
    case Verdict::kRegressed: return 0;
    case Verdict::kImproved: return 1;
    case Verdict::kInconclusive: return 2;
    case Verdict::kSkipped: return 3;
    case Verdict::kUnchanged: return 4;
  }
  return 5;
}

std::vector<const BenchmarkDelta*> ordered(const Comparison& c) {
  std::vector<const BenchmarkDelta*> v;
  for (const auto& r : c.rows) v.push_back(&r);
  std::stable_sort(v.begin(), v.end(), [](auto* a, auto* b) {
    return verdict_rank(a->result.verdict) < verdict_rank(b->result.verdict);
  });
  return v;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string delta_text(const BenchmarkDelta& r) {
  if (r.result.verdict == Verdict::kSkipped || (r.n_base == 0 && r.n_cand == 0)) return "-";
  if (!std::isfinite(r.result.delta)) return r.result.delta > 0 ? "+inf" : "-inf";
  return fmt("%+.1f%%", r.result.delta * 100.0);
}

std::string p_text(const BenchmarkDelta& r) {
  if (r.result.verdict == Verdict::kSkipped || r.n_base == 0) return "-";
  return r.result.p_value < 1e-4 ? "<1e-4" : fmt("%.4f", r.result.p_value);
}

std::string median_text(const BenchmarkDelta& r, double v) {
  if (r.result.verdict == Verdict::kSkipped || r.n_base == 0) return "-";
  return format_value(v, r.unit);
}

std::string summary_line(const Comparison& c) {
  std::ostringstream os;
  os << c.count(Verdict::kRegressed) << " regressed, " << c.count(Verdict::kImproved)
     << " improved, " << c.count(Verdict::kUnchanged) << " unchanged, "
     << c.count(Verdict::kInconclusive) << " inconclusive, " << c.count(Verdict::kSkipped)
     << " skipped (not passed), " << c.missing.size() << " missing, " << c.added.size() << " new";
  return os.str();
}

// Keeps a hostile benchmark name from breaking a Markdown table or opening a code span.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += "\\|";
    else if (ch == '`') out += '\'';
    else if (ch == '\n' || ch == '\r') out += ' ';
    else if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else out += ch;
  }
  return out;
}

}  // namespace

std::string format_value(double v, const std::string& unit) {
  if (!std::isfinite(v)) return "-";
  double a = std::fabs(v);
  if (unit == "s") {
    if (a == 0) return "0 s";
    if (a < 1e-6) return fmt("%.3g ns", v * 1e9);
    if (a < 1e-3) return fmt("%.3g us", v * 1e6);
    if (a < 1) return fmt("%.3g ms", v * 1e3);
    return fmt("%.3g s", v);
  }
  if (unit == "B" || unit == "bytes") {
    if (a >= 1e9) return fmt("%.3g GB", v / 1e9);
    if (a >= 1e6) return fmt("%.3g MB", v / 1e6);
    if (a >= 1e3) return fmt("%.3g kB", v / 1e3);
    return fmt("%.4g B", v);
  }
  if (unit == "fraction") return fmt("%.3g", v);
  return fmt("%.4g", v) + (unit.empty() ? "" : " " + unit);
}

std::string format_text(const Comparison& c) {
  std::ostringstream os;
  os << "baseline:  " << c.base_source << " (" << c.base_run_id << ")\n";
  os << "candidate: " << c.cand_source << " (" << c.cand_run_id << ")\n";
  if (c.normalized) os << "metric: roofline_fraction (normalised across hardware)\n";
  // The host warnings, the advice that follows from them, then the method warnings.
  const std::vector<std::string> warnings = c.warning_lines();
  const auto methods = warnings.begin() + std::ptrdiff_t(c.host_warnings.size());
  for (auto w = warnings.begin(); w != methods; ++w) os << "warning: " << *w << "\n";
  if (!c.host_warnings.empty() && !c.normalized) {
    os << "warning: absolute times from different hosts are not comparable; consider "
          "--normalize roofline\n";
  }
  for (auto w = methods; w != warnings.end(); ++w) os << "warning: " << *w << "\n";
  os << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "%-12s %9s %8s %12s %12s  %s\n", "verdict", "delta", "p",
                "baseline", "candidate", "benchmark");
  os << line;
  for (const auto* r : ordered(c)) {
    std::string key = r->key + (r->gated ? "" : " (not gated)");
    if (!r->result.note.empty() && r->result.note != "deterministic") {
      key += "  [" + r->result.note + "]";
    }
    std::snprintf(line, sizeof line, "%-12s %9s %8s %12s %12s  ", to_string(r->result.verdict),
                  delta_text(*r).c_str(), p_text(*r).c_str(),
                  median_text(*r, r->result.base_median).c_str(),
                  median_text(*r, r->result.cand_median).c_str());
    os << line << key << "\n";
  }
  for (size_t i = 0; i < c.missing.size(); ++i) {
    os << "missing      " << c.missing[i] << (c.missing_gated[i] ? "" : " (not gated)") << "\n";
  }
  for (const auto& k : c.added) os << "new          " << k << "\n";
  os << "\n" << summary_line(c) << "\n";
  os << "gate: " << (c.gate_failed() ? "FAILED" : "passed") << "\n";
  return os.str();
}

std::string format_markdown(const Comparison& c) {
  std::ostringstream os;
  os << "### dsbench compare: " << (c.gate_failed() ? "**gate FAILED**" : "gate passed") << "\n\n";
  os << summary_line(c) << "\n\n";
  os << "Baseline `" << md_cell(c.base_run_id) << "`, candidate `" << md_cell(c.cand_run_id)
     << "`" << (c.normalized ? "; metric: roofline fraction" : "") << ".\n\n";
  const std::vector<std::string> warnings = c.warning_lines();
  for (const auto& w : warnings) os << "> **Warning:** " << md_cell(w) << "\n";
  if (!warnings.empty()) os << "\n";
  os << "| verdict | delta | p | baseline | candidate | benchmark |\n";
  os << "|---|---:|---:|---:|---:|---|\n";
  for (const auto* r : ordered(c)) {
    std::string v = to_string(r->result.verdict);
    if (r->result.verdict == Verdict::kRegressed) v = "**" + v + "**";
    std::string key = md_cell(r->key) + (r->gated ? "" : " (not gated)");
    if (!r->result.note.empty() && r->result.note != "deterministic") {
      key += " — " + md_cell(r->result.note);
    }
    os << "| " << v << " | " << delta_text(*r) << " | " << p_text(*r) << " | "
       << md_cell(median_text(*r, r->result.base_median)) << " | "
       << md_cell(median_text(*r, r->result.cand_median)) << " | " << key << " |\n";
  }
  if (!c.missing.empty()) {
    os << "\n**Missing in the candidate:**\n";
    for (const auto& k : c.missing) os << "- " << md_cell(k) << "\n";
  }
  if (!c.added.empty()) {
    os << "\n**New in the candidate:**\n";
    for (const auto& k : c.added) os << "- " << md_cell(k) << "\n";
  }
  return os.str();
}

}  // namespace dsbench::reports
