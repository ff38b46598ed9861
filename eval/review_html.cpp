#include "eval/review_html.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "eval/xml_writer.h"

namespace tenor::eval {
namespace {

// No '<' or '&': written raw into a document that must parse as XML.
constexpr const char* kCss = R"(
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 16px 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; cursor: pointer; user-select: none; }
td.n { text-align: right; }
td.t { max-width: 40em; }
.controls { margin: 12px 0; }
audio { height: 28px; width: 220px; }
)";

// Sorting and filtering. Inside CDATA so that the document stays XML; the state also comes
// from the URL fragment (q, task, sort, dir) so that a link keeps a view.
constexpr const char* kScript = R"(//<![CDATA[
(function () {
  var table = document.getElementById('suspects');
  var body = table.tBodies[0];
  var q = document.getElementById('q');
  var task = document.getElementById('task');
  var state = { sort: 'rank', dir: 'asc' };
  function apply() {
    var needle = q.value.toLowerCase();
    var rows = Array.prototype.slice.call(body.rows);
    var shown = 0;
    rows.forEach(function (r) {
      var ok = (!needle || r.textContent.toLowerCase().indexOf(needle) >= 0) &&
               (!task.value || r.getAttribute('data-task') === task.value);
      r.hidden = !ok;
      if (ok) shown++;
    });
    var col = state.sort, sign = state.dir === 'desc' ? -1 : 1;
    rows.sort(function (a, b) {
      var x = a.getAttribute('data-' + col), y = b.getAttribute('data-' + col);
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
      if (c === 0) c = parseFloat(a.getAttribute('data-rank')) - parseFloat(b.getAttribute('data-rank'));
      return sign * c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    document.getElementById('shown').textContent = shown + ' of ' + rows.length + ' shown';
    document.body.setAttribute('data-ready', state.sort + ':' + state.dir + ':' + shown);
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener('click', function () {
      var col = th.getAttribute('data-col');
      state.dir = state.sort === col && state.dir === 'asc' ? 'desc' : 'asc';
      state.sort = col;
      apply();
    });
  });
  q.addEventListener('input', apply);
  task.addEventListener('change', apply);
  location.hash.replace(/^#/, '').split(/[;&]/).forEach(function (kv) {
    var i = kv.indexOf('=');
    if (i > 0) {
      var k = kv.slice(0, i), v = decodeURIComponent(kv.slice(i + 1));
      if (k === 'q') q.value = v;
      if (k === 'task') task.value = v;
      if (k === 'sort') state.sort = v;
      if (k === 'dir') state.dir = v;
    }
  });
  apply();
})();
//]]>)";

std::string fixed(double v, int digits) { return std::isfinite(v) ? svg_number(v, digits) : "n/a"; }

std::string clock_time(double s) {
  const auto minutes = int64_t(s / 60);
  const double rest = s - 60.0 * double(minutes);
  std::string sec = svg_number(rest, 2);
  if (rest < 10) sec = "0" + sec;
  return std::to_string(minutes) + ":" + sec;
}

const std::vector<std::pair<std::string, std::string>> kColumns = {
    {"rank", "#"},         {"call", "call"},           {"time", "time"},
    {"speaker", "speaker"}, {"text", "transcript"},    {"task", "task"},
    {"given", "given"},    {"suggested", "suggested"}, {"confidence", "confidence"},
    {"audio", "audio"}};

void suspect_row(XmlWriter& w, const ReviewRow& r) {
  w.open("tr", {{"data-rank", std::to_string(r.rank)},
                {"data-call", r.call_id + "#" + std::to_string(r.segment)},
                {"data-time", fixed(r.start_s, 3)},
                {"data-speaker", r.speaker},
                {"data-text", r.text},
                {"data-task", r.task},
                {"data-given", r.given},
                {"data-suggested", r.suggested},
                {"data-confidence", fixed(r.confidence, 4)},
                {"data-audio", r.audio_uri.empty() ? "0" : "1"}});
  w.element("td", {{"class", "n"}}, std::to_string(r.rank));
  w.element("td", {}, r.call_id + " #" + std::to_string(r.segment));
  w.element("td", {}, clock_time(r.start_s) + " to " + clock_time(r.end_s));
  w.element("td", {}, r.speaker);
  w.element("td", {{"class", "t"}}, r.text);
  w.element("td", {}, r.task);
  w.element("td", {}, r.given);
  w.element("td", {}, r.suggested);
  w.element("td", {{"class", "n"}}, fixed(r.confidence, 3));
  w.open("td");
  if (r.audio_uri.empty()) {
    w.text("-");
  } else {
    w.open("audio", {{"controls", "controls"}, {"preload", "none"}, {"src", r.audio_uri}});
    w.close();
  }
  w.close();
  w.close();
}

