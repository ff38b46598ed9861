#pragma once
// The one way the data loaders spread work over threads. An exception thrown by
// the work on any thread reaches the caller, after every thread has been joined:
// an exception escaping a std::thread's function (or a std::thread destroyed
// while still joinable) calls std::terminate, which aborted every data command
// on one unexpected value (issue 16).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "core/cpu.h"

namespace tenor::data {

/// Calls `fn(i)` once for each i in [0, n) on up to `threads` threads, the calling
/// thread included (0 = one per core this process may use, core/cpu.h). Items are handed
/// out in order, one at a time. If any call throws, no further items are started, all
/// threads are joined and the first exception is rethrown here. If the system refuses more
/// threads, the ones already running (at least the caller) do all the work.
template <class Fn>
void parallel_for(size_t n, unsigned threads, Fn&& fn) {
  if (threads == 0) threads = cpu_share().usable();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  auto work = [&] {
    for (size_t i; !failed.load() && (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  const size_t wanted = std::min<size_t>(threads, n);
  pool.reserve(wanted > 0 ? wanted - 1 : 0);
  for (size_t t = 1; t < wanted; ++t) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // out of threads: the ones started (and this one) share the work
    }
  }
  work();
  for (auto& t : pool) t.join();
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace tenor::data
