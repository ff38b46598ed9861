#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tenor::data {

/// Reads a text file line by line in fixed-size blocks. A line longer than
/// `max_line_bytes` is skipped without being held in memory (a 5 GB line costs
/// one block of RAM), and reported through `Line::too_long`.
class LineReader {
 public:
  struct Line {
    std::string_view text;  ///< without the line break (and without a trailing '\r')
    int64_t number = 0;     ///< 1-based
    uint64_t bytes = 0;     ///< length of the line as it is in the file
    bool too_long = false;  ///< text is empty then
  };

  /// Throws IoError naming the file.
  LineReader(const std::filesystem::path& path, size_t max_line_bytes);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line, or false at the end of the file. Throws IoError on a read error.
  bool next(Line& line);

  uint64_t bytes_read() const { return bytes_read_; }

 private:
  bool refill();

  std::FILE* file_ = nullptr;
  std::filesystem::path path_;
  size_t max_line_bytes_;
  std::vector<char> buffer_;
  size_t pos_ = 0, end_ = 0;
  bool eof_ = false;
  int64_t number_ = 0;
  uint64_t bytes_read_ = 0;
  std::string current_;
};

}  // namespace tenor::data
