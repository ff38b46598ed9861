// ELAN EAF files -> calls, read with libxml2 (EAF 2.x and 3.0: HEADER/MEDIA_DESCRIPTOR,
// TIME_ORDER/TIME_SLOT, TIER with ALIGNABLE_ANNOTATION or REF_ANNOTATION, LINGUISTIC_TYPE,
// CONTROLLED_VOCABULARY with CV_ENTRY_ML/CVE_VALUE or CV_ENTRY). One EAF per call; tiers are
// read as TextGrid tiers are (docs/labelling.md); a reference annotation takes the times of
// the annotation it refers to.
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "core/text.h"
#include "data/import_internal.h"

namespace tenor::data::import {
namespace fs = std::filesystem;

namespace {

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

std::string attr(const xmlNode* node, const char* name) {
  xmlChar* v = xmlGetProp(node, reinterpret_cast<const xmlChar*>(name));
  if (!v) return {};
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

std::string content(const xmlNode* node) {
  xmlChar* v = xmlNodeGetContent(node);
  if (!v) return {};
  std::string s(reinterpret_cast<const char*>(v));
  xmlFree(v);
  return s;
}

bool named(const xmlNode* node, const char* name) {
  return node->type == XML_ELEMENT_NODE &&
         xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

std::vector<const xmlNode*> children(const xmlNode* node, const char* name) {
  std::vector<const xmlNode*> out;
  for (const xmlNode* c = node->children; c; c = c->next)
    if (named(c, name)) out.push_back(c);
  return out;
}

const xmlNode* child(const xmlNode* node, const char* name) {
  auto all = children(node, name);
  return all.empty() ? nullptr : all.front();
}

int64_t line_of(const xmlNode* node) { return int64_t(xmlGetLineNo(node)); }

/// A file:// URL as a path (percent escapes decoded).
fs::path url_path(std::string url) {
  if (url.starts_with("file://")) url = url.substr(7);
  std::string out;
  for (size_t i = 0; i < url.size(); ++i) {
    auto hex = [&](size_t k) { return std::isxdigit(static_cast<unsigned char>(url[k])) != 0; };
    if (url[i] == '%' && i + 2 < url.size() && hex(i + 1) && hex(i + 2)) {
      out += char(std::stoi(url.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += url[i];
    }
  }
  return out;
}

bool is_audio_name(const std::string& s) {
  std::string low = s;
  std::transform(low.begin(), low.end(), low.begin(), ::tolower);
  return low.ends_with(".wav") || low.ends_with(".flac");
}

/// The linked recording: RELATIVE_MEDIA_URL beside the EAF, then MEDIA_URL, then the same file
/// name beside the EAF (ELAN's own search order). Errors when linked but found nowhere.
void find_media(const xmlNode* header, const fs::path& file, SourceCall& call, Diagnostics& diag) {
  const xmlNode* chosen = nullptr;
  std::vector<std::string> others;
  for (const xmlNode* m : children(header, "MEDIA_DESCRIPTOR")) {
    const std::string url = attr(m, "MEDIA_URL");
    if (!chosen && (is_audio_name(url) || attr(m, "MIME_TYPE").starts_with("audio/")))
      chosen = m;
    else
      others.push_back(url);
  }
  if (!chosen) {
    if (others.empty()) {
      diag.warning(call.display, line_of(header), "media-absent",
                   "the EAF links no recording; the call is imported as text only: link the "
                   "WAV in ELAN (Edit > Linked Files) to keep the audio");
    } else {
      diag.error(call.display, line_of(header), "media-not-audio",
                 "the EAF links " + printable(others.front()) + ", not a WAV or FLAC recording; "
                 "extract the audio as WAV and link it in ELAN (Edit > Linked Files)");
    }
    return;
  }
  call.media_line = line_of(chosen);
  const std::string url = attr(chosen, "MEDIA_URL");
  const std::string rel = attr(chosen, "RELATIVE_MEDIA_URL");
  std::vector<fs::path> candidates;
  if (!rel.empty()) candidates.push_back(file.parent_path() / url_path(rel));
  if (!url.empty()) candidates.push_back(url_path(url));
  candidates.push_back(file.parent_path() / url_path(url.empty() ? rel : url).filename());
  std::error_code ec;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c, ec)) {
      call.media = c.lexically_normal();
      return;
    }
  }
  diag.error(call.display, call.media_line, "media-missing",
             "the linked recording " + printable(url.empty() ? rel : url, 120) +
                 " does not exist (looked for " + candidates.front().string() +
                 " and beside the EAF); put the recording there, or relink it in ELAN "
                 "(Edit > Linked Files)");
}

/// Controlled vocabulary values by CV_ID (EAF 3.0 CV_ENTRY_ML/CVE_VALUE; EAF 2.x CV_ENTRY).
std::map<std::string, std::vector<std::string>> vocabularies(const xmlNode* root) {
  std::map<std::string, std::vector<std::string>> out;
  for (const xmlNode* cv : children(root, "CONTROLLED_VOCABULARY")) {
    auto& values = out[attr(cv, "CV_ID")];
    for (const xmlNode* e : children(cv, "CV_ENTRY_ML"))
      if (const xmlNode* v = child(e, "CVE_VALUE")) values.push_back(content(v));
    for (const xmlNode* e : children(cv, "CV_ENTRY")) values.push_back(content(e));
  }
  return out;
}

/// Warns about vocabulary entries of a task tier that the schema's classes lack.
void check_vocabulary(const xmlNode* root, const std::string& display, const Schema& schema,
                      Diagnostics& diag) {
  const auto cvs = vocabularies(root);
  std::map<std::string, std::string> type_cv;
  for (const xmlNode* lt : children(root, "LINGUISTIC_TYPE"))
    type_cv[attr(lt, "LINGUISTIC_TYPE_ID")] = attr(lt, "CONTROLLED_VOCABULARY_REF");
  std::set<std::string> reported;
  for (const xmlNode* tier : children(root, "TIER")) {
    const std::string id = attr(tier, "TIER_ID");
    const Task* task = schema.find(id.substr(0, id.find(kAnnotatorSeparator)));
    const std::string cv = type_cv[attr(tier, "LINGUISTIC_TYPE_REF")];
    if (!task || cv.empty() || !cvs.count(cv) || !reported.insert(cv).second) continue;
    for (const auto& value : cvs.at(cv))
      if (!class_value(*task, std::string(trim(value))))
        diag.warning(display, line_of(tier), "vocabulary-class",
                     "the controlled vocabulary '" + printable(cv) + "' of tier '" +
                         printable(id) + "' offers '" + printable(value) + "', not a class of " +
                         task->name + " (" + class_list(*task) +
                         "); remove the entry in ELAN or add the class to the schema");
  }
}

struct Annotation {
  double start_s = 0, end_s = 0;
  bool timed = false;
  std::string ref;  ///< the annotation a REF_ANNOTATION refers to
};

/// Every annotation by id: alignable ones with their time slots' times, references with the id
/// they refer to. A time slot or annotation id given twice is an error (either could be meant:
/// one would silently take the other's times).
std::map<std::string, Annotation> annotations_by_id(const xmlNode* root,
                                                    const std::string& display,
                                                    Diagnostics& diag) {
  auto once = [&](std::map<std::string, int64_t>& seen, const xmlNode* node, const char* key,
                  const char* what, const char* code) {
    const std::string id = attr(node, key);
    const auto [first, fresh] = seen.emplace(id, line_of(node));
    if (!fresh)
      diag.error(display, line_of(node), code,
                 std::string(what) + " '" + printable(id) + "' is defined again (first on line " +
                     std::to_string(first->second) + "); ELAN gives each its own " + key +
                     ": the file was edited or merged by hand; save it again from ELAN");
    return fresh;
  };
  std::map<std::string, int64_t> slot_lines, annotation_lines;
  std::map<std::string, double> slots;
  if (const xmlNode* order = child(root, "TIME_ORDER"))
    for (const xmlNode* ts : children(order, "TIME_SLOT")) {
      if (!once(slot_lines, ts, "TIME_SLOT_ID", "time slot", "eaf-duplicate-id")) continue;
      if (const std::string v = attr(ts, "TIME_VALUE"); !v.empty()) {
        char* end = nullptr;
        const double ms = std::strtod(v.c_str(), &end);
        // A value that is not a number leaves the slot unaligned: its annotations are reported.
        if (end == v.c_str() + v.size() && std::isfinite(ms))
          slots[attr(ts, "TIME_SLOT_ID")] = ms / 1000.0;
      }
    }
  std::map<std::string, Annotation> out;
  for (const xmlNode* tier : children(root, "TIER"))
    for (const xmlNode* a : children(tier, "ANNOTATION"))
      for (const xmlNode* x = a->children; x; x = x->next) {
        const bool ref = named(x, "REF_ANNOTATION");
        if (!ref && !named(x, "ALIGNABLE_ANNOTATION")) continue;
        if (!once(annotation_lines, x, "ANNOTATION_ID", "annotation", "eaf-duplicate-id"))
          continue;
        if (ref) {
          out[attr(x, "ANNOTATION_ID")] = {0, 0, false, attr(x, "ANNOTATION_REF")};
          continue;
        }
        auto s1 = slots.find(attr(x, "TIME_SLOT_REF1"));
        auto s2 = slots.find(attr(x, "TIME_SLOT_REF2"));
        if (s1 != slots.end() && s2 != slots.end())
          out[attr(x, "ANNOTATION_ID")] = {s1->second, s2->second, true, {}};
      }
  return out;
}

/// The timed annotation `id` is or refers to (followed up to 16 levels), or nullptr.
const Annotation* timed(const std::map<std::string, Annotation>& annotations, std::string id) {
  for (int depth = 0; depth < 16; ++depth) {
    auto it = annotations.find(id);
    if (it == annotations.end()) return nullptr;
    if (it->second.timed) return &it->second;
    id = it->second.ref;
  }
  return nullptr;
}

/// One TIER as a SourceTier; false (with an error per annotation) when some have no time.
bool read_tier(const xmlNode* tier, const Schema& schema,
               const std::map<std::string, Annotation>& annotations, SourceCall& call,
               Diagnostics& diag) {
  SourceTier st{attr(tier, "TIER_ID"), line_of(tier), {}};
  // An empty annotation is a segment without transcript on a speaker tier, no label elsewhere.
  const bool label_tier = schema.find(st.name.substr(0, st.name.find(kAnnotatorSeparator))) ||
                          st.name.ends_with(kPredictedSuffix) ||
                          st.name.ends_with(kSuspectSuffix);
  bool ok = true;
  for (const xmlNode* a : children(tier, "ANNOTATION"))
    for (const xmlNode* x = a->children; x; x = x->next) {
      if (!named(x, "ALIGNABLE_ANNOTATION") && !named(x, "REF_ANNOTATION")) continue;
      const xmlNode* v = child(x, "ANNOTATION_VALUE");
      std::string text = v ? content(v) : "";
      const Annotation* t = timed(annotations, attr(x, "ANNOTATION_ID"));
      if (!t) {
        diag.error(call.display, line_of(x), "annotation-untimed",
                   "tier '" + printable(st.name) + "': annotation " +
                       printable(attr(x, "ANNOTATION_ID")) + " has no time (an unaligned "
                       "time slot or a broken reference); align it in ELAN");
        ok = false;
        continue;
      }
      if (trim(text).empty() && !label_tier) text = std::string(kNoTranscript);
      st.intervals.push_back({t->start_s, t->end_s, text, line_of(x)});
    }
  std::sort(st.intervals.begin(), st.intervals.end(),
            [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  call.tiers.push_back(std::move(st));
  return ok;
}

bool read_tiers(const xmlNode* root, const Schema& schema, SourceCall& call, Diagnostics& diag) {
  const auto annotations = annotations_by_id(root, call.display, diag);
  bool ok = true;
  for (const xmlNode* tier : children(root, "TIER"))
    if (!read_tier(tier, schema, annotations, call, diag)) ok = false;
  return ok;
}

std::unique_ptr<xmlDoc, DocFree> parse_xml(const fs::path& file, const std::string& display,
                                           Diagnostics& diag) {
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) throw std::bad_alloc();
  // No network, no entity substitution (XXE), no messages on stderr: errors come back here.
  const int flags = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadFile(ctxt.get(), file.c_str(), nullptr, flags));
  if (!doc) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string message = e && e->message ? std::string(trim(e->message)) : "unreadable";
    diag.error(display, e ? e->line : 0, "eaf-malformed",
               "not well-formed XML (" + printable(message, 120) +
                   "); open it in ELAN and save it again");
  } else if (doc->intSubset && doc->intSubset->entities) {
    // Entities are not substituted (XXE): text that uses one would be read without it.
    diag.error(display, line_of(reinterpret_cast<const xmlNode*>(doc->intSubset)),
               "eaf-malformed",
               "declares XML entities, which ELAN never writes and tenor does not expand (text "
               "that uses one would be imported without it); save the file again from ELAN");
    doc.reset();
  }
  return doc;
}

}  // namespace

ImportedCalls read_elan(const ImportOptions& options, const Schema& schema, Diagnostics& diag) {
  static const std::vector<std::string> kExtensions = {".eaf"};
  ImportedCalls out;
  std::error_code ec;
  const fs::path base = fs::is_regular_file(options.source, ec) ? options.source.parent_path()
                                                                : options.source;
  for (const auto& file : tool_files(options.source, kExtensions, "ELAN files")) {
    ++out.files;
    SourceCall source;
    source.display = display_path(options.source, file);
    std::tie(source.call_id, source.split) = call_id_and_split(file.lexically_relative(base));
    const auto doc = parse_xml(file, source.display, diag);
    if (!doc) continue;
    const xmlNode* root = xmlDocGetRootElement(doc.get());
    if (!root || !named(root, "ANNOTATION_DOCUMENT")) {
      diag.error(source.display, root ? line_of(root) : 0, "eaf-not-elan",
                 "not an ELAN annotation document (no ANNOTATION_DOCUMENT); save it from ELAN "
                 "as .eaf");
      continue;
    }
    const size_t errors = diag.error_count();
    if (const xmlNode* header = child(root, "HEADER")) {
      if (const std::string units = attr(header, "TIME_UNITS");
          !units.empty() && units != "milliseconds")
        diag.error(source.display, line_of(header), "eaf-time-units",
                   "TIME_UNITS is '" + printable(units) + "'; ELAN writes milliseconds: save it "
                   "again from ELAN");
      find_media(header, file, source, diag);
    }
    check_vocabulary(root, source.display, schema, diag);
    read_tiers(root, schema, source, diag);
    if (diag.error_count() > errors) continue;
    auto call = call_from_tiers(source, schema, options, diag);
    if (!call) continue;
    call->extra = {{"source", source.display}};
    if (!source.media.empty()) out.media[call->call_id] = source.media;
    out.dataset.calls.push_back(std::move(*call));
  }
  return out;
}

}  // namespace tenor::data::import
