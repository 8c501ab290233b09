// What the library and mf-hiprtc-worker say to each other over the worker's socket: one
// Request in, one Outcome out, each opening with its kind and the protocol's version and
// then each field a u64 length and its bytes (the encoding cannot be torn silently: a
// short, overlong or foreign message does not decode).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mf::compiler::hiprtc {

struct Request {
  std::string library;  // the hipRTC library file to load: the one the library loaded
  std::string source, name;
  std::vector<std::string> options;
};

struct Outcome {
  bool compiled = false;
  std::string failure;  // why not, when !compiled
  std::string log, code;
};

std::string encode(const Request& request);
std::optional<Request> decode_request(const std::string& bytes);

std::string encode(const Outcome& outcome);
std::optional<Outcome> decode_outcome(const std::string& bytes);

}  // namespace mf::compiler::hiprtc
