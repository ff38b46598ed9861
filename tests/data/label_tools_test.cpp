// Import from and export to the labelling tools (data/label_tools.h): TextGrids written by
// Praat itself where it is installed, ELAN and Label Studio files written to their published
// formats, hostile inputs, and import(export(x)) == x.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/atomic_file.h"
#include "core/sha256.h"
#include "data/label_tools.h"
#include "data/synth.h"
#include "data/textgrid.h"
#include "tests/data/fixtures.h"

namespace tenor::test {
namespace {

using nlohmann::json;

bool have_praat() { return std::system("command -v praat >/dev/null 2>&1") == 0; }

/// Runs a Praat script (batch mode); true on success.
bool run_praat(const fs::path& dir, const std::string& script) {
  write_text(dir / "make.praat", script);
  const std::string command = "praat --run " + (dir / "make.praat").string() + " >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

/// The Praat script of one call: a 4 s TextGrid with customer and agent words, escalation and
/// empathy labels and a second annotator's escalation tier.
std::string call_script(const fs::path& out, const std::string& save_command,
                        const std::string& customer_word = "alpha") {
  return "tg = Create TextGrid: 0, 4, "
         "\"customer agent escalation escalation@ann-b empathy\", \"\"\n"
         "Insert boundary: 1, 0.1\nInsert boundary: 1, 0.9\n"
         "Set interval text: 1, 2, \"" + customer_word + " one\"\n"
         "Insert boundary: 1, 2\nInsert boundary: 1, 2.9\nSet interval text: 1, 4, \"three\"\n"
         "Insert boundary: 2, 1\nInsert boundary: 2, 1.9\nSet interval text: 2, 2, \"two\"\n"
         "Insert boundary: 3, 0.1\nInsert boundary: 3, 0.9\n"
         "Set interval text: 3, 2, \"frustrated\"\n"
         "Insert boundary: 3, 2\nInsert boundary: 3, 2.9\nSet interval text: 3, 4, \"angry\"\n"
         "Insert boundary: 4, 0.1\nInsert boundary: 4, 0.9\nSet interval text: 4, 2, \"calm\"\n"
         "Insert boundary: 5, 1\nInsert boundary: 5, 1.9\nSet interval text: 5, 2, \"present\"\n" +
         save_command + ": \"" + out.string() + "\"\n";
}

fs::path write_schema(const fs::path& dir) {
  write_text(dir / "dataset.yaml", kTwoTaskYaml);
  return dir / "dataset.yaml";
}

std::string digest_tree(const fs::path& dir) {
  std::string all;
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files)
    all += f.string() + (fs::is_regular_file(f) ? sha256_hex(read_file(f)) : "") + "\n";
  return all;
}

bool has_finding(const data::Diagnostics& diag, const std::string& text) {
  for (const auto& f : diag.findings())
    if (data::format_finding(f).find(text) != std::string::npos) return true;
  return false;
}

std::string findings(const data::Diagnostics& diag) { return diag.to_text(); }

data::ImportOptions options(data::LabelTool tool, const fs::path& src, const fs::path& schema) {
  data::ImportOptions o;
  o.from = tool;
  o.source = src;
  o.schema = schema;
  return o;
}

/// Everything a dataset says about its calls, for comparing two datasets. The audio is
/// compared by the file it leads to.
json canonical(const data::Dataset& ds, bool with_meta) {
  json out = json::object();
  for (const auto& c : ds.calls) {
    json j = json::parse(data::call_to_json_line(c));
    j.erase("line");
    if (!c.audio.empty()) j["audio"] = fs::canonical(ds.root / c.audio).string();
    if (!with_meta) j.erase("meta");
    out[c.call_id] = j;
  }
  return out;
}

TEST(TextGrid, PraatsLongShortAndUtf16FormsParseAlike) {
  if (!have_praat()) GTEST_SKIP() << "praat is not installed";
  const fs::path dir = make_temp_dir("tg-forms");
  ASSERT_TRUE(run_praat(dir, call_script(dir / "long.TextGrid", "Save as text file") +
                                 "Save as short text file: \"" + (dir / "short.TextGrid").string() +
                                 "\"\n"));
  ASSERT_TRUE(run_praat(dir, call_script(dir / "utf16.TextGrid", "Save as text file", "ça va")));
  EXPECT_EQ(read_file(dir / "utf16.TextGrid").substr(0, 2), "\xFE\xFF");  // Praat chose UTF-16
  data::Diagnostics diag;
  auto l = data::read_textgrid(dir / "long.TextGrid", "long", diag);
  auto s = data::read_textgrid(dir / "short.TextGrid", "short", diag);
  auto u = data::read_textgrid(dir / "utf16.TextGrid", "utf16", diag);
  ASSERT_TRUE(l && s && u) << findings(diag);
  ASSERT_EQ(l->tiers.size(), 5u);
  EXPECT_EQ(l->tiers[3].name, "escalation@ann-b");
  EXPECT_EQ(l->tiers[0].intervals[1].text, "alpha one");
  EXPECT_EQ(u->tiers[0].intervals[1].text, "ça va one");
  EXPECT_EQ(l->tiers[0].intervals[3].xmax, 2.9);
  EXPECT_EQ(l->tiers[0].intervals[1].line, 20);  // the interval's xmin line in the long form
  for (size_t t = 0; t < l->tiers.size(); ++t) {
    ASSERT_EQ(l->tiers[t].intervals.size(), s->tiers[t].intervals.size());
    for (size_t i = 0; i < l->tiers[t].intervals.size(); ++i) {
      EXPECT_EQ(l->tiers[t].intervals[i].xmin, s->tiers[t].intervals[i].xmin);
      EXPECT_EQ(l->tiers[t].intervals[i].text, s->tiers[t].intervals[i].text);
    }
  }
  // What tenor writes, Praat reads: round trip through Praat's own reader and writer.
  write_text(dir / "ours.TextGrid", data::textgrid_to_text(*u));
  ASSERT_TRUE(run_praat(dir, "Read from file: \"" + (dir / "ours.TextGrid").string() +
                                 "\"\nSave as short text file: \"" +
                                 (dir / "again.TextGrid").string() + "\"\n"));
  auto again = data::read_textgrid(dir / "again.TextGrid", "again", diag);
  ASSERT_TRUE(again) << findings(diag);
  EXPECT_EQ(again->tiers[0].intervals[1].text, "ça va one");
  EXPECT_EQ(again->tiers[4].intervals[1].xmax, 1.9);
}

TEST(TextGrid, MalformedFilesNameTheLine) {
  const fs::path dir = make_temp_dir("tg-bad");
  write_text(dir / "cut.TextGrid",
             "File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n\nxmin = 0\nxmax = 4\n"
             "tiers? <exists>\nsize = 1\nitem []:\n    item [1]:\n"
             "        class = \"IntervalTier\"\n"
             "        name = \"customer\"\n        xmin = 0\n        xmax = 4\n"
             "        intervals: size = 2\n        intervals [1]:\n            xmin = 0\n");
  write_text(dir / "pitch.txt", "File type = \"ooTextFile\"\nObject class = \"Pitch 1\"\n");
  write_text(dir / "latin1.TextGrid", "\"ooTextFile\"\n\"TextGrid\"\n0\n1\n<exists>\n1\n"
                                      "\"IntervalTier\"\n\"customer\"\n0\n1\n1\n0\n1\n\"\xE7\"\n");
  write_text(dir / "huge.TextGrid", "\"ooTextFile\"\n\"TextGrid\"\n0\n4\n<exists>\n1e20\n");
  write_text(dir / "extra.TextGrid", "\"ooTextFile\"\n\"TextGrid\"\n0\n4\n<exists>\n0\n\"x\"\n");
  // A word where a number belongs is named, on its own line, not the next value's kind.
  const std::string head = "File type = \"ooTextFile\"\nObject class = \"TextGrid\"\n\nxmin = 0\n"
                           "xmax = 4\ntiers? <exists>\nsize = 1\nitem []:\n    item [1]:\n"
                           "        class = \"IntervalTier\"\n        name = \"customer\"\n";
  write_text(dir / "nan.TextGrid", head + "        xmin = 0\n        xmax = nan\n"
                                          "        intervals: size = 0\n");
  write_text(dir / "text.TextGrid", head + "        xmin = \"0\"\n");
  data::Diagnostics diag;
  EXPECT_FALSE(data::read_textgrid(dir / "nan.TextGrid", "nan.TextGrid", diag));
  EXPECT_FALSE(data::read_textgrid(dir / "text.TextGrid", "text.TextGrid", diag));
  EXPECT_TRUE(has_finding(diag, "nan.TextGrid:13: error: expected the tier's xmax (a number), "
                                "found 'nan'; the file was edited by hand"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "text.TextGrid:12: error: expected the tier's xmin (a number), "
                                "found the quoted text \"0\""))
      << findings(diag);
  EXPECT_FALSE(data::read_textgrid(dir / "huge.TextGrid", "huge.TextGrid", diag));
  EXPECT_FALSE(data::read_textgrid(dir / "extra.TextGrid", "extra.TextGrid", diag));
  EXPECT_TRUE(has_finding(diag, "huge.TextGrid:6: error: a tier count of 1e+20")) << findings(diag);
  EXPECT_TRUE(has_finding(diag, "extra.TextGrid:7: error: more values after the last of the 0 "
                                "tiers")) << findings(diag);
  EXPECT_FALSE(data::read_textgrid(dir / "cut.TextGrid", "cut.TextGrid", diag));
  EXPECT_FALSE(data::read_textgrid(dir / "pitch.txt", "pitch.txt", diag));
  EXPECT_FALSE(data::read_textgrid(dir / "latin1.TextGrid", "latin1.TextGrid", diag));
  EXPECT_TRUE(has_finding(diag, "cut.TextGrid:17: error: expected an interval's xmax (a number), "
                                "found the end of the file"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "pitch.txt:2: error: this Praat file holds a Pitch 1"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "latin1.TextGrid: error: the file is neither UTF-8 nor UTF-16"))
      << findings(diag);
}

/// A source directory of two calls as Praat writes them: train/c1 and test/c2, stereo tones.
fs::path praat_source(const fs::path& dir) {
  const fs::path src = dir / "praat";
  write_tone(src / "train/c1.wav", 4.0);
  write_tone(src / "test/c2.wav", 4.0);
  EXPECT_TRUE(run_praat(dir, call_script(src / "train/c1.TextGrid", "Save as text file") +
                                 call_script(src / "test/c2.TextGrid", "Save as short text file",
                                             "ça")));
  return src;
}

TEST(ImportTextGrid, PraatFilesBecomeAValidDataset) {
  if (!have_praat()) GTEST_SKIP() << "praat is not installed";
  const fs::path dir = make_temp_dir("tg-import");
  const fs::path src = praat_source(dir);
  const std::string before = digest_tree(src);
  auto o = options(data::LabelTool::kTextGrid, src, write_schema(dir));
  o.channels = {{"agent", 0}, {"customer", 1}};
  const auto result = data::import_dataset(o, dir / "out");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  EXPECT_EQ(result.diagnostics.error_count(), 0u) << findings(result.diagnostics);
  EXPECT_EQ(digest_tree(src), before);  // the source is never modified
  const auto validated = data::validate_dataset(dir / "out");
  EXPECT_EQ(validated.diagnostics.error_count(), 0u) << findings(validated.diagnostics);
  const auto& calls = validated.dataset.calls;
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].call_id, "c1");  // sorted files: test/c2, train/c1
  EXPECT_EQ(calls[1].split, "train");
  ASSERT_EQ(calls[1].segments.size(), 3u);
  const auto& s0 = calls[1].segments[0];
  EXPECT_EQ(s0.start_s, 0.1);
  EXPECT_EQ(s0.end_s, 0.9);
  EXPECT_EQ(s0.speaker, "customer");
  EXPECT_EQ(*s0.text, "alpha one");
  EXPECT_EQ(s0.labels.at("escalation"), 1);
  EXPECT_EQ(s0.labels_by.at("ann-b").at("escalation"), 0);
  EXPECT_EQ(calls[1].segments[1].labels.at("empathy"), 1);
  EXPECT_EQ(calls[1].segments[2].labels.at("escalation"), 2);
  EXPECT_EQ(*calls[0].segments[0].text, "ça one");  // from Praat's UTF-16 short form
  EXPECT_EQ(calls[1].channels.at("customer"), 1);
}

