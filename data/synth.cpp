#include "data/synth.h"

#include <espeak-ng/espeak_ng.h>
#include <espeak-ng/speak_lib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/log.h"
#include "data/audio.h"
#include "data/dataset.h"
#include "data/schema.h"

namespace tenor::data {
namespace fs = std::filesystem;
namespace {

constexpr int kAgentChannel = 0;
constexpr int kCustomerChannel = 1;
constexpr int kLevels = 4;  // escalation classes: calm, frustrated, angry, hostile

// Timing of a call, in seconds.
constexpr double kLeadMinS = 0.3, kLeadMaxS = 0.8;         // silence before the first turn
constexpr double kGapMinS = 0.2, kGapMaxS = 0.8;           // between turns
constexpr double kOverlapChance = 0.12;                    // the next speaker barges in...
constexpr double kOverlapMinS = 0.1, kOverlapMaxS = 0.35;  // ...this long before the end
constexpr double kSameSpeakerGapS = 0.2;                   // a speaker's own segments never overlap
constexpr double kTailMinS = 0.3, kTailMaxS = 0.7;         // silence after the last turn

// Levels (full scale = 1). -60 dBFS RMS keeps every channel above digital silence; uniform
// noise on [-a, a] has RMS a / sqrt(3).
constexpr double kNoiseRms = 1e-3;
constexpr double kTrimThreshold = 1e-3;  // espeak's padding is (near) zero: trim below this
constexpr double kPeakLimit = 0.95;      // scale an utterance down rather than clip it

// Who says what.
constexpr double kEmpatheticTurnChance = 0.8;     // turns of an empathetic agent that are
constexpr double kIncidentalEmpathyChance = 0.1;  // ...and of a procedural one
constexpr double kEmpathyFollowUpChance = 0.5;    // an empathetic turn goes on with procedure
constexpr double kSecondPhraseChance = 0.4;    // a turn says two phrases (more varied transcripts)
constexpr double kCalmSlipChance = 0.15;       // a non-escalating customer turns frustrated
constexpr double kEscalationLagChance = 0.25;  // an escalating customer holds a level longer
constexpr std::array<double, 3> kPeakOdds = {0.2, 0.35, 0.45};  // peak 1, 2, 3 (the rest)

/// espeak-ng prosody of one utterance: espeakRATE (words/min), espeakPITCH and espeakRANGE
/// (0-100, 50 normal) and espeakVOLUME (amplitude, 100 normal).
struct Prosody {
  int pitch = 50, range = 50, rate = 175, volume = 100;
};

/// How a kind of turn shifts a speaker's own pitch and rate, and the range and volume it sets.
struct Style {
  int pitch_offset = 0, range = 50, rate_offset = 0, volume = 100;
};

// Escalation levels: higher, wider, faster and louder, the vocal correlates of high-arousal
// anger (Scherer, "Vocal communication of emotion", Speech Communication 40, 2003). Volumes
// stay at or below 100, where espeak-ng peaks at about 0.8 of full scale (measured); above
// about 150 its AGC flattens the loudness difference.
constexpr std::array<Style, kLevels> kLevelStyles = {
    {{0, 40, 0, 55}, {7, 55, 15, 70}, {14, 70, 30, 85}, {22, 85, 45, 100}}};
// Agents: empathetic turns slower, softer and more melodic; procedural ones flat and brisk.
constexpr Style kEmpatheticStyle = {-2, 50, -15, 60};
constexpr Style kProceduralStyle = {0, 30, 10, 70};

// espeak-ng accents (languages) and voice variants (espeak-ng-data/voices/!v).
const std::vector<std::string> kAccents = {"en", "en-us", "en-gb-x-rp", "en-gb-scotland"};
const std::vector<std::string> kVariants = {"m1", "m2", "m3", "m4", "m5", "m6",
                                            "m7", "f1", "f2", "f3", "f4", "f5"};

struct Scenario {
  const char* name;
  std::vector<std::string> things;  // fills {thing}
};
const std::vector<Scenario> kScenarios = {
    {"billing", {"my bill", "this extra charge"}},
    {"refund", {"my refund", "the refund you promised"}},
    {"cancellation", {"my contract", "my subscription"}},
    {"delivery", {"my order", "my delivery"}},
    {"technical", {"my internet connection", "my broadband"}}};
const std::vector<std::string> kWaits = {"twenty minutes", "forty minutes", "over an hour",
                                         "three days", "two weeks"};

const std::vector<std::string> kOpenings = {
    "Hi, I'm calling about {thing}.", "Hello, I was hoping you could help me with {thing}.",
    "Good morning, I have a question about {thing}.", "Hi there, it's about {thing} again."};
const std::array<std::vector<std::string>, kLevels> kCustomerPhrases = {{
    {"Sure, my account number should be on file.", "Okay, that makes sense, thank you.",
     "I just want to understand what happened with {thing}.", "No problem, I can wait a moment.",
     "Could you tell me when it will be sorted out?", "Yes, that's the right address.",
     "Thanks, I appreciate you looking into it.", "I noticed something odd with {thing} this week.",
     "Right, and how long does that usually take?", "That's fine, go ahead."},
    {"I've already been waiting {wait} for this.",
     "This is the second time I've had to call about {thing}.",
     "I was told last week that this would be fixed.", "Honestly, I'm getting tired of this.",
     "Why does it take so long to sort out {thing}?", "I've explained this twice already.",
     "Can you please just tell me what's going on with {thing}?",
     "I don't understand why nobody called me back.", "I really expected better than this.",
     "So I have to wait again? Seriously?"},
    {"I have been on hold for {wait} and nobody can help me!",
     "This is ridiculous, I want {thing} fixed today!", "Stop transferring me to different people!",
     "You keep making promises and never keep them!", "I want my money back, and I want it now!",
     "Don't tell me to be patient, I've been patient for {wait}!",
     "Every time I call I get a different answer!", "I'm not reading my account number out again!",
     "This is completely unacceptable!", "Why should I keep paying when {thing} doesn't work?"},
    {"I'm cancelling everything, I'm done with this company!", "Get me your manager right now!",
     "I'm reporting you to the ombudsman, this is a disgrace!",
     "You are absolutely useless, all of you!", "I don't want to hear another excuse, just fix it!",
     "I will never use your service again, and I'll tell everyone why!",
     "Do not put me on hold again, do you hear me?",
     "This is the worst service I have ever had in my life!", "I'm taking this to my lawyer!",
     "Forget it, close my account, I'm finished!"},
}};
const std::vector<std::string> kEmpatheticPhrases = {
    "I'm sorry you've had to wait so long, that sounds really frustrating.",
    "I completely understand, and I'm sorry this has happened.",
    "That must have been very stressful, thank you for bearing with us.",
    "I hear you, and I'd be upset too in your position.",
    "I'm really sorry about the trouble with {thing}, let's get it sorted together.",
    "Thank you for your patience, I know this hasn't been easy.",
    "I'm sorry you were passed around, I'll stay with you until it's fixed.",
    "You're right to be annoyed, that's not the service you should get.",
    "I appreciate you explaining it again, I know that's tiring.",
    "I can see why this is upsetting, let me take care of it personally."};
const std::vector<std::string> kProceduralPhrases = {
    "Please hold while I check your account number.",
    "Can you confirm the name on the account?",
    "I'll need the reference number from your last email.",
    "Our records show {thing} was processed on Monday.",
    "I'm going to transfer you to the relevant department.",
    "That will take five to seven working days.",
    "Please confirm your date of birth and postcode.",
    "I've raised a ticket, the reference is on its way by email.",
    "The system shows no open cases on this account.",
    "Is there anything else I can help you with today?"};

// ---- Deterministic randomness. std::*_distribution algorithms are implementation-defined,
// so the same seed could give different data with another standard library; these are not.
using Rng = std::mt19937_64;

/// SplitMix64 finaliser (Steele, Lea & Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014): decorrelates the streams derived from one seed.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
Rng stream(uint64_t seed, uint64_t salt) { return Rng(splitmix64(seed ^ splitmix64(salt))); }
/// Uniform in [0, 1) from the top 53 bits.
double uniform(Rng& rng) { return double(rng() >> 11) * 0x1.0p-53; }
double uniform(Rng& rng, double lo, double hi) { return lo + (hi - lo) * uniform(rng); }
bool chance(Rng& rng, double p) { return uniform(rng) < p; }
/// Integer in [lo, hi]; the modulo bias, (hi - lo + 1) / 2^64, is negligible here.
int integer(Rng& rng, int lo, int hi) { return lo + int(rng() % uint64_t(hi - lo + 1)); }
template <typename T>
const T& pick(Rng& rng, const std::vector<T>& items) {
  return items[integer(rng, 0, int(items.size()) - 1)];
}
/// An item of `items` that `text` does not already contain.
const std::string& other(Rng& rng, const std::vector<std::string>& items, const std::string& text) {
  for (;;)
    if (const auto& item = pick(rng, items); text.find(item) == std::string::npos) return item;
}
/// 0..n-1 in random order (Fisher-Yates).
std::vector<int> permutation(Rng& rng, int n) {
  std::vector<int> p(n);
  for (int i = 0; i < n; ++i) p[i] = i;
  for (int i = n - 1; i > 0; --i) std::swap(p[i], p[integer(rng, 0, i)]);
  return p;
}

// ---- The plan: everything random is decided before any audio is made.

struct Speaker {
  std::string id, voice;
  int pitch = 50, rate = 175;  // espeakPITCH and espeakRATE of the speaker's calm voice
  double gain = 1.0;           // telephone line level
};

/// One espeak-ng request.
struct Utterance {
  std::string voice, text;
  Prosody prosody;
};

struct Turn {
  bool customer = true;
  int label = 0;  // escalation level or empathy (0/1)
  Utterance utterance;
  double gain = 1.0;
};

struct CallPlan {
  Call call;  // metadata; segments are added once the audio is laid out
  std::vector<Turn> turns;
  uint64_t layout_seed = 0;
};

std::string fill(std::string phrase, const std::string& thing, const std::string& wait) {
  for (auto [key, value] : {std::pair{"{thing}", &thing}, std::pair{"{wait}", &wait}}) {
    for (size_t at; (at = phrase.find(key)) != std::string::npos;)
      phrase.replace(at, std::strlen(key), *value);
  }
  return phrase;
}

Prosody styled(const Speaker& speaker, const Style& style, Rng& rng) {
  // Small per-turn jitter so that no two turns of a speaker sound identical.
  return {std::clamp(speaker.pitch + style.pitch_offset + integer(rng, -3, 3), 0, 100), style.range,
          std::clamp(speaker.rate + style.rate_offset + integer(rng, -8, 8), 80, 450),
          style.volume};
}

/// Escalation level of each customer turn: escalating customers climb from calm to a peak
/// (not always hostile) reached about two thirds of the way through and held; the others
/// stay calm, slipping into frustration now and then.
std::vector<int> escalation_levels(Rng& rng, int customer_turns, bool escalating) {
  std::vector<int> levels(customer_turns, 0);
  if (!escalating) {
    for (int k = 1; k < customer_turns; ++k) levels[k] = chance(rng, kCalmSlipChance) ? 1 : 0;
    return levels;
  }
  const double u = uniform(rng);
  const int peak = u < kPeakOdds[0] ? 1 : u < kPeakOdds[0] + kPeakOdds[1] ? 2 : 3;
  const int climb = std::max(1, (2 * (customer_turns - 1) + 2) / 3);  // turns to the peak
  for (int k = 1; k < customer_turns; ++k) {
    int target = std::min(peak, (2 * k * peak + climb) / (2 * climb));  // round(k * peak / climb)
    // Lingering on a level is allowed only where one-level steps can still reach the peak.
    if (k < climb && peak - levels[k - 1] <= climb - k && chance(rng, kEscalationLagChance))
      target = levels[k - 1];
    levels[k] = std::max(target, levels[k - 1]);
  }
  return levels;
}

std::vector<CallPlan> plan_calls(const SynthOptions& o) {
  Rng cast = stream(o.seed, 1);
  std::vector<Speaker> customers;
  std::vector<Speaker> agents;
  for (int i = 0; i < o.customers; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "cust-%02d", i + 1);
    std::string voice = pick(cast, kAccents) + "+" + pick(cast, kVariants);
    customers.push_back(
        {id, voice, integer(cast, 30, 60), integer(cast, 150, 175), uniform(cast, 0.75, 1.15)});
  }
  for (int i = 0; i < o.agents; ++i) {
    // Striding through the variants keeps a handful of agents audibly distinct.
    std::string voice = pick(cast, kAccents) + "+" + kVariants[size_t(i) * 5 % kVariants.size()];
    agents.push_back({"agent-" + std::to_string(i + 1), voice, integer(cast, 40, 55),
                      integer(cast, 165, 180), uniform(cast, 0.9, 1.05)});
  }
  // Exact shares (not coin flips), so that even a 4-call set has both kinds of call.
  auto chosen = [&](double share) {
    std::vector<bool> flags(o.calls, false);
    auto order = permutation(cast, o.calls);
    for (int i = 0; i < int(std::lround(share * o.calls)); ++i) flags[order[i]] = true;
    return flags;
  };
  const auto escalating = chosen(o.escalating_share);
  const auto empathetic = chosen(o.empathetic_share);
  const auto customer_order = permutation(cast, o.customers);  // each customer calls in turn

