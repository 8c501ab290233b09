// SHA-256 against the FIPS 180-4 example vectors, whole and fed in pieces.
#include "sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace mf::compiler {
namespace {

std::string hex_sha256(std::string_view data) { return to_hex(sha256(data)); }

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(hex_sha256(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_sha256("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_sha256(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// Every split of a message that crosses the 55/56/64-byte padding boundaries.
TEST(Sha256, IncrementalUpdatesMatchOneShot) {
  std::string message;
  for (int i = 0; i < 130; ++i) message += static_cast<char>('a' + i % 26);
  for (std::size_t length : {55u, 56u, 63u, 64u, 65u, 119u, 120u, 130u}) {
    const std::string_view whole(message.data(), length);
    for (std::size_t split = 0; split <= length; ++split) {
      const Digest pieces = Sha256().update(whole.substr(0, split)).update(whole.substr(split)).finish();
      ASSERT_EQ(to_hex(pieces), hex_sha256(whole)) << "length " << length << " split " << split;
    }
  }
}

TEST(Sha256, HexIsLowerCaseTwoDigitsPerByte) {
  const std::uint8_t bytes[] = {0x00, 0x0f, 0xa0, 0xff};
  EXPECT_EQ(to_hex(bytes), "000fa0ff");
}

}  // namespace
}  // namespace mf::compiler