/// One call's TextGrid in the short form, written by hand to hold what Praat's editor would
/// not let a labeller write (overlaps) or typical mistakes.
using Tiers = std::vector<std::pair<std::string, std::vector<std::string>>>;
std::string short_textgrid(const Tiers& tiers) {
  std::string t =
      "\"ooTextFile\"\n\"TextGrid\"\n0\n4\n<exists>\n" + std::to_string(tiers.size()) + "\n";
  for (const auto& [name, intervals] : tiers) {
    t += "\"IntervalTier\"\n\"" + name + "\"\n0\n4\n" + std::to_string(intervals.size()) + "\n";
    for (const auto& iv : intervals) t += iv + "\n";
  }
  return t;
}

TEST(ImportTextGrid, HostileInputIsReportedWithPlaceAndFixAndNothingIsWritten) {
  const fs::path dir = make_temp_dir("tg-hostile");
  const fs::path src = dir / "src";
  write_tone(src / "overlap.wav", 4.0);
  write_text(src / "overlap.TextGrid",
             short_textgrid({{"customer", {"0 2 \"one\"", "1.5 3 \"two\""}}}));
  write_tone(src / "classes.wav", 4.0);
  write_text(src / "classes.TextGrid",
             short_textgrid({{"customer", {"0 2 \"one\""}}, {"escalation", {"0 2 \"furious\""}}}));
  write_tone(src / "typo.wav", 4.0);
  write_text(src / "typo.TextGrid",
             short_textgrid({{"customer", {"0 2 \"one\""}}, {"escalaton", {"0 2 \"calm\""}}}));
  write_tone(src / "long.wav", 1.0);
  write_text(src / "long.TextGrid", short_textgrid({{"customer", {"0 2 \"one\""}}}));
  write_tone(src / "nolabel.wav", 4.0);
  write_text(src / "nolabel.TextGrid",
             short_textgrid({{"customer", {"0 2 \"one\""}}, {"empathy", {"0 2 \"present\""}}}));
  write_tone(src / "twice.wav", 4.0);
  write_text(src / "twice.TextGrid", short_textgrid({{"customer", {"0 2 \"one\""}},
                                                     {"customer", {"2 3 \"two\""}}}));
  const std::string before = digest_tree(src);
  auto o = options(data::LabelTool::kTextGrid, src, write_schema(dir));
  o.channels = {{"customer", 3}};
  const auto result = data::import_dataset(o, dir / "out");
  const auto& diag = result.diagnostics;
  EXPECT_FALSE(result.written);
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(digest_tree(src), before);
  const std::string s = (src / "").string();
  EXPECT_TRUE(has_finding(diag, s + "overlap.TextGrid:13: error: tier 'customer': the interval "
                                    "1.5 s "
                                    "to 3 s overlaps the one from 0 s to 2 s (line 12); intervals "
                                    "on one tier must not overlap"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, s + "classes.TextGrid:18: error: tier 'escalation': 'furious' "
                                    "(at 0 s) "
                                    "is not a class of escalation (calm, frustrated, angry, "
                                    "hostile); relabel it, or add the class to the schema"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "typo.TextGrid:13: error: tier 'escalaton': not a task of the "
                                "schema; did you mean 'escalation'?"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "long.TextGrid:12: error: the customer interval from 0 s ends at "
                                "2 s, past the end of long.wav (1 s)"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "error: the customer channel is 3, but typo.wav has 2 channel(s) "
                                "(0..1); give a channel the recording has"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "twice.TextGrid:13: error: a second tier named 'customer' (the "
                                "first is at line 7); rename or merge one of them"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "nolabel.TextGrid:18: error: tier 'empathy': the label 'present' "
                                "from 0 s to 2 s covers no agent segment"))
      << findings(diag);
}

