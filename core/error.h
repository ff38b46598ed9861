#pragma once

#include <stdexcept>
#include <string>

namespace tenor {

/// Base of every exception the libraries throw. Only `main` catches.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Bad command line or configuration: the user must change how tenor is called (exit 2).
class UsageError : public Error {
 public:
  using Error::Error;
};

/// A configuration file or value that cannot be used (exit 2).
class ConfigError : public UsageError {
 public:
  using UsageError::UsageError;
};

/// Input data that cannot be used as it is (exit 1).
class DataError : public Error {
 public:
  using Error::Error;
};

/// A model that cannot be exported, or an export that fails its checks (parity, checksums)
/// (exit 1).
class ExportError : public Error {
 public:
  using Error::Error;
};

/// A file that cannot be read or written (exit 1).
class IoError : public Error {
 public:
  using Error::Error;
};

}  // namespace tenor
