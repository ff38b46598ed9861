// Scores a WAV file with an exported tenor bundle through the installed C++ library
// (tenor::scoring), as a product would: the product reads its own audio (here a 16-bit PCM WAV
// reader of a few lines) and hands tenor the samples.
//
//   score_call BUNDLE CALL.wav [ROLE=CHANNEL ...] [--mix] [--threads N] [--stream]
//
// Prints one line per segment and task: segment, speaker, start, end, task, decision and the
// calibrated probabilities. With --threads N the call is scored N times at once on one loaded
// bundle, and the program fails unless every result is the same. With --stream the call is
// scored as it would be live: its samples pushed to a tenor::scoring::Stream in 100 ms chunks,
// a stream without turn events (StreamOptions::windows) that scores each 10-second window of
// each role once its audio is in (a product with a diarisation gives its turns instead,
// Stream::push_turn); the program prints the stream's final scores and fails unless they equal
// those of scoring the whole call.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "scoring/scoring.h"

namespace {

uint32_t u32(const char* p) {
  return uint32_t(uint8_t(p[0])) | uint32_t(uint8_t(p[1])) << 8 | uint32_t(uint8_t(p[2])) << 16 |
         uint32_t(uint8_t(p[3])) << 24;
}
uint16_t u16(const char* p) { return uint16_t(uint8_t(p[0]) | uint8_t(p[1]) << 8); }

/// A 16-bit PCM WAV as one vector of samples per channel (full scale 1).
tenor::scoring::Call read_wav(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 12 || bytes.compare(0, 4, "RIFF") != 0 || bytes.compare(8, 4, "WAVE") != 0)
    throw std::runtime_error(path + " is not a WAV file");
  tenor::scoring::Call call;
  int channels = 0, bits = 0;
  for (size_t at = 12; at + 8 <= bytes.size();) {
    const std::string id = bytes.substr(at, 4);
    const size_t size = u32(&bytes[at + 4]), body = at + 8;
    if (id == "fmt " && size >= 16) {
      channels = u16(&bytes[body + 2]);
      call.sample_rate_hz = int(u32(&bytes[body + 4]));
      bits = u16(&bytes[body + 14]);
    } else if (id == "data") {
      if (bits != 16 || channels < 1) throw std::runtime_error(path + " is not 16-bit PCM");
      const size_t frames = std::min(size, bytes.size() - body) / (2 * size_t(channels));
      call.channels.assign(size_t(channels), std::vector<float>(frames));
      for (size_t i = 0; i < frames; ++i)
        for (int c = 0; c < channels; ++c)
          call.channels[size_t(c)][i] =
              float(int16_t(u16(&bytes[body + 2 * (i * size_t(channels) + size_t(c))]))) / 32768.f;
    }
    at = body + size + (size & 1);
  }
  if (call.channels.empty()) throw std::runtime_error(path + " has no data chunk");
  return call;
}

std::string lines(const std::vector<tenor::scoring::SegmentScore>& scores) {
  std::string out;
  char buf[64];
  for (const auto& s : scores)
    for (const auto& t : s.tasks) {
      std::snprintf(buf, sizeof buf, " %.6f %.6f", s.start_s, s.end_s);
      out += std::to_string(s.segment) + " " + s.speaker + buf + " " + t.task + " " + t.decision;
      for (double p : t.calibrated) std::snprintf(buf, sizeof buf, " %.9f", p), out += buf;
      out += "\n";
    }
  return out;
}

/// The call scored through a stream without turn events (windows of 10 s per role, as the
/// audio is pushed in 100 ms chunks), its final scores checked against Scorer::score of the
/// whole call without a transcript; the stream's final scores.
std::vector<tenor::scoring::SegmentScore> score_streamed(const tenor::scoring::Scorer& scorer,
                                                         const tenor::scoring::Call& call) {
  const size_t n = call.channels.front().size();
  tenor::scoring::StreamOptions options;
  options.call_id = call.call_id;
  options.sample_rate_hz = call.sample_rate_hz;
  options.channels = int(call.channels.size());
  options.roles = call.roles;
  options.mix = call.mix;
  options.windows = true;
  options.window_s = call.window_s;
  tenor::scoring::Stream stream = scorer.open_stream(options);
  size_t live = 0;  // windows scored while the call goes on (a product would show them)
  const size_t chunk = size_t(call.sample_rate_hz / 10);
  for (size_t at = 0; at < n; at += chunk) {
    std::vector<const float*> channels;
    for (const auto& c : call.channels) channels.push_back(c.data() + at);
    live += stream.push(channels, std::min(chunk, n - at)).size();
  }
  const auto out = stream.finish();
  const auto offline = scorer.score(call);
  bool same = offline.size() == out.size() && live <= out.size();
  for (size_t i = 0; same && i < out.size(); ++i)
    for (size_t t = 0; same && t < out[i].tasks.size(); ++t) {
      same = out[i].tasks[t].decision == offline[i].tasks[t].decision;
      for (size_t c = 0; same && c < out[i].tasks[t].calibrated.size(); ++c)
        same = std::abs(out[i].tasks[t].calibrated[c] - offline[i].tasks[t].calibrated[c]) < 1e-6;
    }
  if (!same) throw std::runtime_error("the stream's scores differ from the whole call's");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: score_call BUNDLE CALL.wav [ROLE=CHANNEL ...] [--mix] [--threads N] "
                 "[--stream]\n";
    return 2;
  }
  try {
    tenor::scoring::Scorer scorer(argv[1]);
    tenor::scoring::Call call = read_wav(argv[2]);
    call.call_id = argv[2];
    int threads = 1;
    bool stream = false;
    for (int i = 3; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--mix") {
        call.mix = true;
      } else if (arg == "--stream") {
        stream = true;
      } else if (arg == "--threads" && i + 1 < argc) {
        threads = std::stoi(argv[++i]);
      } else if (auto eq = arg.find('='); eq != std::string::npos) {
        call.roles[arg.substr(0, eq)] = std::stoi(arg.substr(eq + 1));
      }
    }
    if (stream) {
      std::cout << lines(score_streamed(scorer, call));
      return 0;
    }
    std::vector<std::string> results(size_t(std::max(threads, 1)));
    std::vector<std::exception_ptr> errors(results.size());
    std::vector<std::thread> workers;
    for (size_t t = 0; t < results.size(); ++t)
      workers.emplace_back([&, t] {
        try {
          results[t] = lines(scorer.score(call));
        } catch (...) {
          errors[t] = std::current_exception();  // rethrown below, as it was thrown
        }
      });
    for (auto& w : workers) w.join();
    for (size_t t = 0; t < results.size(); ++t) {
      if (errors[t]) std::rethrow_exception(errors[t]);
      if (results[t] != results[0]) {
        std::cerr << "score_call: concurrent scores differ (thread " << t << ")\n";
        return 1;
      }
    }
    std::cout << results[0];
  } catch (const tenor::UsageError& e) {
    std::cerr << "score_call: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "score_call: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