TEST(ImportTextGrid, OutputInsideTheSourceOrNotEmptyIsRefused) {
  const fs::path dir = make_temp_dir("tg-out");
  write_text(dir / "src/a.TextGrid", short_textgrid({{"customer", {"0 2 \"one\""}}}));
  const auto o = options(data::LabelTool::kTextGrid, dir / "src", write_schema(dir));
  EXPECT_NE(thrown_message<UsageError>([&] { data::import_dataset(o, dir / "src/out"); })
                .find("lies inside the source"),
            std::string::npos);
  write_text(dir / "full/x", "x");
  EXPECT_NE(thrown_message<UsageError>([&] { data::import_dataset(o, dir / "full"); })
                .find("already exists and is not empty; choose a new output directory"),
            std::string::npos);
  const auto ok = data::import_dataset(o, dir / "out");  // text only: a warning, no error
  EXPECT_TRUE(ok.written) << findings(ok.diagnostics);
  EXPECT_TRUE(has_finding(ok.diagnostics,
                          "a.TextGrid: warning: 1 TextGrid(s), this one first, have no recording"));
}

/// An EAF 3.0 file as ELAN writes it
/// (https://www.mpi.nl/tools/elan/EAF_Annotation_Format_3.0_and_ELAN.pdf):
/// a customer and an agent tier, an escalation tier of reference annotations on the customer
/// tier with a controlled vocabulary, and an empathy tier of its own time slots.
std::string eaf(const std::string& media_url, const std::string& relative_url,
                const std::string& escalation = "angry") {
  return R"EAF(<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2026-12-01T10:00:00+00:00" FORMAT="3.0" VERSION="3.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="http://www.mpi.nl/tools/elan/EAFv3.0.xsd">
    <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
        <MEDIA_DESCRIPTOR MEDIA_URL=")EAF" + media_url + R"EAF(" MIME_TYPE="audio/x-wav" RELATIVE_MEDIA_URL=")EAF" + relative_url + R"EAF("/>
        <PROPERTY NAME="lastUsedAnnotationId">6</PROPERTY>
    </HEADER>
    <TIME_ORDER>
        <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="100"/>
        <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="900"/>
        <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="1000"/>
        <TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="1900"/>
        <TIME_SLOT TIME_SLOT_ID="ts5" TIME_VALUE="1000"/>
        <TIME_SLOT TIME_SLOT_ID="ts6" TIME_VALUE="1900"/>
    </TIME_ORDER>
    <TIER LINGUISTIC_TYPE_REF="words" PARTICIPANT="C" TIER_ID="customer">
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
                <ANNOTATION_VALUE>I've waited an hour</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <TIER LINGUISTIC_TYPE_REF="words" PARTICIPANT="A" TIER_ID="agent">
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4">
                <ANNOTATION_VALUE>I am sorry</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <TIER LINGUISTIC_TYPE_REF="escalation-type" PARENT_REF="customer" TIER_ID="escalation">
        <ANNOTATION>
            <REF_ANNOTATION ANNOTATION_ID="a3" ANNOTATION_REF="a1">
                <ANNOTATION_VALUE>)EAF" + escalation + R"EAF(</ANNOTATION_VALUE>
            </REF_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <TIER LINGUISTIC_TYPE_REF="words" TIER_ID="empathy@ann-a">
        <ANNOTATION>
            <ALIGNABLE_ANNOTATION ANNOTATION_ID="a4" TIME_SLOT_REF1="ts5" TIME_SLOT_REF2="ts6">
                <ANNOTATION_VALUE>present</ANNOTATION_VALUE>
            </ALIGNABLE_ANNOTATION>
        </ANNOTATION>
    </TIER>
    <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="words" TIME_ALIGNABLE="true"/>
    <LINGUISTIC_TYPE CONSTRAINTS="Symbolic_Association" CONTROLLED_VOCABULARY_REF="escalation-cv" GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="escalation-type" TIME_ALIGNABLE="false"/>
    <LANGUAGE LANG_DEF="http://cdb.iso.org/lg/CDB-00130975-001" LANG_ID="eng" LANG_LABEL="English (eng)"/>
    <CONSTRAINT DESCRIPTION="1-1 association with a parent annotation" STEREOTYPE="Symbolic_Association"/>
    <CONTROLLED_VOCABULARY CV_ID="escalation-cv">
        <DESCRIPTION LANG_REF="eng"/>
        <CV_ENTRY_ML CVE_ID="cve1"><CVE_VALUE LANG_REF="eng">calm</CVE_VALUE></CV_ENTRY_ML>
        <CV_ENTRY_ML CVE_ID="cve2"><CVE_VALUE LANG_REF="eng">angry</CVE_VALUE></CV_ENTRY_ML>
        <CV_ENTRY_ML CVE_ID="cve3"><CVE_VALUE LANG_REF="eng">livid</CVE_VALUE></CV_ENTRY_ML>
    </CONTROLLED_VOCABULARY>
</ANNOTATION_DOCUMENT>
)EAF";
}

