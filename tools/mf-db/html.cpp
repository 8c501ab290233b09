#include "html.h"

#include <optional>

namespace mf::tools {
namespace {

struct CodePoint {
  char32_t value;
  std::size_t bytes;  // its length in UTF-8
};

// The code point UTF-8 `text` starts with at `at`; nullopt for a byte that does not begin a
// well-formed sequence (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF).
std::optional<CodePoint> decode(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[at + i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return CodePoint{lead, 1};
  std::size_t length = 0;
  char32_t value = 0, lowest = 0;
  if ((lead & 0xE0) == 0xC0) length = 2, value = lead & 0x1F, lowest = 0x80;
  else if ((lead & 0xF0) == 0xE0) length = 3, value = lead & 0x0F, lowest = 0x800;
  else if ((lead & 0xF8) == 0xF0) length = 4, value = lead & 0x07, lowest = 0x10000;
  else return std::nullopt;
  if (at + length > text.size()) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return std::nullopt;
    value = (value << 6) | (byte(i) & 0x3F);
  }
  if (value < lowest || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return std::nullopt;
  return CodePoint{value, length};
}

void append_utf8(std::string& out, char32_t value) {
  if (value < 0x80) {
    out += char(value);
  } else if (value < 0x800) {
    out += char(0xC0 | (value >> 6));
    out += char(0x80 | (value & 0x3F));
  } else if (value < 0x10000) {
    out += char(0xE0 | (value >> 12));
    out += char(0x80 | ((value >> 6) & 0x3F));
    out += char(0x80 | (value & 0x3F));
  } else {
    out += char(0xF0 | (value >> 18));
    out += char(0x80 | ((value >> 12) & 0x3F));
    out += char(0x80 | ((value >> 6) & 0x3F));
    out += char(0x80 | (value & 0x3F));
  }
}

constexpr char32_t kReplacement = 0xFFFD;

// What the page shows for one character: a reference for markup, a picture for a control
// character XML refuses (keys and configurations may hold any text), else the character.
void append_escaped(std::string& out, const CodePoint& c, std::string_view text, std::size_t at) {
  switch (c.value) {
    case '&': out += "&amp;"; return;
    case '<': out += "&lt;"; return;
    case '>': out += "&gt;"; return;
    case '"': out += "&quot;"; return;
    case '\'': out += "&#39;"; return;
    default: break;
  }
  const bool xml_refuses = (c.value < 0x20 && c.value != '\t' && c.value != '\n' && c.value != '\r') ||
                           c.value == 0xFFFE || c.value == 0xFFFF;
  if (!xml_refuses) out.append(text.substr(at, c.bytes));
  else append_utf8(out, c.value < 0x20 ? 0x2400 + c.value : kReplacement);  // U+2400: the control pictures
}

}  // namespace

std::string escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const auto c = decode(text, at);
    if (!c) throw NotUtf8("not UTF-8");
    append_escaped(out, *c, text, at);
    at += c->bytes;
  }
  return out;
}

std::string as_utf8(std::string_view text) {
  std::string out;
  for (std::size_t at = 0; at < text.size();) {
    const auto c = decode(text, at);
    if (c) out.append(text.substr(at, c->bytes));
    else append_utf8(out, kReplacement);
    at += c ? c->bytes : 1;
  }
  return out;
}

std::size_t characters(std::string_view text) {
  std::size_t count = 0;
  for (const char byte : text) count += (static_cast<unsigned char>(byte) & 0xC0) != 0x80;
  return count;
}

std::string first_characters(std::string_view text, std::size_t count) {
  std::size_t at = 0;
  for (std::size_t seen = 0; at < text.size(); ++at) {
    if ((static_cast<unsigned char>(text[at]) & 0xC0) != 0x80 && seen++ == count) break;
  }
  return std::string(text.substr(0, at));
}

}  // namespace mf::tools
