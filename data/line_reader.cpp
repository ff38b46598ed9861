#include "data/line_reader.h"

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace tenor::data {

namespace {
constexpr size_t kBlockBytes = size_t{1} << 20;
}

LineReader::LineReader(const std::filesystem::path& path, size_t max_line_bytes)
    : path_(path), max_line_bytes_(max_line_bytes), buffer_(kBlockBytes) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw IoError("cannot open " + path.string() + ": " + std::strerror(errno));
}

LineReader::~LineReader() {
  if (file_) std::fclose(file_);
}

bool LineReader::refill() {
  if (eof_) return false;
  size_t n = std::fread(buffer_.data(), 1, buffer_.size(), file_);
  if (n == 0) {
    if (std::ferror(file_))
      throw IoError("error reading " + path_.string() + ": " + std::strerror(errno));
    eof_ = true;
    return false;
  }
  pos_ = 0;
  end_ = n;
  bytes_read_ += n;
  return true;
}

bool LineReader::next(Line& line) {
  current_.clear();
  line = Line{};
  bool any = false;
  for (;;) {
    if (pos_ == end_ && !refill()) {
      if (!any) return false;
      break;
    }
    any = true;
    const char* start = buffer_.data() + pos_;
    const void* nl = std::memchr(start, '\n', end_ - pos_);
    size_t take = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start) : end_ - pos_;
    line.bytes += take;
    if (!line.too_long) {
      if (current_.size() + take > max_line_bytes_) {
        line.too_long = true;
        std::string().swap(current_);
      } else {
        current_.append(start, take);
      }
    }
    pos_ += take;
    if (nl) {
      ++pos_;
      break;
    }
  }
  line.number = ++number_;
  if (!line.too_long) {
    if (!current_.empty() && current_.back() == '\r') current_.pop_back();
    line.text = current_;
  }
  return true;
}

}  // namespace tenor::data
