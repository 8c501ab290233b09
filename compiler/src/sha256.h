// SHA-256 (FIPS 180-4), for content addresses: cache keys and the checksum that lets the
// binary cache tell a torn or corrupted file from a good one. Ours, so that the compiler
// library needs no crypto dependency.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mf::compiler {

using Digest = std::array<std::uint8_t, 32>;

// Incremental hashing, for inputs assembled from several pieces.
class Sha256 {
 public:
  Sha256& update(std::string_view data);
  Digest finish();  // the object must not be used afterwards

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_ = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes hashed so far
};

Digest sha256(std::string_view data);

// Lower-case hexadecimal, two digits per byte.
std::string to_hex(std::span<const std::uint8_t> bytes);

}  // namespace mf::compiler