  std::vector<CallPlan> plans;
  for (int c = 0; c < o.calls; ++c) {
    Rng rng = stream(o.seed, 1000 + uint64_t(c));
    CallPlan plan;
    plan.layout_seed = rng();
    const Speaker& customer = customers[customer_order[c % o.customers]];
    const int agent_index = integer(rng, 0, o.agents - 1);
    const Speaker& agent = agents[agent_index];
    const Scenario& scenario = pick(rng, kScenarios);
    char id[32];
    std::snprintf(id, sizeof id, "c-%04d", c + 1);
    plan.call.call_id = id;
    plan.call.audio = "audio/" + plan.call.call_id + ".wav";
    plan.call.channels = {{"agent", kAgentChannel}, {"customer", kCustomerChannel}};
    plan.call.meta = {{"speaker_id", customer.id},
                      {"agent_id", agent.id},
                      {"site", agent_index % 2 == 0 ? "north" : "south"},
                      {"language", "en"},
                      {"scenario", scenario.name}};

    const int turns = integer(rng, o.min_turns, o.max_turns);
    const auto levels = escalation_levels(rng, (turns + 1) / 2, escalating[c]);
    for (int t = 0; t < turns; ++t) {
      Turn turn;
      turn.customer = t % 2 == 0;
      const std::string& thing = pick(rng, scenario.things);
      const std::string& wait = pick(rng, kWaits);
      std::string phrase;
      if (turn.customer) {
        turn.label = levels[t / 2];
        phrase = pick(rng, t == 0 ? kOpenings : kCustomerPhrases[turn.label]);
        if (t > 0 && chance(rng, kSecondPhraseChance))
          phrase += " " + other(rng, kCustomerPhrases[turn.label], phrase);
        turn.utterance.prosody = styled(customer, kLevelStyles[turn.label], rng);
        turn.utterance.voice = customer.voice;
        turn.gain = customer.gain;
      } else {
        const double p = empathetic[c] ? kEmpatheticTurnChance : kIncidentalEmpathyChance;
        const bool empathic = chance(rng, p);
        turn.label = empathic ? 1 : 0;
        phrase = pick(rng, empathic ? kEmpatheticPhrases : kProceduralPhrases);
        if (chance(rng, empathic ? kEmpathyFollowUpChance : kSecondPhraseChance))
          phrase += " " + other(rng, kProceduralPhrases, phrase);
        turn.utterance.prosody = styled(agent, empathic ? kEmpatheticStyle : kProceduralStyle, rng);
        turn.utterance.voice = agent.voice;
        turn.gain = agent.gain;
      }
      turn.utterance.text = fill(phrase, thing, wait);
      plan.turns.push_back(std::move(turn));
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

// ---- Speech. espeak-ng keeps synthesis state in statics that no API call resets (the
// pitch-flutter phase, the AGC, the echo buffer, rand() for breath noise), so the same request
// gives different samples depending on what was synthesised before in the process (measured
// with 1.51), and espeak_ng_Terminate + re-initialise hangs. Each dataset is therefore
// synthesised in a forked child whose espeak-ng state is pristine, because this process never
// calls espeak-ng itself; the samples come back through a pipe. This also makes concurrent
// calls safe without a lock around the library's globals.

// Exit statuses of the synthesis child besides 0.
constexpr int kChildPipeClosed = 2, kChildNoData = 3, kChildSynthFailed = 4;
std::vector<short> g_child_samples;  // filled only inside the synthesis child

int collect_samples(short* wav, int count, espeak_EVENT* /*events*/) {
  if (wav != nullptr && count > 0) g_child_samples.insert(g_child_samples.end(), wav, wav + count);
  return 0;
}

/// Moves all `size` bytes through read(2) or write(2), resuming after short transfers.
template <typename Io, typename Byte>
bool transfer(Io io, int fd, Byte* data, size_t size) {
  while (size > 0) {
    const ssize_t n = io(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n, size -= size_t(n);
  }
  return true;
}

/// The child's work: writes uint32 sample rate, then per utterance uint32 n and n int16
/// samples; or, if espeak-ng cannot start, uint32 0 and the reason. Returns the exit status.
int run_synth_child(int fd, const std::vector<Utterance>& utterances) {
  std::srand(1);  // breath noise uses rand(), whose state was inherited from the parent
  espeak_ng_InitializePath(nullptr);
  espeak_ng_ERROR_CONTEXT context = nullptr;
  espeak_ng_STATUS status = espeak_ng_Initialize(&context);
  if (status == ENS_OK) status = espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, 0, nullptr);
  if (status != ENS_OK) {
    char reason[256] = "";
    espeak_ng_GetStatusCodeMessage(status, reason, sizeof reason);
    const char* data_path = nullptr;
    espeak_Info(&data_path);
    const std::string message =
        std::string(reason) + " in " + (data_path != nullptr ? data_path : "?");
    const uint32_t no_rate = 0;
    transfer(::write, fd, reinterpret_cast<const char*>(&no_rate), sizeof no_rate);
    transfer(::write, fd, message.data(), message.size());
    return kChildNoData;
  }
  const auto rate_hz = uint32_t(espeak_ng_GetSampleRate());
  if (!transfer(::write, fd, reinterpret_cast<const char*>(&rate_hz), sizeof rate_hz))
    return kChildPipeClosed;
  std::vector<short>& samples = g_child_samples;
  espeak_SetSynthCallback(collect_samples);
  for (const auto& u : utterances) {
    samples.clear();
    if (espeak_SetVoiceByName(u.voice.c_str()) != EE_OK) {
      std::fprintf(stderr, "espeak-ng has no voice '%s'\n", u.voice.c_str());
      return kChildSynthFailed;
    }
    espeak_SetParameter(espeakRATE, u.prosody.rate, 0);
    espeak_SetParameter(espeakPITCH, u.prosody.pitch, 0);
    espeak_SetParameter(espeakRANGE, u.prosody.range, 0);
    espeak_SetParameter(espeakVOLUME, u.prosody.volume, 0);
    if (espeak_Synth(u.text.c_str(), u.text.size() + 1, 0, POS_CHARACTER, 0, espeakCHARS_UTF8,
                     nullptr, nullptr) != EE_OK ||
        espeak_Synchronize() != EE_OK)
      return kChildSynthFailed;
    const auto n = uint32_t(samples.size());
    if (!transfer(::write, fd, reinterpret_cast<const char*>(&n), sizeof n) ||
        !transfer(::write, fd, reinterpret_cast<const char*>(samples.data()), n * sizeof(short)))
      return kChildPipeClosed;
  }
  return 0;
}

/// The speech of every utterance at espeak-ng's native rate (`rate_hz`).
std::vector<std::vector<short>> synthesize_speech(const std::vector<Utterance>& utterances,
                                                  int& rate_hz) {
  int fds[2];
  if (::pipe(fds) != 0) throw IoError(std::string("cannot create a pipe: ") + std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ::_exit(run_synth_child(fds[1], utterances));  // no atexit handlers, no stdio flush
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    throw IoError(std::string("cannot start the espeak-ng process: ") + std::strerror(errno));
  }
  const auto read_some = [&](auto* data, size_t count) {
    return transfer(::read, fds[0], reinterpret_cast<char*>(data), count * sizeof *data);
  };
  constexpr uint32_t kMaxSamples = 1U << 26;  // 50 min at 22 kHz: anything more is garbage
  std::vector<std::vector<short>> speech;
  uint32_t rate = 0;
  uint32_t n = 0;
  bool complete = read_some(&rate, 1) && rate > 0;
  std::string reason;  // after a zero rate: why espeak-ng could not start
  for (char c; !complete && reason.size() < 1000 && read_some(&c, 1);) reason += c;
  for (size_t i = 0; complete && i < utterances.size(); ++i) {
    complete = read_some(&n, 1) && n < kMaxSamples;
    speech.emplace_back(complete ? n : 0);
    complete = complete && read_some(speech.back().data(), n);
  }
  ::close(fds[0]);  // a child still writing now fails and exits
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  rate_hz = int(rate);
  if (complete && WIFEXITED(status) && WEXITSTATUS(status) == 0) return speech;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kChildNoData)
    throw DataError("espeak-ng could not start (" + reason + "); install the espeak-ng-data " +
                    "package or set ESPEAK_DATA_PATH to the directory holding espeak-ng-data");
  throw DataError("espeak-ng synthesis failed (" +
                  (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                       : "exit status " + std::to_string(WEXITSTATUS(status))) +
                  "); see its message above");
}

/// espeak-ng's samples without its leading and trailing silence, as floats (full scale 1).
std::vector<float> trimmed(const std::vector<short>& samples, const std::string& text) {
  const auto loud = [](short s) { return std::abs(s / 32768.0) >= kTrimThreshold; };
  auto first = std::find_if(samples.begin(), samples.end(), loud);
  auto last = std::find_if(samples.rbegin(), samples.rend(), loud).base();
  if (first >= last) throw DataError("espeak-ng produced no audible speech for \"" + text + "\"");
  std::vector<float> out;
  for (auto it = first; it < last; ++it) out.push_back(float(*it / 32768.0));
  return out;
}

/// Lays the turns of one call out in time, fills in its segments and returns the
/// interleaved stereo audio (channel 0 agent, 1 customer).
std::vector<float> render_call(CallPlan& plan, std::vector<std::vector<float>> speech, int sr,
                               int annotators, double annotator_noise) {
  Rng rng(plan.layout_seed);
  std::vector<int64_t> starts;
  std::array<int64_t, 2> channel_free = {0, 0};  // first sample each channel may speak again
  int64_t cursor = std::llround(uniform(rng, kLeadMinS, kLeadMaxS) * sr);
  for (size_t t = 0; t < plan.turns.size(); ++t) {
    const int channel = plan.turns[t].customer ? kCustomerChannel : kAgentChannel;
    int64_t start = std::max(cursor, channel_free[channel]);
    const auto length = int64_t(speech[t].size());
    starts.push_back(start);
    channel_free[channel] = start + length + std::llround(kSameSpeakerGapS * sr);
    const double pause = chance(rng, kOverlapChance) && length > sr
                             ? -uniform(rng, kOverlapMinS, kOverlapMaxS)
                             : uniform(rng, kGapMinS, kGapMaxS);
    cursor = start + length + std::llround(pause * sr);
  }
  int64_t frames = 0;
  for (size_t t = 0; t < plan.turns.size(); ++t)
    frames = std::max(frames, starts[t] + int64_t(speech[t].size()));
  frames += std::llround(uniform(rng, kTailMinS, kTailMaxS) * sr);

  std::vector<float> audio(size_t(frames) * 2);
  const double noise_peak = kNoiseRms * std::sqrt(3.0);
  for (float& x : audio) x = float(uniform(rng, -noise_peak, noise_peak));

  for (size_t t = 0; t < plan.turns.size(); ++t) {
    const Turn& turn = plan.turns[t];
    const int channel = turn.customer ? kCustomerChannel : kAgentChannel;
    auto& samples = speech[t];
    double peak = 0;
    for (float x : samples) peak = std::max(peak, std::fabs(double(x)) * turn.gain);
    const double gain = peak > kPeakLimit ? turn.gain * kPeakLimit / peak : turn.gain;
    for (size_t i = 0; i < samples.size(); ++i)
      audio[(starts[t] + i) * 2 + channel] += float(samples[i] * gain);

    Segment segment;
    // Rounded outwards to whole milliseconds (n / 1000.0 prints as n ms exactly in JSON) so
    // that the segment holds all of its speech; the tail keeps the end inside the audio.
    segment.start_s = std::floor(double(starts[t]) * 1000 / sr) / 1000;
    segment.end_s =
        std::min(std::ceil(double(starts[t] + int64_t(samples.size())) * 1000 / sr) / 1000,
                 double(frames) / sr);
    segment.speaker = turn.customer ? "customer" : "agent";
    segment.text = turn.utterance.text;
    const std::string task = turn.customer ? "escalation" : "empathy";
    const int top = turn.customer ? kLevels - 1 : 1;
    segment.labels[task] = turn.label;
    for (int a = 0; a < annotators; ++a) {
      int label = turn.label;
      if (chance(rng, annotator_noise))
        label = std::clamp(label + (chance(rng, 0.5) ? 1 : -1), 0, top);
      segment.labels_by["ann-" + std::to_string(a + 1)][task] = label;
    }
    plan.call.segments.push_back(std::move(segment));
  }
  return audio;
}

Schema synth_schema(int sample_rate_hz) {
  Schema schema;
  schema.name = "tenor-synth";
  schema.version = "1";
  schema.sample_rate_hz = sample_rate_hz;
  schema.tasks = {
      {"escalation", TaskType::kOrdinal, {"calm", "frustrated", "angry", "hostile"}, "customer"},
      {"empathy", TaskType::kBinary, {"absent", "present"}, "agent"}};
  return schema;
}

/// Throws UsageError unless lo <= value <= hi (which NaN never is).
template <typename T>
void check_range(const char* name, T value, T lo, T hi) {
  if (value >= lo && value <= hi) return;
  std::ostringstream message;
  message << "synth: " << name << " is " << value << "; it must be between " << lo << " and " << hi;
  throw UsageError(message.str());
}

}  // namespace

void SynthOptions::validate() const {
  check_range("--calls", calls, 1, 100000);
  check_range("--sample-rate", sample_rate_hz, 8000, 48000);
  check_range("min_turns", min_turns, 1, 100);
  check_range("max_turns", max_turns, min_turns, 100);
  check_range("--customers", customers, 1, 1000);
  check_range("agents", agents, 1, 1000);
  check_range("escalating_share", escalating_share, 0.0, 1.0);
  check_range("empathetic_share", empathetic_share, 0.0, 1.0);
  check_range("--annotators", annotators, 0, 100);
  check_range("annotator_noise", annotator_noise, 0.0, 1.0);
}

void synthesize_dataset(const fs::path& out, const SynthOptions& options) {
  options.validate();
  const auto began = std::chrono::steady_clock::now();
  const fs::path target = new_output_directory(out);
  std::error_code ec;

  auto plans = plan_calls(options);
  std::vector<Utterance> utterances;
  for (const auto& plan : plans)
    for (const auto& turn : plan.turns) utterances.push_back(turn.utterance);
  int espeak_rate_hz = 0;
  auto speech = synthesize_speech(utterances, espeak_rate_hz);

  const fs::path temp = temp_path_for_output(target);
  // Removes the half-written directory unless it was renamed into place.
  struct TempDir {
    fs::path path;
    bool keep = false;
    ~TempDir() {
      std::error_code ignored;
      if (!keep) fs::remove_all(path, ignored);
    }
  } guard{temp};
  fs::create_directories(temp / "audio", ec);
  if (ec)
    throw IoError("synth: cannot create " + (temp / "audio").string() + ": " + ec.message() +
                  "; check that the parent of --out is writable");

  Dataset dataset;
  dataset.root = target;
  dataset.schema = synth_schema(options.sample_rate_hz);
  double seconds = 0;
  size_t next = 0;
  for (auto& plan : plans) {
    std::vector<std::vector<float>> call_speech;
    for (size_t t = 0; t < plan.turns.size(); ++t, ++next)
      call_speech.push_back(resample(trimmed(speech[next], utterances[next].text), espeak_rate_hz,
                                     options.sample_rate_hz));
    auto audio = render_call(plan, std::move(call_speech), options.sample_rate_hz,
                             options.annotators, options.annotator_noise);
    seconds += double(audio.size()) / 2 / options.sample_rate_hz;  // stereo
    write_audio(temp / plan.call.audio, audio, 2, options.sample_rate_hz);
    dataset.calls.push_back(std::move(plan.call));
  }
  write_calls_jsonl(dataset, temp / "calls.jsonl");
  write_file_atomic(temp / "dataset.yaml", schema_to_yaml(dataset.schema));

  publish_directory(temp, target);  // replaces `target` if it is an empty directory
  guard.keep = true;
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  logger("data")->info(
      "synthesised {} call{} ({} segments, {:.1f} min of audio) into {} in {:.1f} s",
      dataset.calls.size(), dataset.calls.size() == 1 ? "" : "s", dataset.segment_count(),
      seconds / 60, target.string(), took);
}

}  // namespace tenor::data
