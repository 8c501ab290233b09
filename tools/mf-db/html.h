// Text for mf-db report's page (tools/mf-db/report.h): HTML that is also well-formed XML,
// so that the page's inline SVG and its tests can be checked with an XML parser.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace mf::tools {

// Text that is not UTF-8: a tuning database that mfjit did not write (mfjit writes nothing
// else), which the page cannot show as it is.
struct NotUtf8 : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `text` as the content of an element or a quoted attribute: & < > " ' as character
// references; the control characters XML 1.0 refuses (all of C0 but tab, newline and
// carriage return; U+FFFE and U+FFFF) as their visible pictures (U+2400...) or U+FFFD.
// Throws NotUtf8 when `text` is not UTF-8.
std::string escaped(std::string_view text);

// `text` with every byte that is not part of UTF-8 replaced by U+FFFD: for what does not
// come from the database (a file name), which the page shows whatever it holds.
std::string as_utf8(std::string_view text);

// The number of characters (code points) of UTF-8 `text`, and its first `count` characters.
std::size_t characters(std::string_view text);
std::string first_characters(std::string_view text, std::size_t count);

}  // namespace mf::tools
