// The ONNX Runtime runner (export/ort_runner.h): one long-lived child per process, reused by
// every call and model; a child that dies or hangs mid-call is an IoError within the timeout,
// never a hang, and the next call starts a new one; a model ONNX Runtime refuses is an
// ExportError and leaves the child serving.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/error.h"
#include "export/graph_builder.h"
#include "export/ort_runner.h"

namespace tenor::onnx_export {
namespace {
namespace fs = std::filesystem;
using onnx::TensorProto;

/// A file in a per-test temporary directory, removed with it.
class OrtRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tenor-ort-runner-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// y = x * 2 + 1, x float [batch, 3].
  fs::path affine_model() {
    GraphBuilder g("affine");
    g.input("x", TensorProto::FLOAT, {"batch", 3});
    const std::string y = g.op("Add", {g.op("Mul", {"x", g.scalar_f32(2)}), g.scalar_f32(1)});
    g.output(y, "y", TensorProto::FLOAT, {"batch", 3});
    const fs::path file = dir_ / "affine.onnx";
    std::ofstream(file, std::ios::binary) << serialize(make_model_proto(std::move(g), "test"));
    return file;
  }

  static OrtCase affine_case(float base) {
    OrtCase c;
    c.name = "x";
    c.inputs["x"] = HostTensor::from_f32({2, 3}, {base, base + 1, base + 2, base + 3, base + 4,
                                                  base + 5});
    return c;
  }

  static void expect_affine(const OrtResult& r, float base) {
    const HostTensor& y = r.outputs.at("y");
    ASSERT_EQ(y.dims, (std::vector<int64_t>{2, 3}));
    for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(y.f32()[i], (base + float(i)) * 2 + 1);
  }

  fs::path dir_;
};

TEST_F(OrtRunnerTest, ManyCallsAndModelsShareOneChild) {
  const fs::path model = affine_model();
  OrtSession session(model);
  expect_affine(session.run(affine_case(0)), 0);
  const int pid = onnx_runtime_pid();
  ASSERT_GT(pid, 0);
  for (int i = 1; i <= 200; ++i) expect_affine(session.run(affine_case(float(i))), float(i));
  for (int i = 0; i < 5; ++i)  // run_onnx_runtime loads the model again, in the same child
    expect_affine(run_onnx_runtime(model, {affine_case(7)}).at(0), 7);
  EXPECT_EQ(onnx_runtime_pid(), pid);
}

TEST_F(OrtRunnerTest, ConcurrentCallsOnOneSessionAreServedInTurn) {
  OrtSession session(affine_model());
  std::vector<std::thread> threads;
  std::vector<int> good(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const float base = float(t * 100 + i);
        auto r = session.run(affine_case(base));
        good[size_t(t)] += r.outputs.at("y").f32()[5] == (base + 5) * 2 + 1;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(good, (std::vector<int>{25, 25, 25, 25}));
}

TEST_F(OrtRunnerTest, AChildKilledMidCallIsAnIoErrorAndTheNextCallStartsANewOne) {
  OrtSession session(affine_model());
  expect_affine(session.run(affine_case(0)), 0);
  const int pid = onnx_runtime_pid();
  ASSERT_GT(pid, 0);
  ::kill(pid, SIGSTOP);  // it cannot answer: the call below is in flight when it is killed
  std::thread killer([pid] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(pid, SIGKILL);
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::string message;
  try {
    session.run(affine_case(1));
  } catch (const IoError& e) {
    message = e.what();
  }
  killer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  EXPECT_NE(message.find("signal 9 (SIGKILL"), std::string::npos) << message;
  EXPECT_NE(message.find("affine.onnx"), std::string::npos) << message;
  EXPECT_NE(message.find("pid " + std::to_string(pid)), std::string::npos) << message;
  expect_affine(session.run(affine_case(2)), 2);  // reloaded in a new child
  EXPECT_NE(onnx_runtime_pid(), pid);
}

TEST_F(OrtRunnerTest, AHungChildIsStoppedAfterTheTimeout) {
  OrtOptions options;
  options.timeout_s = 1;
  const fs::path model = affine_model();
  OrtSession session(model, options);
  expect_affine(session.run(affine_case(0)), 0);
  const int pid = onnx_runtime_pid();
  ::kill(pid, SIGSTOP);
  const auto t0 = std::chrono::steady_clock::now();
  std::string message;
  try {
    session.run(affine_case(1));
  } catch (const IoError& e) {
    message = e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  EXPECT_NE(message.find("did not answer within 1 s"), std::string::npos) << message;
  EXPECT_NE(message.find("TENOR_ORT_TIMEOUT_S"), std::string::npos) << message;
  EXPECT_EQ(::kill(pid, 0), -1) << "the hung child was left running";
  OrtSession unhurried(model);  // the default limit: a busy machine may take 1 s to load it
  expect_affine(unhurried.run(affine_case(3)), 3);
}

TEST_F(OrtRunnerTest, AModelOnnxRuntimeRefusesIsAnExportErrorAndTheChildServesOn) {
  OrtSession good(affine_model());
  expect_affine(good.run(affine_case(0)), 0);
  const int pid = onnx_runtime_pid();
  std::ofstream(dir_ / "broken.onnx", std::ios::binary) << "this is not a protobuf";
  OrtSession broken(dir_ / "broken.onnx");
  std::string message;
  try {
    broken.run(affine_case(0));
  } catch (const ExportError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("loading " + (dir_ / "broken.onnx").string()), std::string::npos)
      << message;
  OrtCase wrong;
  wrong.name = "wrong";
  wrong.inputs["z"] = HostTensor::from_f32({1, 3}, {1, 2, 3});
  EXPECT_THROW(good.run(wrong), ExportError);
  EXPECT_THROW(OrtSession(dir_ / "missing.onnx").run(affine_case(0)), ExportError);
  expect_affine(good.run(affine_case(4)), 4);
  EXPECT_EQ(onnx_runtime_pid(), pid);
}

TEST_F(OrtRunnerTest, ShutdownEndsTheChildCleanly) {
  OrtSession session(affine_model());
  expect_affine(session.run(affine_case(0)), 0);
  const int pid = onnx_runtime_pid();
  shutdown_onnx_runtime();
  EXPECT_EQ(onnx_runtime_pid(), -1);
  EXPECT_EQ(::kill(pid, 0), -1) << "the runner was not reaped";
  expect_affine(session.run(affine_case(5)), 5);
  EXPECT_GT(onnx_runtime_pid(), 0);
}

TEST(OrtDir, FoundRelativeToTheBinaryUnlessTenorOrtDirIsSet) {
  ::unsetenv("TENOR_ORT_DIR");
  const fs::path dir = ort_dir();  // build/tests/export/... -> build/share/tenor/ort
  EXPECT_TRUE(fs::exists(dir / "run.js")) << dir;
  EXPECT_EQ(dir.filename(), "ort");
  ::setenv("TENOR_ORT_DIR", "/somewhere/else", 1);
  EXPECT_EQ(ort_dir(), fs::path("/somewhere/else"));
  ::unsetenv("TENOR_ORT_DIR");
}

}  // namespace
}  // namespace tenor::onnx_export