void controls(XmlWriter& w, const ReviewPage& page) {
  std::vector<std::string> tasks;
  for (const auto& r : page.rows)
    if (std::find(tasks.begin(), tasks.end(), r.task) == tasks.end()) tasks.push_back(r.task);
  w.open("div", {{"class", "controls"}});
  w.leaf("input", {{"id", "q"}, {"type", "search"}, {"placeholder", "filter: any text"}});
  w.text(" ");
  w.open("select", {{"id", "task"}});
  w.element("option", {{"value", ""}}, "every task");
  for (const auto& t : tasks) w.element("option", {{"value", t}}, t);
  w.close();
  w.text(" ");
  w.element("span", {{"id", "shown"}}, std::to_string(page.rows.size()) + " shown");
  w.close();
}

void annotator_table(XmlWriter& w, const ReviewPage& page) {
  if (page.annotators.empty()) return;
  w.element("h2", {}, "Annotators against the consensus of the others");
  w.open("table");
  w.open("tr");
  for (const char* h : {"task", "annotator", "segments", "agreement", "Cohen's kappa"})
    w.element("th", {}, h);
  w.close();
  for (const auto& cells : page.annotators) {
    w.open("tr");
    for (const auto& c : cells) w.element("td", {}, c);
    w.close();
  }
  w.close();
}

}  // namespace

std::string review_to_html(const ReviewPage& page) {
  XmlWriter w;
  w.raw("<!DOCTYPE html>\n");
  w.open("html", {{"xmlns", "http://www.w3.org/1999/xhtml"}, {"lang", "en"}});
  w.open("head");
  w.leaf("meta", {{"charset", "utf-8"}});
  w.element("title", {}, page.title);
  w.open("style").raw(kCss).close();
  w.close();
  w.open("body");
  w.element("h1", {}, page.title);
  for (const auto& n : page.notes) w.element("p", {}, n);
  controls(w, page);
  w.open("table", {{"id", "suspects"}});
  w.open("thead").open("tr");
  for (const auto& [key, name] : kColumns) w.element("th", {{"data-col", key}}, name);
  w.close().close();
  w.open("tbody");
  for (const auto& r : page.rows) suspect_row(w, r);
  w.close();
  w.close();  // table
  annotator_table(w, page);
  w.open("script").raw(kScript).close();
  w.close();  // body
  w.close();  // html
  return w.finish();
}

std::string wav_data_uri(const std::vector<float>& mono, int sample_rate_hz) {
  std::string wav;
  auto put = [&](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) wav.push_back(char((v >> (8 * i)) & 0xff));
  };
  const auto data_bytes = uint32_t(mono.size() * 2);
  wav += "RIFF";
  put(36 + data_bytes, 4);
  wav += "WAVEfmt ";
  put(16, 4), put(1, 2), put(1, 2);  // PCM, mono
  put(uint32_t(sample_rate_hz), 4), put(uint32_t(sample_rate_hz) * 2, 4), put(2, 2), put(16, 2);
  wav += "data";
  put(data_bytes, 4);
  for (float x : mono) {
    const float c = std::clamp(std::isfinite(x) ? x : 0.0f, -1.0f, 1.0f);
    put(uint32_t(uint16_t(int16_t(std::lround(c * 32767.0f)))), 2);
  }
  static constexpr char kB64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out = "data:audio/wav;base64,";
  out.reserve(out.size() + (wav.size() + 2) / 3 * 4);
  for (size_t i = 0; i < wav.size(); i += 3) {
    const uint32_t b = uint32_t(uint8_t(wav[i])) << 16 |
                       (i + 1 < wav.size() ? uint32_t(uint8_t(wav[i + 1])) << 8 : 0) |
                       (i + 2 < wav.size() ? uint32_t(uint8_t(wav[i + 2])) : 0);
    out += kB64[(b >> 18) & 63];
    out += kB64[(b >> 12) & 63];
    out += i + 1 < wav.size() ? kB64[(b >> 6) & 63] : '=';
    out += i + 2 < wav.size() ? kB64[b & 63] : '=';
  }
  return out;
}

}  // namespace tenor::eval
