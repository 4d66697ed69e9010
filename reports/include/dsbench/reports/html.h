// Self-contained HTML pages: the vendored chart library, CSS and report script inline, and the
// page's data as JSON in <script type="application/json"> with every '<' escaped.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dsbench::reports {

// JSON text safe inside a <script> element: '<', '>' and '&' become \u003c, \u003e, \u0026 (so
// "</script>" and "<!--" cannot end or confuse the element), as do U+2028 and U+2029.
std::string json_for_script(const nlohmann::json& doc);

// &, <, >, " and ' escaped, for the few strings the C++ side puts into markup (the title).
std::string html_escape(const std::string& text);

// A complete page; the report script renders `payload` (whose "kind" is "report" or "trend")
// with DOM text nodes only. No network access: a Content-Security-Policy forbids it.
std::string render_page(const std::string& title, const nlohmann::json& payload);

}  // namespace dsbench::reports
