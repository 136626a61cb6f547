// HTTP/1.1 message types shared by the server and the client. Plain values: no Beast here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kgai::http {

struct Header {
  std::string name;
  std::string value;
};

// Case-insensitive lookup; returns "" when absent.
std::string_view find_header(std::span<const Header> headers, std::string_view name);

// A Content-Length value: decimal digits only (no sign, no spaces); nullopt otherwise.
std::optional<uint64_t> parse_content_length(std::string_view value);

struct Request {
  std::string method = "GET";
  std::string target = "/";  // path and query, e.g. "/v1/models?x=1"
  std::vector<Header> headers;
  std::string body;

  std::string_view header(std::string_view name) const { return find_header(headers, name); }
  // The path without the query string.
  std::string_view path() const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;

  std::string_view header(std::string_view name) const { return find_header(headers, name); }
};

// The default request-body limit of every kgai server (the gateway and the simulator alike),
// so that the gateway never forwards a body its model servers would refuse with 413. Large
// enough for a few base64 images in a chat request; --max-body-bytes changes it on both.
inline constexpr std::size_t kDefaultMaxBodyBytes = 16u << 20;

// The standard reason phrase ("Not Found"), or "Unknown".
std::string_view reason_phrase(int status);

}  // namespace kgai::http