TEST(ImportElan, TiersReferencesAndVocabularies) {
  const fs::path dir = make_temp_dir("eaf");
  write_tone(dir / "media/call 1.wav", 3.0, 16000, 1);
  // The absolute URL is stale (another machine); the relative one finds the recording.
  write_text(dir / "src/call 1.eaf",
             eaf("file:///home/someone/call%201.wav", "../media/call%201.wav"));
  const auto result = data::import_dataset(
      options(data::LabelTool::kElan, dir / "src", write_schema(dir)), dir / "out");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  EXPECT_TRUE(has_finding(result.diagnostics,
                          "call 1.eaf:29: warning: the controlled vocabulary 'escalation-cv' of "
                          "tier 'escalation' offers 'livid', not a class of escalation"))
      << findings(result.diagnostics);
  const auto ds = data::load_dataset_or_throw(dir / "out");
  ASSERT_EQ(ds.calls.size(), 1u);
  const auto& call = ds.calls[0];
  EXPECT_EQ(call.call_id, "call 1");
  ASSERT_EQ(call.segments.size(), 2u);
  EXPECT_EQ(call.segments[0].speaker, "customer");
  EXPECT_EQ(*call.segments[0].text, "I've waited an hour");
  EXPECT_DOUBLE_EQ(call.segments[0].start_s, 0.1);
  EXPECT_EQ(call.segments[0].labels.at("escalation"), 2);
  EXPECT_EQ(call.segments[1].labels_by.at("ann-a").at("empathy"), 1);
  EXPECT_EQ(fs::canonical(dir / "out" / call.audio), fs::canonical(dir / "media/call 1.wav"));
}

TEST(ImportElan, MissingMediaMalformedXmlAndUnknownLabels) {
  const fs::path dir = make_temp_dir("eaf-bad");
  write_text(dir / "src/gone.eaf", eaf("file:///nowhere/gone.wav", "./gone.wav"));
  write_text(dir / "src/broken.eaf", eaf("", "", "angry").substr(0, 900));
  write_tone(dir / "src/label.wav", 3.0, 16000, 1);
  write_text(dir / "src/label.eaf", eaf("file:///x/label.wav", "./label.wav", "furious"));
  const std::string before = digest_tree(dir / "src");
  const auto result = data::import_dataset(
      options(data::LabelTool::kElan, dir / "src", write_schema(dir)), dir / "out");
  const auto& diag = result.diagnostics;
  EXPECT_FALSE(result.written);
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_EQ(digest_tree(dir / "src"), before);
  EXPECT_TRUE(has_finding(diag, "gone.eaf:4: error: the linked recording file:///nowhere/gone.wav "
                                "does not exist"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "relink it in ELAN (Edit > Linked Files)")) << findings(diag);
  EXPECT_TRUE(has_finding(diag, "broken.eaf:")) << findings(diag);
  EXPECT_TRUE(has_finding(diag, "not well-formed XML")) << findings(diag);
  EXPECT_TRUE(has_finding(diag, "label.eaf:31: error: tier 'escalation': 'furious' (at 0.1 s) is "
                                "not a class of escalation"))
      << findings(diag);
}

// Ids given twice (a hand edit or merge) and declared entities: errors, never an annotation
// that silently takes another's times or a transcript read without its entity.
TEST(ImportElan, RepeatedIdsAndEntitiesAreRefusedNotReadWithOtherTimes) {
  const fs::path dir = make_temp_dir("eaf-ids");
  write_tone(dir / "src/call.wav", 3.0, 16000, 1);
  auto edited = [&](const std::string& from, const std::string& to) {
    std::string text = eaf("file:///x/call.wav", "./call.wav");
    text.replace(text.find(from), from.size(), to);
    write_text(dir / "src/call.eaf", text);
    return data::import_dataset(options(data::LabelTool::kElan, dir / "src", write_schema(dir)),
                                dir / "out");
  };
  auto r = edited("ANNOTATION_ID=\"a4\"", "ANNOTATION_ID=\"a1\"");
  EXPECT_FALSE(r.written);
  EXPECT_TRUE(has_finding(r.diagnostics, "call.eaf:38: error: annotation 'a1' is defined again "
                                         "(first on line 17); ELAN gives each its own "
                                         "ANNOTATION_ID: the file was edited or merged by hand"))
      << findings(r.diagnostics);
  r = edited("<TIME_SLOT TIME_SLOT_ID=\"ts6\"", "<TIME_SLOT TIME_SLOT_ID=\"ts1\"");
  EXPECT_FALSE(r.written);
  EXPECT_TRUE(has_finding(r.diagnostics, "call.eaf:13: error: time slot 'ts1' is defined again "
                                         "(first on line 8)"))
      << findings(r.diagnostics);
  r = edited("<ANNOTATION_DOCUMENT", "<!DOCTYPE x [<!ENTITY e \"hour\">]>\n<ANNOTATION_DOCUMENT");
  EXPECT_FALSE(r.written);
  EXPECT_TRUE(has_finding(r.diagnostics, "call.eaf: error: declares XML entities, which ELAN "
                                         "never writes and tenor does not expand"))
      << findings(r.diagnostics);
  EXPECT_FALSE(fs::exists(dir / "out"));
  r = edited("I've waited", "I've waited");  // the file as ELAN wrote it imports
  EXPECT_TRUE(r.written) << findings(r.diagnostics);
}

/// A Label Studio export (Export > JSON, https://labelstud.io/guide/task_format) of one audio
/// task labelled by two annotators, regions carrying speaker, transcript and a task's class.
json label_studio_task(const std::string& audio, const std::string& second_label = "angry") {
  auto region = [](const std::string& id, double start, double end, int channel,
                   const std::string& from, const std::string& type, json value) {
    value["start"] = start;
    value["end"] = end;
    value["channel"] = channel;
    return json{{"id", id}, {"from_name", from}, {"to_name", "audio"}, {"type", type},
                {"origin", "manual"}, {"original_length", 4.0}, {"value", value}};
  };
  json a1 = json::array({
      region("r1", 0.1, 0.9, 1, "speaker", "labels", {{"labels", {"customer"}}}),
      region("r1", 0.1, 0.9, 1, "transcript", "textarea", {{"text", {"where is my refund"}}}),
      region("r1", 0.1, 0.9, 1, "escalation", "choices", {{"choices", {"frustrated"}}}),
      region("r2", 1.0, 1.9, 0, "speaker", "labels", {{"labels", {"agent"}}}),
      region("r2", 1.0, 1.9, 0, "empathy", "choices", {{"choices", {"present"}}}),
  });
  // A whole-file control of the project that is no task (call quality): skipped with a warning.
  a1.push_back({{"id", "q"}, {"from_name", "quality"}, {"to_name", "audio"}, {"type", "choices"},
                {"value", {{"choices", {"good"}}}}});
  json a2 = json::array({
      region("x9", 0.1, 0.9, 1, "escalation", "labels", {{"labels", {second_label}}}),
  });
  return {{"id", 17},
          {"data", {{"audio", audio}}},
          {"annotations",
           json::array({{{"id", 1}, {"completed_by", 3}, {"result", a1}, {"ground_truth", false},
                         {"was_cancelled", false}},
                        {{"id", 2}, {"completed_by", 5}, {"result", a2}}})},
          {"predictions", json::array()}};
}

