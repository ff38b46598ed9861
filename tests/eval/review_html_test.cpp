// review.html: user text (transcripts, call ids) is escaped, never markup; audio is a WAV data
// URI; the page is one document with its script.
#include <gtest/gtest.h>

#include "eval/review_html.h"

namespace tenor::eval {
namespace {

TEST(ReviewHtml, EscapesTranscriptsAndCallIds) {
  ReviewPage page;
  page.title = "label review: <x>";
  ReviewRow row;
  row.rank = 1;
  row.call_id = "c\"1<";
  row.text = "<script>alert(1)</script> & more";
  row.task = "escalation", row.given = "calm", row.suggested = "escalated";
  page.rows = {row};
  page.annotators = {{"escalation", "ann-<1>", "3", "0.5", "n/a"}};
  const std::string html = review_to_html(page);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more"), std::string::npos);
  EXPECT_NE(html.find("ann-&lt;1&gt;"), std::string::npos);
  EXPECT_NE(html.find("c&quot;1&lt; #0"), std::string::npos);
  EXPECT_NE(html.find("<table id=\"suspects\">"), std::string::npos);
  EXPECT_EQ(html.find("<audio"), std::string::npos);  // no audio at hand: no player
}

TEST(ReviewHtml, AudioIsAWavDataUri) {
  // 44-byte header + 2 samples = 48 bytes = 64 base64 characters, no padding.
  const std::string uri = wav_data_uri({0.0f, 1.0f}, 16000);
  ASSERT_EQ(uri.rfind("data:audio/wav;base64,UklGR", 0), 0u) << uri;  // "RIFF"
  EXPECT_EQ(uri.size(), std::string("data:audio/wav;base64,").size() + 64);
  EXPECT_EQ(uri.substr(uri.size() - 4), "AP9/");  // samples 0x0000, 0x7fff little-endian
}

}  // namespace
}  // namespace tenor::eval
