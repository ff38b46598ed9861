// data::parallel_for: an exception on any thread reaches the caller, never std::terminate.
#include "data/parallel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <stdexcept>
#include <thread>

namespace tenor::test {
namespace {

TEST(ParallelFor, RunsEveryItemOnce) {
  std::vector<std::atomic<int>> runs(1000);
  data::parallel_for(runs.size(), 4, [&](size_t i) { ++runs[i]; });
  for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
  data::parallel_for(0, 4, [&](size_t) { FAIL() << "no items, no calls"; });
}

// The worker thread throws while the caller is still busy: the exception must
// wait for the caller and every thread to finish, then reach the caller.
TEST(ParallelFor, ExceptionOnAWorkerThreadReachesTheCaller) {
  const auto caller = std::this_thread::get_id();
  std::mutex m;
  std::condition_variable cv;
  bool thrown = false;
  auto fn = [&](size_t) {
    if (std::this_thread::get_id() != caller) {
      {
        std::lock_guard lock(m);
        thrown = true;
      }
      cv.notify_all();
      throw std::runtime_error("bad value on a worker");
    }
    std::unique_lock lock(m);  // the caller waits until a worker has thrown (10 s at most)
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return thrown; });
  };
  try {
    data::parallel_for(64, 4, fn);
    FAIL() << "expected the worker's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bad value on a worker");
  }
  EXPECT_TRUE(thrown);
}

// The caller throws while the workers are still busy: they are joined (a joinable
// std::thread destroyed during unwinding would call std::terminate), then it is rethrown.
TEST(ParallelFor, ExceptionOnTheCallingThreadJoinsTheOthersFirst) {
  const auto caller = std::this_thread::get_id();
  std::mutex m;
  std::condition_variable cv;
  bool worker_busy = false, thrown = false;
  std::atomic<int> finished_on_workers{0};
  auto fn = [&](size_t) {
    std::unique_lock lock(m);  // waits are bounded (10 s) in case no thread could start
    if (std::this_thread::get_id() == caller) {
      cv.wait_for(lock, std::chrono::seconds(10), [&] { return worker_busy; });
      thrown = true;
      cv.notify_all();
      throw std::invalid_argument("bad value on the caller");
    }
    worker_busy = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return thrown; });
    ++finished_on_workers;
  };
  try {
    data::parallel_for(64, 4, fn);
    FAIL() << "expected the caller's exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad value on the caller");
  }
  EXPECT_GE(finished_on_workers.load(), 1);  // they ran to the end before the rethrow
}

}  // namespace
}  // namespace tenor::test