TEST(ImportLabelStudio, RegionsAnnotatorsAndChannels) {
  const fs::path dir = make_temp_dir("ls");
  write_tone(dir / "media/c7.wav", 4.0);
  write_text(dir / "export.json",
             json::array({label_studio_task("/data/upload/1/3f2a1b9c-c7.wav")}).dump());
  auto o = options(data::LabelTool::kLabelStudio, dir / "export.json", write_schema(dir));
  o.media = dir / "media";
  const auto result = data::import_dataset(o, dir / "out");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  EXPECT_TRUE(has_finding(result.diagnostics, "export.json: warning: task 1 (id 17): the control "
                                              "'quality' is neither 'speaker', a TextArea nor a "
                                              "task of the schema"))
      << findings(result.diagnostics);
  const auto ds = data::load_dataset_or_throw(dir / "out");
  ASSERT_EQ(ds.calls.size(), 1u);
  const auto& call = ds.calls[0];
  EXPECT_EQ(call.call_id, "c7");
  EXPECT_EQ(call.channels.at("customer"), 1);
  EXPECT_EQ(call.channels.at("agent"), 0);
  ASSERT_EQ(call.segments.size(), 2u);
  EXPECT_EQ(*call.segments[0].text, "where is my refund");
  EXPECT_EQ(call.segments[0].labels_by.at("user-3").at("escalation"), 1);
  EXPECT_EQ(call.segments[0].labels_by.at("user-5").at("escalation"), 2);
  EXPECT_TRUE(call.segments[0].labels.empty());
  EXPECT_EQ(call.segments[1].labels_by.at("user-3").at("empathy"), 1);
}

TEST(ImportLabelStudio, OtherTaskTypesLabelsAndChannelsAreRefused) {
  const fs::path dir = make_temp_dir("ls-bad");
  write_tone(dir / "c7.wav", 4.0);
  json image = {{"id", 3},
                {"data", {{"image", "/data/upload/1/cat.jpg"}}},
                {"annotations", json::array({{{"result", json::array({{{"id", "a"},
                    {"type", "rectanglelabels"}, {"from_name", "tag"}, {"to_name", "img"},
                    {"value", {{"x", 1}, {"y", 2}, {"rectanglelabels", {"cat"}}}}}})}}})}};
  json whole = label_studio_task("c7.wav");
  whole["annotations"][1]["result"][0]["value"].erase("start");
  json bad_label = label_studio_task("c7.wav", "livid");
  json bad_channel = label_studio_task("c7.wav");
  bad_channel["annotations"][0]["result"][0]["value"]["channel"] = 4;
  bad_channel["annotations"][0]["result"][1]["value"]["channel"] = 4;
  bad_channel["annotations"][0]["result"][2]["value"]["channel"] = 4;
  bad_channel["annotations"][1]["result"][0]["value"]["channel"] = 4;
  json missing = label_studio_task("/data/upload/2/0badc0de-nowhere.wav");
  // Two classes on one region, and results of one region placed apart: never a silent pick.
  json two_classes = label_studio_task("c7.wav");
  two_classes["annotations"][0]["result"][2]["value"]["choices"] = {"frustrated", "angry"};
  json apart = label_studio_task("c7.wav");
  apart["annotations"][0]["result"][0]["value"]["end"] = 1e300;
  apart["annotations"][0]["result"][4]["value"]["channel"] = 1;
  apart["annotations"][0]["result"][1]["value"]["end"] = 1e300;  // agrees with the first
  apart["annotations"][0]["result"][1]["value"].erase("channel");  // states none: agrees too
  write_text(dir / "export.json",
             json::array({image, whole, bad_label, bad_channel, missing, two_classes, apart})
                 .dump(2));
  const fs::path schema = write_schema(dir);
  const std::string before = digest_tree(dir);
  const auto result = data::import_dataset(
      options(data::LabelTool::kLabelStudio, dir / "export.json", schema), dir / "out");
  const auto& diag = result.diagnostics;
  EXPECT_FALSE(result.written);
  EXPECT_EQ(digest_tree(dir), before);
  const std::string f = (dir / "export.json").string();
  EXPECT_TRUE(has_finding(diag, f + ": error: task 1 (id 3): its data holds no audio (keys: "
                                    "image); "
                                    "this is an export of another task type"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "task 2 (id 17), annotation 2: 'escalation' (labels) has no start "
                                "and end: a label of the whole file"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "task 3 (id 17), annotation 2: 'livid' (region from 0.1 s) is not "
                                "a class of escalation (calm, frustrated, angry, hostile)"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "error: task 4 (id 17): the customer channel is 4, but c7.wav "
                                "has 2 channel(s)"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "task 5 (id 17): its audio /data/upload/2/0badc0de-nowhere.wav is "
                                "not under"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "pass --media")) << findings(diag);
  EXPECT_TRUE(has_finding(diag, "task 6 (id 17), annotation 1: 'escalation' gives the region from "
                                "0.1 s 2 labels (frustrated, angry); a segment takes one"))
      << findings(diag);
  EXPECT_TRUE(has_finding(diag, "task 7 (id 17), annotation 1: the results of region 'r1' "
                                "disagree on where it is: 0.1 to 1e+300 s on channel 1 in "
                                "'speaker', 0.1 to 0.9 s on channel 1 in 'escalation'"))
      << findings(diag);
  EXPECT_FALSE(has_finding(diag, "in 'transcript'")) << findings(diag);
  EXPECT_TRUE(has_finding(diag, "task 7 (id 17), annotation 1: the results of region 'r2' "
                                "disagree on where it is: 1 to 1.9 s on channel 0 in 'speaker', "
                                "1 to 1.9 s on channel 1 in 'empathy'"))
      << findings(diag);
}

TEST(ImportLabelStudio, AnEmptyOrForeignExportIsAnErrorNotAnEmptyDataset) {
  const fs::path dir = make_temp_dir("ls-empty");
  const fs::path schema = write_schema(dir);
  write_text(dir / "empty.json", "[]");
  write_text(dir / "min.json", R"([{"id": 1, "audio": "a.wav", "escalation": "angry"}])");
  write_text(dir / "deep.json", std::string(100000, '[') + std::string(100000, ']'));
  for (const char* name : {"empty.json", "min.json", "deep.json"}) {
    const auto r = data::import_dataset(
        options(data::LabelTool::kLabelStudio, dir / name, schema), dir / "out");
    EXPECT_FALSE(r.written) << name;
    EXPECT_EQ(r.diagnostics.error_count(), 1u) << findings(r.diagnostics);
  }
  EXPECT_FALSE(fs::exists(dir / "out"));
}

// export-1.23.2.json was written by Label Studio 1.23.2 itself (make_export.sh beside it): a
// project created from tenor's label-config.xml, tenor's tasks.json of `data synth --calls 2`
// imported, the project exported as JSON. Importing it gives the synthesised dataset back.
TEST(LabelStudioItself, ItsExportOfTenorsTasksImportsAsTheDataset) {
  const fs::path dir = make_temp_dir("ls-itself");
  data::SynthOptions synth;
  synth.calls = 2;
  data::synthesize_dataset(dir / "ds", synth);
  auto o = options(data::LabelTool::kLabelStudio,
                   fs::path(TENOR_SOURCE_DIR) / "tests/data/label_studio/export-1.23.2.json",
                   dir / "ds/dataset.yaml");
  o.media = dir / "ds";
  const auto result = data::import_dataset(o, dir / "back");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  EXPECT_EQ(result.diagnostics.error_count(), 0u) << findings(result.diagnostics);
  EXPECT_EQ(canonical(data::load_dataset_or_throw(dir / "back"), true),
            canonical(data::load_dataset_or_throw(dir / "ds"), true));
}

