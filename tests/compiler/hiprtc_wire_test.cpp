// The messages between the library and mf-hiprtc-worker (compiler/src/hiprtc_wire.h): what
// is encoded decodes to the same fields, and a message cut short, lengthened or corrupted
// does not decode at all.
#include "hiprtc_wire.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace mf::compiler::hiprtc {
namespace {

Request sample_request() {
  // A NUL and bytes past 0x7f in the fields: lengths, not terminators, delimit them.
  return {"/opt/rocm/lib/libhiprtc.so", std::string("extern \"C\" __global__ void k() {}\0\xff", 36), "k.hip",
          {"--offload-arch=gfx90a", "", "-O3"}};
}

Outcome sample_outcome() { return {true, "", "warning: something", std::string("\x7f" "ELF\0\x01\x02", 7)}; }

TEST(HipRtcWire, ARequestDecodesToItsFields) {
  const Request request = sample_request();
  const auto decoded = decode_request(encode(request));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->library, request.library);
  EXPECT_EQ(decoded->source, request.source);
  EXPECT_EQ(decoded->name, request.name);
  EXPECT_EQ(decoded->options, request.options);
}

TEST(HipRtcWire, AnOutcomeDecodesToItsFields) {
  for (const Outcome& outcome : {sample_outcome(), Outcome{false, "HIPRTC_ERROR_COMPILATION (6)", "error: x", ""}}) {
    const auto decoded = decode_outcome(encode(outcome));
    ASSERT_TRUE(decoded.has_value());
    EXPECT_EQ(decoded->compiled, outcome.compiled);
    EXPECT_EQ(decoded->failure, outcome.failure);
    EXPECT_EQ(decoded->log, outcome.log);
    EXPECT_EQ(decoded->code, outcome.code);
  }
}

TEST(HipRtcWire, NoPrefixOfAMessageDecodes) {
  const std::string request = encode(sample_request());
  for (std::size_t size = 0; size < request.size(); ++size)
    EXPECT_FALSE(decode_request(request.substr(0, size)).has_value()) << size << " of " << request.size();
  const std::string outcome = encode(sample_outcome());
  for (std::size_t size = 0; size < outcome.size(); ++size)
    EXPECT_FALSE(decode_outcome(outcome.substr(0, size)).has_value()) << size << " of " << outcome.size();
}

TEST(HipRtcWire, TrailingBytesDoNotDecode) {
  EXPECT_FALSE(decode_request(encode(sample_request()) + "x").has_value());
  EXPECT_FALSE(decode_outcome(encode(sample_outcome()) + "x").has_value());
}

TEST(HipRtcWire, CorruptHeadersDoNotDecode) {
  // An option count far beyond what the message holds is refused before anything is sized.
  Request request = sample_request();
  request.options.clear();
  std::string message = encode(request);
  const std::uint64_t huge = std::uint64_t{1} << 60;
  std::memcpy(message.data() + message.size() - sizeof huge, &huge, sizeof huge);
  EXPECT_FALSE(decode_request(message).has_value());
  // A field length past the end: the failure's, the first after the compiled flag.
  const Outcome sample = sample_outcome();
  std::string outcome = encode(sample);
  const std::size_t failure_at =
      outcome.size() - 3 * sizeof huge - sample.failure.size() - sample.log.size() - sample.code.size();
  std::memcpy(outcome.data() + failure_at, &huge, sizeof huge);
  EXPECT_FALSE(decode_outcome(outcome).has_value());
  // The flag says compiled or not, nothing else.
  outcome = encode(sample);
  ASSERT_EQ(outcome[failure_at - 1], '1');
  outcome[failure_at - 1] = '2';
  EXPECT_FALSE(decode_outcome(outcome).has_value());
}

// Each message opens with its kind and version: a request is not an outcome, and a program
// that echoes what it is sent (or a worker of another protocol version) is not a worker.
TEST(HipRtcWire, ForeignMessagesDoNotDecode) {
  const std::string request = encode(sample_request());
  const std::string outcome = encode(sample_outcome());
  EXPECT_FALSE(decode_outcome(request).has_value());
  EXPECT_FALSE(decode_request(outcome).has_value());
  std::string other_version = outcome;
  const std::size_t digit = other_version.find("-1\n");
  ASSERT_NE(digit, std::string::npos);
  other_version[digit + 1] = '2';
  EXPECT_FALSE(decode_outcome(other_version).has_value());
}

}  // namespace
}  // namespace mf::compiler::hiprtc
