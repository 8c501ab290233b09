#include "hiprtc_wire.h"

#include <cstdint>
#include <cstring>
#include <string_view>

namespace mf::compiler::hiprtc {
namespace {

void put(std::string& out, const std::string& field) {
  const std::uint64_t size = field.size();
  out.append(reinterpret_cast<const char*>(&size), sizeof size);
  out += field;
}

void put(std::string& out, std::uint64_t count) { out.append(reinterpret_cast<const char*>(&count), sizeof count); }

// Reads fields in order from a message; any read past its end fails the whole decode.
class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}

  bool take(std::uint64_t& value) {
    if (bytes_.size() - at_ < sizeof value) return false;
    std::memcpy(&value, bytes_.data() + at_, sizeof value);
    at_ += sizeof value;
    return true;
  }
  bool take(std::string& field) {
    std::uint64_t size = 0;
    if (!take(size) || bytes_.size() - at_ < size) return false;
    field.assign(bytes_, at_, size);
    at_ += size;
    return true;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  const std::string& bytes_;
  std::size_t at_ = 0;
};

// Each message opens with its kind and the protocol's version, so that a program that is
// not this library's worker (or another version of it) is told apart, not misread.
constexpr std::string_view kRequestMagic = "mfjit-hiprtc-request-1\n";
constexpr std::string_view kOutcomeMagic = "mfjit-hiprtc-outcome-1\n";

bool starts_with(const std::string& bytes, std::string_view magic) {
  return bytes.size() >= magic.size() && std::string_view(bytes).substr(0, magic.size()) == magic;
}

}  // namespace

std::string encode(const Request& request) {
  std::string out(kRequestMagic);
  put(out, request.library);
  put(out, request.source);
  put(out, request.name);
  put(out, std::uint64_t{request.options.size()});
  for (const std::string& option : request.options) put(out, option);
  return out;
}

std::optional<Request> decode_request(const std::string& bytes) {
  if (!starts_with(bytes, kRequestMagic)) return std::nullopt;
  const std::string fields = bytes.substr(kRequestMagic.size());
  Reader reader(fields);
  Request request;
  std::uint64_t count = 0;
  if (!reader.take(request.library) || !reader.take(request.source) || !reader.take(request.name) ||
      !reader.take(count))
    return std::nullopt;
  // Each option is at least its length: a count the message cannot hold is corrupt.
  if (count > fields.size() / sizeof(std::uint64_t)) return std::nullopt;
  request.options.resize(count);
  for (std::string& option : request.options)
    if (!reader.take(option)) return std::nullopt;
  if (!reader.done()) return std::nullopt;
  return request;
}

std::string encode(const Outcome& outcome) {
  std::string out(kOutcomeMagic);
  out += outcome.compiled ? '1' : '0';
  put(out, outcome.failure);
  put(out, outcome.log);
  put(out, outcome.code);
  return out;
}

std::optional<Outcome> decode_outcome(const std::string& bytes) {
  const std::size_t at = kOutcomeMagic.size();
  if (!starts_with(bytes, kOutcomeMagic) || bytes.size() <= at || (bytes[at] != '0' && bytes[at] != '1'))
    return std::nullopt;
  Outcome outcome;
  outcome.compiled = bytes[at] == '1';
  const std::string fields = bytes.substr(at + 1);
  Reader reader(fields);
  if (!reader.take(outcome.failure) || !reader.take(outcome.log) || !reader.take(outcome.code) || !reader.done())
    return std::nullopt;
  return outcome;
}

}  // namespace mf::compiler::hiprtc