/// The fixture dataset with a second annotator on some segments and a text-less segment.
DatasetFixture round_trip_fixture(const std::string& name) {
  DatasetFixture fx(name);
  fx.calls[0]["segments"][0]["labels_by"] = {{"ann-1", {{"escalation", 1}}},
                                             {"ann-2", {{"escalation", 2}}}};
  fx.calls[0]["segments"][1]["labels_by"] = {{"ann-1", {{"empathy", 0}}}};
  fx.calls[1]["segments"][2].erase("text");
  fx.calls[1]["segments"][3]["text"] = "quote \"this\", ça";
  fx.calls[1].erase("audio");  // a text-only call
  fx.calls[1].erase("channels");
  fx.write();
  return fx;
}

/// `tenor predict --dataset` lines for every segment of the fixture.
fs::path write_predictions(const DatasetFixture& fx, const fs::path& dir) {
  std::string lines;
  for (const auto& call : fx.calls) {
    int i = 0;
    for (const auto& s : call["segments"]) {
      const bool customer = s["speaker"] == "customer";
      json tasks = customer ? json{{"escalation", {{"probs", {0.1, 0.2, 0.6, 0.1}},
                                                   {"calibrated", {0.1, 0.2, 0.6, 0.1}},
                                                   {"decision", "angry"}}}}
                            : json{{"empathy", {{"probs", {0.3, 0.7}},
                                                {"calibrated", {0.25, 0.75}},
                                                {"decision", "present"}}}};
      lines += json{{"call_id", call["call_id"]}, {"segment", i++}, {"speaker", s["speaker"]},
                    {"start_s", s["start"]}, {"end_s", s["end"]}, {"tasks", tasks}}
                   .dump() + "\n";
    }
  }
  write_text(dir / "preds.jsonl", lines);
  return dir / "preds.jsonl";
}

TEST(RoundTrip, TextGridExportThenImportGivesTheDatasetBack) {
  const auto fx = round_trip_fixture("rt-tg");
  const fs::path dir = make_temp_dir("rt-tg-out");
  const auto original = data::load_dataset_or_throw(fx.root);
  data::ExportOptions eo;
  eo.to = data::LabelTool::kTextGrid;
  eo.predictions = write_predictions(fx, dir);
  data::export_dataset(original, eo, dir / "grids");
  ASSERT_TRUE(fs::exists(dir / "grids/train/c1.TextGrid"));
  ASSERT_TRUE(fs::exists(dir / "grids/train/c1.wav"));
  ASSERT_FALSE(fs::exists(dir / "grids/test/c2.wav"));
  const std::string grid = read_file(dir / "grids/train/c1.TextGrid");
  EXPECT_NE(grid.find("name = \"escalation (predicted)\""), std::string::npos);
  EXPECT_NE(grid.find("text = \"angry 0.60\""), std::string::npos);
  EXPECT_NE(grid.find("name = \"escalation@ann-2\""), std::string::npos);
  auto o = options(data::LabelTool::kTextGrid, dir / "grids", fx.root / "dataset.yaml");
  o.channels = {{"agent", 0}, {"customer", 1}};
  const auto result = data::import_dataset(o, dir / "back");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  const auto back = data::load_dataset_or_throw(dir / "back");
  // A TextGrid has no place for meta: everything else comes back.
  EXPECT_EQ(canonical(back, false), canonical(original, false));
  if (have_praat()) {  // and Praat reads what tenor wrote
    ASSERT_TRUE(run_praat(dir, "Read from file: \"" + (dir / "grids/test/c2.TextGrid").string() +
                                   "\"\nn = Get number of tiers\nappendInfoLine: n\n"));
  }
}

TEST(RoundTrip, LabelStudioExportThenImportGivesTheDatasetBack) {
  const auto fx = round_trip_fixture("rt-ls");
  const fs::path dir = make_temp_dir("rt-ls-out");
  const auto original = data::load_dataset_or_throw(fx.root);
  data::ExportOptions eo;
  eo.to = data::LabelTool::kLabelStudio;
  eo.predictions = write_predictions(fx, dir);
  eo.model_version = "run-7";
  data::export_dataset(original, eo, dir / "ls");
  const json tasks = json::parse(read_file(dir / "ls/tasks.json"));
  ASSERT_EQ(tasks.size(), 2u);
  EXPECT_EQ(tasks[0]["predictions"][0]["model_version"], "run-7");
  EXPECT_DOUBLE_EQ(tasks[0]["predictions"][0]["result"][0]["score"].get<double>(), 0.6);
  EXPECT_NE(read_file(dir / "ls/label-config.xml").find("<Choice value=\"hostile\"/>"),
            std::string::npos);
  const auto result = data::import_dataset(
      options(data::LabelTool::kLabelStudio, dir / "ls/tasks.json", fx.root / "dataset.yaml"),
      dir / "back");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  const auto back = data::load_dataset_or_throw(dir / "back");
  EXPECT_EQ(canonical(back, true), canonical(original, true));
}

// An export edited by hand or written by another program: each value of the wrong kind is an
// error naming the task, annotation and field, never a JSON library's message, a call dropped
// with "0 errors", or a value skipped without a word.
TEST(ImportLabelStudio, ValuesOfTheWrongKindAreNamedNeverACrashOrADroppedCall) {
  const auto fx = round_trip_fixture("ls-kinds");
  const fs::path dir = make_temp_dir("ls-kinds-out");
  data::ExportOptions eo;
  eo.to = data::LabelTool::kLabelStudio;
  data::export_dataset(data::load_dataset_or_throw(fx.root), eo, dir / "ls");
  const json tasks = json::parse(read_file(dir / "ls/tasks.json"));
  ASSERT_EQ(tasks[0]["annotations"][0]["result"][1]["type"], "textarea");
  const std::string a1 = "edited.json: error: task 1, annotation 1: ";
  const std::string fix = "; Label Studio does not write that: export the project again with "
                          "Export > JSON (or mend the edit)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/annotations/0/ground_truth", a1 + "'ground_truth' is \"yes\", not true or false" + fix},
      {"/annotations/0/was_cancelled", a1 + "'was_cancelled' is \"yes\", not true or false"},
      {"/annotations/0/result", a1 + "'result' is \"yes\", not a list"},
      {"/annotations/0/result/0", a1 + "a result is \"yes\", not an object"},
      {"/annotations/0/result/0/type", a1 + "'type' is 7, not a text"},
      {"/annotations/0/result/0/from_name", a1 + "'from_name' is 7, not a text"},
      {"/annotations/0/result/0/id", a1 + "'id' is 7, not a text"},
      {"/annotations/0/result/0/value", a1 + "the value of 'speaker' is \"yes\", not an object"},
      {"/annotations/0/result/0/value/labels", a1 + "'speaker' gives 'labels' as 7, not a list"},
      {"/annotations/0/result/0/value/channel", a1 + "'speaker' gives the channel \"yes\", not a "
                                                      "whole number"},
      {"/annotations/0/result/1/value/text", a1 + "'transcript' gives 'text' as 7, not a list of "
                                                   "texts"},
      {"/data/split", "edited.json: error: task 1: data: 'split' is 7, not a text"},
      {"/data/meta", "edited.json: error: task 1: data: 'meta' is \"yes\", not an object"}};
  for (const auto& [pointer, message] : cases) {
    json edited = tasks;
    const bool number = pointer.ends_with("type") || pointer.ends_with("_name") ||
                        pointer.ends_with("id") || pointer.ends_with("labels") ||
                        pointer.ends_with("text") || pointer.ends_with("split");
    edited[0][json::json_pointer(pointer)] = number ? json(7) : json("yes");
    write_text(dir / "ls/edited.json", edited.dump());
    const auto r = data::import_dataset(
        options(data::LabelTool::kLabelStudio, dir / "ls/edited.json", fx.root / "dataset.yaml"),
        dir / "out");
    EXPECT_FALSE(r.written) << pointer;
    EXPECT_TRUE(has_finding(r.diagnostics, message)) << pointer << "\n" << findings(r.diagnostics);
  }
  json edited = tasks;
  edited[0]["data"]["split"] = "validation";
  write_text(dir / "ls/edited.json", edited.dump());
  const auto r = data::import_dataset(
      options(data::LabelTool::kLabelStudio, dir / "ls/edited.json", fx.root / "dataset.yaml"),
      dir / "out");
  EXPECT_TRUE(has_finding(r.diagnostics, "task 1: data: split 'validation' is not train, dev or "
                                         "test; rename it in the task's data (or leave it out, "
                                         "for tenor data split to assign)"))
      << findings(r.diagnostics);
  EXPECT_FALSE(fs::exists(dir / "out"));
}

