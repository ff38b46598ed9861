#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace tenor {

/// Incremental SHA-256 (OpenSSL's implementation), as lowercase hex.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  Sha256& update(std::string_view bytes);
  /// Feeds a whole file in blocks; throws IoError naming it.
  Sha256& update_file(const std::filesystem::path& path);
  std::string hex();

 private:
  void* ctx_;
};

std::string sha256_hex(std::string_view bytes);
std::string sha256_file(const std::filesystem::path& path);

}  // namespace tenor
