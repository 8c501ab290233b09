// What the library and mf-hiprtc-worker say to each other over the worker's socket: one
// Request in, one Outcome out, each field a u64 length and its bytes (the encoding cannot
// be torn silently: a short or overlong message does not decode).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mf::compiler::hiprtc {

struct Request {
  std::string library;  // the hipRTC library to load, as the parent process resolved it
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