TEST(RoundTrip, ExportRefusesWhatTheToolCannotHoldAndBadPredictions) {
  auto fx = round_trip_fixture("rt-bad");
  const fs::path dir = make_temp_dir("rt-bad-out");
  fx.calls[0]["segments"][2]["start"] = 0.5;  // overlaps the customer's first segment
  fx.write();
  const auto ds = data::load_dataset_or_throw(fx.root);
  data::ExportOptions eo;
  EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "g"); })
                .find("call c1, segment 2: the customer segment from 0.5 s overlaps the one "
                      "before it (ends 0.9 s); a TextGrid tier cannot hold overlapping intervals"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "g"));
  write_text(dir / "preds.jsonl", "{\"call_id\": \"c9\", \"segment\": 0, \"tasks\": {}}\n");
  eo.to = data::LabelTool::kLabelStudio;
  eo.predictions = dir / "preds.jsonl";
  EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "l"); })
                .find("preds.jsonl:1: call c9, segment 0 is not in the dataset; pass the output "
                      "of `tenor predict --dataset` on this dataset"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "l"));

  // Lines that parse but would export a wrong or empty score: each a sentence with its line,
  // never a JSON library's message, a wrapped segment number or a choice of "".
  const std::string good = "{\"call_id\": \"c1\", \"segment\": 1, \"tasks\": {\"empathy\": "
                           "{\"decision\": \"present\", \"calibrated\": [0.2, 0.8]}}}\n";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "preds.jsonl holds no prediction lines"},
      {"{\"call_id\": \"c1\", \"segment\": 4294967296, \"tasks\": {}}\n",
       "preds.jsonl:1: call c1, segment 4294967296 is not in the dataset"},
      {"{\"call_id\": \"c1\", \"segment\": 0, \"tasks\": 5}\n",
       "preds.jsonl:1: not a prediction line (call_id, segment, tasks)"},
      {"{\"call_id\": \"c1\", \"segment\": 1, \"start_s\": \"x\", \"tasks\": {}}\n",
       "preds.jsonl:1: call c1, segment 1 has other times than in the dataset (start_s \"x\", "
       "not 1)"},
      {"{\"call_id\": \"c1\", \"segment\": 1, \"tasks\": {\"empathy\": 7}}\n",
       "preds.jsonl:1: call c1, segment 1: task 'empathy' is not an object of decision and "
       "probabilities"},
      {"{\"call_id\": \"c1\", \"segment\": 1, \"tasks\": {\"empathy\": {\"decision\": 3}}}\n",
       "task 'empathy' has no decision among its classes (absent, present)"},
      {"{\"call_id\": \"c1\", \"segment\": 1, \"tasks\": {\"empathy\": {\"decision\": "
       "\"present\", \"calibrated\": \"x\"}}}\n",
       "task 'empathy' has no 'calibrated' list of 2 numbers, one per class"},
      {good + good, "preds.jsonl:2: call c1, segment 1 was scored on line 1 already"},
      {"{\"call_id\": \"c1\", \"segment\": 1, \"tasks\": {\"anger\": {}}}\n",
       "preds.jsonl scores none of the dataset's tasks (escalation, empathy)"}};
  for (const auto& [lines, message] : bad) {
    write_text(dir / "preds.jsonl", lines);
    EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "l"); })
                  .find(message),
              std::string::npos)
        << message;
    EXPECT_FALSE(fs::exists(dir / "l"));
  }
  write_text(dir / "preds.jsonl", good);
  eo.to = data::LabelTool::kTextGrid;
  fx.calls[0]["segments"][2]["start"] = 2.0;  // the overlap above mended
  fx.write();
  data::export_dataset(data::load_dataset_or_throw(fx.root), eo, dir / "l");
  EXPECT_TRUE(fs::exists(dir / "l"));
}


/// A review.json (docs/review.md) of the round-trip fixture: three suspects, ranked.
fs::path write_review(const fs::path& dir) {
  json suspects = json::array({
      {{"rank", 1}, {"call_id", "c1"}, {"segment", 2}, {"task", "escalation"},
       {"given", "frustrated"}, {"suggested", "calm"}, {"score", 0.91}, {"speaker", "customer"},
       {"start", 2.0}, {"end", 2.9}},
      {{"rank", 2}, {"call_id", "c2"}, {"segment", 3}, {"task", "empathy"}, {"given", "absent"},
       {"suggested", "present"}, {"score", 0.8}},
      {{"rank", 3}, {"call_id", "c1"}, {"segment", 1}, {"task", "empathy"}, {"given", "absent"},
       {"suggested", "present"}, {"score", 0.7}}});
  write_text(dir / "review/review.json", json{{"format", 1}, {"suspects", suspects}}.dump(1));
  return dir / "review/review.json";
}

