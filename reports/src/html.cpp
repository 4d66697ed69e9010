// Page assembly for reports and trends. All user strings travel inside the JSON payload and are
// rendered by the script as text nodes; the only string spliced into markup is the escaped title.
#include "dsbench/reports/html.h"

#include "dsbench/error.h"
#include "dsbench/reports/assets.h"

namespace dsbench::reports {
using nlohmann::json;

std::string json_for_script(const json& doc) {
  std::string raw = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(raw.size() + raw.size() / 16);
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    // These characters can only occur inside JSON strings, where \uXXXX means the same thing.
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else if (c == '\xE2' && i + 2 < raw.size() && raw[i + 1] == '\x80' &&
             (raw[i + 2] == '\xA8' || raw[i + 2] == '\xA9')) {
      out += raw[i + 2] == '\xA8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {
std::string_view checked_asset(std::string_view name) {
  std::string_view a = asset(name);
  if (a.empty()) throw Error("report asset missing from the build: " + std::string(name));
  // An inline script or style must not contain its own end tag.
  if (a.find("</script") != std::string_view::npos || a.find("</style") != std::string_view::npos) {
    throw Error("report asset cannot be inlined (contains an end tag): " + std::string(name));
  }
  return a;
}
}  // namespace

std::string render_page(const std::string& title, const json& payload) {
  std::string page;
  page.reserve(128 * 1024);
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page +=
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
      "form-action 'none'\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  page += "<meta name=\"generator\" content=\"dsbench\">\n";
  page += "<title>" + html_escape(title) + "</title>\n";
  page += "<style>\n";
  page += checked_asset("uPlot.min.css");
  page += "\n</style>\n<style>\n";
  page += checked_asset("report.css");
  page += "\n</style>\n</head>\n<body>\n";
  page += "<noscript>This report draws its tables and charts with JavaScript.</noscript>\n";
  page += "<div id=\"app\"></div>\n";
  page += "<script type=\"application/json\" id=\"dsbench-data\">";
  page += json_for_script(payload);
  page += "</script>\n<script>\n";
  page += checked_asset("uPlot.iife.min.js");
  page += "\n</script>\n<script>\n";
  page += checked_asset("report_lib.js");
  page += "\n</script>\n<script>\n";
  page += checked_asset("report.js");
  page += "\n</script>\n<script>\n";
  page += checked_asset("suite_charts.js");
  page += "\n</script>\n</body>\n</html>\n";
  return page;
}

}  // namespace dsbench::reports