/// The first `from` after `after` in `text` replaced by `to` (a labeller's edit in the tool).
std::string relabel(std::string text, const std::string& after, const std::string& from,
                    const std::string& to) {
  const size_t at = text.find(from, text.find(after));
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

/// The round-trip fixture as it should be after the labeller's one change.
json expected_after_relabel(const data::Dataset& original) {
  json want = canonical(original, true);
  want["c1"]["segments"][2]["labels"]["escalation"] = 0;
  return want;
}

TEST(ReviewExport, LabelStudioSuspectsRelabelledInTheToolComeBackIntoTheDataset) {
  const auto fx = round_trip_fixture("rv-ls");
  const fs::path dir = make_temp_dir("rv-ls-out");
  const auto original = data::load_dataset_or_throw(fx.root);
  data::ExportOptions eo;
  eo.to = data::LabelTool::kLabelStudio;
  eo.review = write_review(dir);
  eo.top = 1;
  data::export_dataset(original, eo, dir / "ls");
  json tasks = json::parse(read_file(dir / "ls/tasks.json"));
  ASSERT_EQ(tasks.size(), 1u);  // only the call of the top suspect
  EXPECT_EQ(tasks[0]["data"]["call_id"], "c1");
  const json& pre = tasks[0]["predictions"].at(0);
  EXPECT_EQ(pre["model_version"], "review.json");
  ASSERT_EQ(pre["result"].size(), 1u);
  EXPECT_EQ(pre["result"][0]["id"], "s2");
  EXPECT_EQ(pre["result"][0]["value"]["choices"], json::array({"calm"}));
  EXPECT_DOUBLE_EQ(pre["result"][0]["score"].get<double>(), 0.91);
  EXPECT_EQ(pre["result"][0]["meta"]["text"],
            "suspect 1: given frustrated, suggested calm (score 0.91)");
  // The labeller agrees with the suggestion: segment 2's escalation becomes calm.
  const std::string edited = relabel(read_file(dir / "ls/tasks.json"),
                                     "\"from_name\": \"escalation\"", "\"frustrated\"", "\"calm\"");
  write_text(dir / "ls/edited.json", edited);
  auto o = options(data::LabelTool::kLabelStudio, dir / "ls/edited.json", "");
  o.update = fx.root;
  const auto result = data::import_dataset(o, dir / "back");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  EXPECT_EQ(result.calls, 2u);
  EXPECT_EQ(result.updated_calls, 1u);
  EXPECT_EQ(result.changed_labels, 1u);
  EXPECT_EQ(canonical(data::load_dataset_or_throw(dir / "back"), true),
            expected_after_relabel(original));
  EXPECT_EQ(canonical(data::load_dataset_or_throw(fx.root), true), canonical(original, true));
}

TEST(ReviewExport, TextGridSuspectTiersAndRelabelledGridsComeBackIntoTheDataset) {
  const auto fx = round_trip_fixture("rv-tg");
  const fs::path dir = make_temp_dir("rv-tg-out");
  const auto original = data::load_dataset_or_throw(fx.root);
  data::ExportOptions eo;
  eo.review = write_review(dir);
  eo.top = 1;
  data::export_dataset(original, eo, dir / "grids");
  EXPECT_FALSE(fs::exists(dir / "grids/test/c2.TextGrid"));  // no suspect in the top 1
  const std::string grid = read_file(dir / "grids/train/c1.TextGrid");
  EXPECT_NE(grid.find("name = \"escalation (suspect)\""), std::string::npos);
  EXPECT_NE(grid.find("text = \"frustrated -> calm 0.91\""), std::string::npos);
  EXPECT_EQ(grid.find("empathy (suspect)"), std::string::npos);  // rank 3 is not in the top 1
  write_text(dir / "grids/train/c1.TextGrid",
             relabel(grid, "name = \"escalation\"", "\"frustrated\"", "\"calm\""));
  auto o = options(data::LabelTool::kTextGrid, dir / "grids", "");
  o.update = fx.root;  // channels and meta come from the dataset
  const auto result = data::import_dataset(o, dir / "back");
  ASSERT_TRUE(result.written) << findings(result.diagnostics);
  EXPECT_EQ(result.changed_labels, 1u);
  EXPECT_EQ(canonical(data::load_dataset_or_throw(dir / "back"), true),
            expected_after_relabel(original));
  // Without --top every call with a suspect is exported, with every suspect's tier.
  eo.top = 0;
  data::export_dataset(original, eo, dir / "all");
  EXPECT_NE(read_file(dir / "all/test/c2.TextGrid").find("text = \"absent -> present 0.80\""),
            std::string::npos);
  EXPECT_NE(read_file(dir / "all/train/c1.TextGrid").find("empathy (suspect)"), std::string::npos);
}

TEST(ReviewExport, AStaleOrForeignReviewAndUnknownCallsAreRefused) {
  const auto fx = round_trip_fixture("rv-bad");
  const fs::path dir = make_temp_dir("rv-bad-out");
  const auto ds = data::load_dataset_or_throw(fx.root);
  data::ExportOptions eo;
  eo.review = write_review(dir);
  json review = json::parse(read_file(eo.review));
  review["suspects"][1]["given"] = "present";  // the dataset says absent: relabelled since
  write_text(eo.review, review.dump());
  EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "g"); })
                .find("review.json: suspect 2 (call c2, segment 3, empathy): the review's given "
                      "label is present but the dataset's is absent; the dataset changed since "
                      "the review: run `tenor data review` on it again"),
            std::string::npos);
  review["suspects"][1]["call_id"] = "c9";
  write_text(eo.review, review.dump());
  EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "g"); })
                .find("suspect 2 (call c9, segment 3, empathy): no such call in the dataset"),
            std::string::npos);
  write_text(eo.review, "{\"format\": 1}");
  EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "g"); })
                .find("review.json: no 'suspects' list; pass the review.json that `tenor data "
                      "review` wrote"),
            std::string::npos);
  // Values of the wrong kind: a sentence, never a JSON library's message, a segment number
  // wrapped into range or a score read as 0; and one label listed twice.
  json edited = json::parse(read_file(write_review(dir)));
  auto refused_with = [&](const std::string& key, const json& value, const std::string& message) {
    json r = edited;
    r["suspects"][0][key] = value;
    write_text(eo.review, r.dump());
    EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "g"); })
                  .find(message),
              std::string::npos)
        << key << " " << value.dump();
  };
  refused_with("segment", "x", "suspect 1 (call c1, segment \"x\", escalation): the call has 4 "
                               "segments");
  refused_with("segment", 4294967298LL, "suspect 1 (call c1, segment 4294967298, escalation)");
  refused_with("score", "high", "its score, start or end is not a number as `tenor data review` "
                                "writes them (a score in 0 .. 1, times in seconds)");
  refused_with("score", 7, "its score, start or end is not a number");
  refused_with("start", "x", "its score, start or end is not a number");
  edited["suspects"].push_back(edited["suspects"][0]);
  write_text(eo.review, edited.dump());
  EXPECT_NE(thrown_message<DataError>([&] { data::export_dataset(ds, eo, dir / "g"); })
                .find("suspect 4 (call c1, segment 2, escalation) is suspect 1 again"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "g"));
  // Importing into a dataset a call it does not have is refused, nothing written.
  data::ExportOptions all;
  all.to = data::LabelTool::kLabelStudio;
  data::export_dataset(ds, all, dir / "ls");
  write_text(dir / "ls/renamed.json",
             relabel(read_file(dir / "ls/tasks.json"), "call_id", "\"c2\"", "\"c7\""));
  auto o = options(data::LabelTool::kLabelStudio, dir / "ls/renamed.json", "");
  o.update = fx.root;
  const auto result = data::import_dataset(o, dir / "back");
  EXPECT_FALSE(result.written);
  EXPECT_TRUE(has_finding(result.diagnostics, "call c7 is not in " + fx.root.string()))
      << findings(result.diagnostics);
  EXPECT_FALSE(fs::exists(dir / "back"));
}

}  // namespace
}  // namespace tenor::test
