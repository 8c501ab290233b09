// mf-db report, in process: the page of a database of several devices and problems (every
// winner's key escaped, the winner and the default marked in every chart, charts capped,
// the page and its SVG well-formed XML), bad arguments, and failed writes that must leave
// an existing page as it was.
#include "mf_db.h"
#include "mf_db_run.h"
#include "report.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "mf/compiler/evo_attention_generator.h"
#include "mf/ir/evo_attention.h"
#include "mf/ir/json.h"
#include "mf/ir/problem_key.h"
#include "mf/tuning_db/database.h"
#include "tuning_db/db_test_helpers.h"

namespace mf::tools {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using tuning_db::Database;
using tuning_db::testing::h200;
using tuning_db::testing::ok_trial;
using testing::Outcome;
using testing::mf_db_run;

std::string read(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

std::size_t count(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// The files of `folder` whose name starts with a dot: what a failed write could leave behind.
std::vector<std::string> hidden_files(const std::filesystem::path& folder) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(folder))
    if (entry.path().filename().string().rfind('.', 0) == 0) out.push_back(entry.path().filename().string());
  return out;
}

// ---- a well-formedness check of XML, small enough to trust: the page is written as
// XHTML-compatible markup, so the page and each of its SVGs must pass it ----

// Why `text` is not well-formed XML, or "" when it is: UTF-8 without the control characters
// XML refuses; one root element, after an optional <!DOCTYPE ...> and comments; every tag
// closed in order; attributes quoted, each once; & only in a reference to one of XML's five
// entities or to a character; no < in text or attributes. No DTD, CDATA or processing
// instructions (the page has none: they fail).
class XmlCheck {
 public:
  explicit XmlCheck(std::string_view text) : text_(text) {}

  std::string error() {
    try {
      characters();
      document();
      return "";
    } catch (const std::runtime_error& e) {
      return fmt::format("{} (at byte {}: \"{}\")", e.what(), at_, text_.substr(at_, 40));
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw std::runtime_error(why); }
  bool starts(std::string_view prefix) const { return text_.substr(at_, prefix.size()) == prefix; }
  bool more() const { return at_ < text_.size(); }
  void expect(char c) {
    if (!more() || text_[at_] != c) fail(fmt::format("expected '{}'", c));
    ++at_;
  }
  bool skip_space() {
    const std::size_t from = at_;
    while (more() && std::string_view(" \t\r\n").find(text_[at_]) != std::string_view::npos) ++at_;
    return at_ > from;
  }
  void skip_past(std::string_view end) {
    const std::size_t found = text_.find(end, at_);
    if (found == std::string_view::npos) fail(fmt::format("no closing {}", end));
    at_ = found + end.size();
  }

  void characters() {
    for (std::size_t i = 0; i < text_.size(); ++i) {
      const auto byte = static_cast<unsigned char>(text_[i]);
      if (byte < 0x20 && byte != '\t' && byte != '\n' && byte != '\r') {
        at_ = i;
        fail("a control character XML refuses");
      }
    }
    // UTF-8: every lead byte followed by its continuation bytes.
    for (std::size_t i = 0; i < text_.size();) {
      const auto byte = static_cast<unsigned char>(text_[i]);
      const std::size_t length = byte < 0x80 ? 1 : (byte & 0xE0) == 0xC0 ? 2 : (byte & 0xF0) == 0xE0 ? 3 : (byte & 0xF8) == 0xF0 ? 4 : 0;
      bool ok = length > 0 && i + length <= text_.size();
      for (std::size_t k = 1; ok && k < length; ++k) ok = (static_cast<unsigned char>(text_[i + k]) & 0xC0) == 0x80;
      if (!ok) {
        at_ = i;
        fail("not UTF-8");
      }
      i += length;
    }
  }

  void document() {
    skip_space();
    if (starts("<!DOCTYPE")) skip_past(">");
    misc();
    if (!starts("<")) fail("no root element");
    element();
    misc();
    if (more()) fail("something after the root element");
  }
  void misc() {
    for (skip_space(); starts("<!--"); skip_space()) skip_past("-->");
  }

  std::string name() {
    const std::size_t from = at_;
    const auto name_char = [](char c) {
      return std::isalnum(c & 0xFF) != 0 || c == '_' || c == ':' || c == '-' || c == '.';
    };
    while (more() && name_char(text_[at_])) ++at_;
    if (at_ == from || std::isdigit(text_[from] & 0xFF) != 0 || text_[from] == '-' || text_[from] == '.')
      fail("expected a name");
    return std::string(text_.substr(from, at_ - from));
  }

  void reference() {
    const std::size_t end = text_.find(';', at_);
    if (end == std::string_view::npos) fail("& without ;");
    const std::string_view ref = text_.substr(at_ + 1, end - at_ - 1);
    static const std::set<std::string_view> kPredefined{"amp", "lt", "gt", "quot", "apos"};
    bool ok = kPredefined.count(ref) > 0;
    if (!ok && ref.size() > 1 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const std::string_view digits = ref.substr(hex ? 2 : 1);
      ok = !digits.empty() && std::all_of(digits.begin(), digits.end(), [&](char c) {
        return hex ? std::isxdigit(c & 0xFF) != 0 : std::isdigit(c & 0xFF) != 0;
      });
    }
    if (!ok) fail(fmt::format("&{}; is not a reference XML knows", ref));
    at_ = end + 1;
  }

  void attributes(const std::string& tag) {
    std::set<std::string> seen;
    for (;;) {
      const bool spaced = skip_space();
      if (starts("/>") || starts(">")) return;
      if (!spaced) fail("no space before an attribute of <" + tag + ">");
      const std::string attribute = name();
      if (!seen.insert(attribute).second) fail(attribute + " twice in <" + tag + ">");
      skip_space();
      expect('=');
      skip_space();
      const char quote = more() ? text_[at_] : '\0';
      if (quote != '"' && quote != '\'') fail(attribute + " not quoted");
      ++at_;
      while (more() && text_[at_] != quote) {
        if (text_[at_] == '<') fail("< in an attribute");
        if (text_[at_] == '&') reference();
        else ++at_;
      }
      expect(quote);
    }
  }

  void element() {
    expect('<');
    const std::string tag = name();
    attributes(tag);
    if (starts("/>")) {
      at_ += 2;
      return;
    }
    expect('>');
    for (;;) {
      if (!more()) fail("<" + tag + "> not closed");
      if (starts("</")) {
        at_ += 2;
        const std::string closing = name();
        skip_space();
        expect('>');
        if (closing != tag) fail("<" + tag + "> closed by </" + closing + ">");
        return;
      }
      if (starts("<!--")) skip_past("-->");
      else if (text_[at_] == '<') element();
      else if (text_[at_] == '&') reference();
      else ++at_;
    }
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

std::string xml_error(std::string_view text) { return XmlCheck(text).error(); }

TEST(XmlCheck, RefusesWhatIsNotWellFormed) {
  EXPECT_EQ(xml_error("<!DOCTYPE html>\n<a x=\"1\"><b/>t &amp; &#181; &#xB5;<!-- c --></a>\n"), "");
  for (const char* bad : {"<a><b></a></b>", "<a>", "<a x=1/>", "<a x=\"1\" x=\"2\"/>", "<a>&nbsp;</a>", "<a>x < y</a>",
                          "<a>&</a>", "<a/><b/>", "<a>\x01</a>", "<a>\xff</a>", "<a x=\"<\"/>", "text"})
    EXPECT_NE(xml_error(bad), "") << bad;
}

// Every <svg>...</svg> of the page.
std::vector<std::string> svgs_of(const std::string& page) {
  std::vector<std::string> out;
  for (std::size_t at = page.find("<svg"); at != std::string::npos; at = page.find("<svg", at + 1)) {
    const std::size_t end = page.find("</svg>", at);
    if (end == std::string::npos) break;
    out.push_back(page.substr(at, end + 6 - at));
  }
  return out;
}

// The <g class="bar ..."> elements of a chart whose class says `mark` ("winner", "default").
std::vector<std::string> bars_marked(const std::string& svg, const std::string& mark) {
  std::vector<std::string> out;
  for (std::size_t at = svg.find("<g class=\"bar"); at != std::string::npos; at = svg.find("<g class=\"bar", at + 1)) {
    const std::string classes = svg.substr(at + 10, svg.find('"', at + 10) - at - 10);
    const std::string bar = svg.substr(at, svg.find("</g>", at) - at);
    if ((" " + classes + " ").find(" " + mark + " ") != std::string::npos) out.push_back(bar);
  }
  return out;
}

// ---- the database the page is of ----

ir::Problem msa_row(std::int64_t tokens) { return {ir::msa_row_attention(1, 2, tokens, 4, 32), ir::Direction::forward()}; }

tuning_db::ProblemRecord record_of(const ir::Problem& p) {
  return {ir::problem_key(p), ir::key_family(p), nlohmann::json(p).dump()};
}

tuning_db::DeviceRecord a100() {
  return {"nvidia", "NVIDIA A100-SXM4-80GB", "sm_80", 108, 40 << 20, 80LL << 30, 12040, "nvrtc 12.4"};
}

tuning_db::DeviceRecord cpu() { return {"cpu", "AMD EPYC 9654", "x86_64", 96, 0, 512LL << 30, 0, "mlir-cpu/abc"}; }

// The template generator's configurations of `p` for `target`, and its default there, as
// the tuner writes them.
std::vector<std::string> configs_of(const ir::Problem& p, const compiler::Target& target) {
  std::vector<std::string> out;
  for (const auto& config :
       compiler::EvoAttentionGenerator::space(std::get<ir::EvoAttention>(p.op), p.direction, target).configs())
    out.push_back(nlohmann::json(config).dump());
  return out;
}
std::string default_of(const ir::Problem& p, const compiler::Target& target) {
  return nlohmann::json(
             compiler::EvoAttentionGenerator::default_config(std::get<ir::EvoAttention>(p.op), p.direction, target))
      .dump();
}

// Markup as references, the one control character the fixture holds (U+0001) as its picture.
std::string escaped_as_the_page_does(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      case '\x01': out += "\u2401"; break;
      default: out += c;
    }
  }
  return out;
}

std::string label_of(const std::string& config_json) {
  return ir::to_string(nlohmann::json::parse(config_json).get<ir::TileConfig>());
}

class MfDbReport : public ::testing::Test {
 protected:
  // On the H200: a (every configuration of its space measured, the default the slowest, so
  // that the cap leaves it out but for the mark; one failed trial) and a problem whose key,
  // configuration and noise note hold markup, quotes and a control character. On an A100:
  // b, whose winner is the default. On a cpu: b, the MLIR generator's {} (the default) beside
  // the reference.
  void SetUp() override {
    const compiler::Target sm90{"sm_90a", 132, INT_MAX}, sm80{"sm_80", 108, INT_MAX};
    Database db = Database::open(path_);
    const auto configs = configs_of(msa_row(16), sm90);
    h200_default_ = default_of(msa_row(16), sm90);
    ASSERT_GT(configs.size(), kChartConfigurations + 2);
    double time = 10.0;
    for (const auto& config : configs) {
      const bool is_default = label_of(config) == label_of(h200_default_);
      const auto id = db.record_trial(h200(), a_, ok_trial(config, is_default ? 900.0 : time));
      if (h200_winner_.empty() && !is_default) {
        h200_winner_ = config;
        h200_winner_time_ = time;
        db.set_winner(id, {"exhaustive", std::int64_t(configs.size()), 0.05});
      }
      time += 0.5;
    }
    measured_ = configs.size();
    db.record_trial(h200(), a_, tuning_db::testing::failed_trial(configs[1], tuning_db::TrialStatus::kWrongResult));
    // The same configuration measured again, slower: the chart takes its fastest.
    db.record_trial(h200(), a_, ok_trial(h200_winner_, 55.0));

    const auto odd = db.record_trial(h200(), hostile_, ok_trial(kHostileConfig, 7.0));
    db.record_trial(h200(), hostile_, ok_trial(R"({"warps":8})", 5.0));
    db.set_winner(odd, {"descent", 2, -0.4, "noisy: <i>loud</i> & \"unsettled\""});

    a100_default_ = default_of(msa_row(64), sm80);
    const auto configs_80 = configs_of(msa_row(64), sm80);
    db.record_trial(a100(), b_, ok_trial(configs_80[0] == a100_default_ ? configs_80[1] : configs_80[0], 21.0));
    db.set_winner(db.record_trial(a100(), b_, ok_trial(a100_default_, 20.5)), {"descent", 2, 0.02});

    tuning_db::TrialRecord reference = ok_trial(R"({"generator":"reference"})", 40.0, "mlir-cpu/abc + reference/1");
    reference.generator = "reference";
    db.record_trial(cpu(), b_, reference);
    tuning_db::TrialRecord mlir = ok_trial("{}", 30.0, "mlir-cpu/abc + reference/1");
    mlir.generator = "mlir";
    db.set_winner(db.record_trial(cpu(), b_, mlir), {"exhaustive", 2, 0.33});
  }

  std::string page() {
    const Outcome run = mf_db_run({"--db", path_, "report", "--html", html_});
    EXPECT_EQ(run.status, 0) << run.err;
    // MF_DB_REPORT_KEEP=FILE keeps a copy of the page, to look at it (docs/tuning.md).
    if (const char* keep = std::getenv("MF_DB_REPORT_KEEP"))
      std::filesystem::copy_file(html_, keep, std::filesystem::copy_options::overwrite_existing);
    return read(html_);
  }

  static constexpr const char* kHostileKey = "v1;k=<script>alert(\"x\")</script>&'\x01";
  static constexpr const char* kHostileConfig = R"({"warps":4,"<b>":1,"generator":"x\u0001y"})";
  tuning_db::testing::ScratchDir dir_;
  std::string path_ = dir_.file("tuning.db"), html_ = dir_.file("report.html");
  const tuning_db::ProblemRecord a_ = record_of(msa_row(16)), b_ = record_of(msa_row(64));
  const tuning_db::ProblemRecord hostile_ = tuning_db::testing::problem(kHostileKey);
  std::string h200_default_, h200_winner_, a100_default_;
  double h200_winner_time_ = 0.0;
  std::size_t measured_ = 0;
};

TEST_F(MfDbReport, WritesOnePageOfEveryDevicesWinnersAndTheirCharts) {
  const Outcome run = mf_db_run({"--db", path_, "report", "--html", html_});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "wrote " + html_ + ": 4 winners on 3 devices\n");
  const std::string html = page();

  // Well-formed, and self-contained: nothing fetched, nothing run.
  EXPECT_EQ(xml_error(html), "");
  for (const char* outside : {"<script", "<link", "src=", "url(", "@import", "https:", "href=\"http"})
    EXPECT_THAT(html, Not(HasSubstr(outside))) << outside;
  EXPECT_EQ(count(html, "http://"), count(html, "xmlns=\"http://www.w3.org/2000/svg\""));

  // The table: every winner once, every key escaped; the hostile one's text never as markup.
  EXPECT_EQ(count(html, "<tr><td>"), 4u);
  for (const auto& w : Database::open(path_, {tuning_db::Mode::kReadOnly}).winners())
    EXPECT_THAT(html, HasSubstr(">" + escaped_as_the_page_does(w.key) + "</a>")) << w.key;
  EXPECT_THAT(html, HasSubstr(">v1;k=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;\u2401</a>"));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, HasSubstr(">generator=x\u2401y,&lt;b&gt;=1,warps=4</code>"));
  EXPECT_THAT(html, HasSubstr("noisy: &lt;i&gt;loud&lt;/i&gt; &amp; &quot;unsettled&quot;"));
  EXPECT_THAT(html, HasSubstr("NVIDIA H200 sm_90 (nvidia, 132 multiprocessors, driver 13000, nvrtc 13.0)"));
  EXPECT_THAT(html, HasSubstr("NVIDIA A100-SXM4-80GB sm_80"));
  EXPECT_THAT(html, HasSubstr("AMD EPYC 9654 x86_64"));
  EXPECT_THAT(html, HasSubstr("<td class=\"num\">-40.0 %</td>"));
  // The default's time: 900 us against the winner's 10 us on the H200; the winner itself on the A100.
  EXPECT_THAT(html, HasSubstr(fmt::format("900.00 \u00b5s ({:.2f}&#215;)", 900.0 / h200_winner_time_)));
  EXPECT_THAT(html, HasSubstr("20.50 \u00b5s (1.00&#215;)"));

  // One chart a winner, each well-formed, with its legend and axis titles.
  const auto svgs = svgs_of(html);
  ASSERT_EQ(svgs.size(), 4u);
  for (const auto& svg : svgs) {
    EXPECT_EQ(xml_error(svg), "") << svg.substr(0, 300);
    EXPECT_THAT(svg, HasSubstr(">winner</text>"));
    EXPECT_THAT(svg, HasSubstr(">default configuration</text>"));
    EXPECT_THAT(svg, HasSubstr("time per configuration (\u00b5s)"));
    EXPECT_THAT(svg, HasSubstr(">configuration, fastest first</text>"));
    EXPECT_EQ(bars_marked(svg, "winner").size(), 1u) << svg.substr(0, 300);
  }
  // The charts in the table's order: the cpu ("AMD EPYC ..."), the A100, the H200's two.
  const std::string &cpu_chart = svgs[0], &a100_chart = svgs[1];
  const std::string& h200_chart = svgs[2].find("k=&lt;script") != std::string::npos ? svgs[3] : svgs[2];
  const std::string& hostile_chart = &h200_chart == &svgs[2] ? svgs[3] : svgs[2];

  // The H200's a: the 30 fastest, and the default (the slowest) marked; the winner's bar
  // holds its fastest measurement (10 us, not the later 55 us).
  EXPECT_EQ(count(h200_chart, "<g class=\"bar"), kChartConfigurations + 1);
  const auto winner = bars_marked(h200_chart, "winner"), default_bar = bars_marked(h200_chart, "default");
  ASSERT_EQ(default_bar.size(), 1u);
  EXPECT_THAT(winner[0], HasSubstr(">" + label_of(h200_winner_) + "</text>"));
  EXPECT_THAT(winner[0], HasSubstr(fmt::format("{:.2f} &#181;s  winner</text>", h200_winner_time_)));
  EXPECT_THAT(winner[0], HasSubstr("(2 measurements)"));
  EXPECT_THAT(default_bar[0], HasSubstr(">" + label_of(h200_default_) + "</text>"));
  EXPECT_THAT(default_bar[0], HasSubstr("900.00 &#181;s  default</text>"));
  EXPECT_THAT(html, HasSubstr(fmt::format("Showing {} of the {} configurations measured: the {} fastest",
                                          kChartConfigurations + 1, measured_, kChartConfigurations)));
  EXPECT_THAT(html, HasSubstr("1 failed trial not drawn: wrong_result 1."));

  // The A100's and the cpu's winner is the default: one bar, both marks, outlined.
  for (const std::string* chart : {&a100_chart, &cpu_chart}) {
    const auto both = bars_marked(*chart, "default");
    ASSERT_EQ(both.size(), 1u);
    EXPECT_EQ(both, bars_marked(*chart, "winner"));
    EXPECT_THAT(both[0], HasSubstr("winner = default</text>"));
    EXPECT_THAT(*chart, HasSubstr(">winner that is the default</text>"));
  }
  EXPECT_THAT(bars_marked(cpu_chart, "winner")[0], HasSubstr(">(no parameters)</text>"));
  EXPECT_THAT(cpu_chart, HasSubstr(">generator=reference</text>"));
  // A problem that is not an IR problem: no default to mark, and the page says why.
  EXPECT_TRUE(bars_marked(hostile_chart, "default").empty());
  EXPECT_THAT(html, HasSubstr("The default configuration of this device is not known from the record."));
}

TEST_F(MfDbReport, ReplacesAnExistingPageWholeKeepingItsPermissions) {
  std::ofstream(html_) << "the old page";
  ASSERT_EQ(::chmod(html_.c_str(), 0640), 0);
  const std::string html = page();
  EXPECT_THAT(html, HasSubstr("<!DOCTYPE html>"));
  EXPECT_THAT(html, HasSubstr("</html>\n"));
  EXPECT_EQ(std::filesystem::status(html_).permissions(),
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write | std::filesystem::perms::group_read);
  EXPECT_THAT(hidden_files(dir_.path()), ::testing::IsEmpty());
}

TEST_F(MfDbReport, AnEmptyDatabaseHasAPageSayingSo) {
  const auto empty = dir_.file("empty.db");
  Database::open(empty);
  const Outcome run = mf_db_run({"--db", empty, "report", "--html", html_});
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.out, "wrote " + html_ + ": 0 winners on 0 devices\n");
  const std::string html = read(html_);
  EXPECT_EQ(xml_error(html), "");
  EXPECT_THAT(html, HasSubstr("No winners"));
  EXPECT_TRUE(svgs_of(html).empty());
}

// The report opens the database read-only: a database of an older schema stays at it (a
// read-write open would migrate it).
TEST_F(MfDbReport, OpensTheDatabaseReadOnly) {
  const auto old = dir_.file("version2.db");
  Database::open(old, {tuning_db::Mode::kReadWrite, 5000, 8, 2});
  ASSERT_EQ(mf_db_run({"--db", old, "report", "--html", html_}).status, 0);
  EXPECT_EQ(Database::open(old, {tuning_db::Mode::kReadOnly}).schema_version(), 2);
}

TEST_F(MfDbReport, BadArgumentsGetAReasonAndAStatus) {
  Outcome run = mf_db_run({"--db", path_, "report"});
  EXPECT_EQ(run.status, 2);
  EXPECT_THAT(run.err, HasSubstr("mf-db: report: give --html FILE"));
  EXPECT_THAT(run.err, HasSubstr("report --html FILE"));  // the usage
  EXPECT_THAT(mf_db_run({"--db", path_, "report", "--html"}).err, HasSubstr("report: --html needs a file"));
  run = mf_db_run({"--db", path_, "report", "--pdf", html_});
  EXPECT_EQ(run.status, 2);
  EXPECT_THAT(run.err, HasSubstr("report: unknown argument --pdf"));
  EXPECT_EQ(mf_db_run({"--db", path_, "report", "--html", html_, "--html", html_}).status, 2);
  run = mf_db_run({"--db", path_, "report", "--html", path_});  // a page over the database: refused
  EXPECT_EQ(run.status, 2);
  EXPECT_THAT(run.err, HasSubstr("report: --html " + path_ + " is the tuning database itself"));
  EXPECT_EQ(Database::open(path_, {tuning_db::Mode::kReadOnly}).winners().size(), 4u);
  EXPECT_FALSE(std::filesystem::exists(html_));

  // The database: missing, or not one.
  run = mf_db_run({"--db", dir_.file("none.db"), "report", "--html", html_});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("no tuning database at " + dir_.file("none.db")));
  std::ofstream(dir_.file("notes.db")) << "plain text, not a database at all, long enough to be read";
  run = mf_db_run({"--db", dir_.file("notes.db"), "report", "--html", html_});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("file is not a database"));
  EXPECT_FALSE(std::filesystem::exists(html_));

  // The page's place: a folder that does not exist, a folder itself.
  const auto nowhere = dir_.file("no/such/folder/report.html");
  run = mf_db_run({"--db", path_, "report", "--html", nowhere});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("report: --html " + nowhere + ": cannot write " + nowhere +
                                 ": cannot create a temporary file in " + dir_.file("no/such/folder") +
                                 ": No such file or directory"));
  std::filesystem::create_directory(dir_.file("folder"));
  run = mf_db_run({"--db", path_, "report", "--html", dir_.file("folder")});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("report: --html " + dir_.file("folder") + ": cannot write"));
  EXPECT_THAT(hidden_files(dir_.path()), ::testing::IsEmpty());
}

// Text the page cannot show (mfjit writes none): refused as export refuses it, and the page
// that was there stays.
TEST_F(MfDbReport, RefusesADatabaseOfTextThatIsNotUtf8) {
  {
    tuning_db::DeviceRecord odd = h200();
    odd.name = "NVIDIA \xff";
    Database db = Database::open(path_);
    db.set_winner(db.record_trial(odd, a_, ok_trial(h200_winner_, 3.0)), {"exhaustive", 1, 0.0});
  }
  std::ofstream(html_) << "the old page";
  const Outcome run = mf_db_run({"--db", path_, "report", "--html", html_});
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("report: the tuning database " + path_ +
                                 " holds text that is not UTF-8: the file is damaged or was written by something else"));
  EXPECT_EQ(read(html_), "the old page");
}

// A folder the page cannot be written into: the old page stays, nothing is left beside it.
// Permissions do not bind root, so there the test skips; the next one injects a write
// failure that binds everyone.
TEST_F(MfDbReport, LeavesTheExistingPageWhenItsFolderIsReadOnly) {
  const auto folder = dir_.path() / "pages";
  std::filesystem::create_directory(folder);
  const std::string html = (folder / "report.html").string();
  std::ofstream(html) << "the old page";
  ASSERT_EQ(::chmod(folder.c_str(), 0555), 0);
  const bool binds = ::access(folder.c_str(), W_OK) != 0;
  Outcome run{};
  if (binds) run = mf_db_run({"--db", path_, "report", "--html", html});
  ::chmod(folder.c_str(), 0755);
  if (!binds) GTEST_SKIP() << "permissions do not bind this user (root): see LeavesTheExistingPageWhenAWriteFails";
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("report: --html " + html + ": cannot write " + html +
                                 ": cannot create a temporary file in " + folder.string() + ": Permission denied"));
  EXPECT_EQ(read(html), "the old page");
  EXPECT_THAT(hidden_files(folder), ::testing::IsEmpty());
}

// A write that fails part way through the page (the file-size limit: EFBIG, as a full disk
// gives ENOSPC): the old page stays whole and the partial one is removed.
TEST_F(MfDbReport, LeavesTheExistingPageWhenAWriteFails) {
  std::ofstream(html_) << "the old page";
  // An open connection keeps SQLite's shared-memory file in place, so that the limit
  // catches the page's write and not the database's.
  const Database keep = Database::open(path_, {tuning_db::Mode::kReadOnly});
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &before), 0);
  rlimit small = before;
  small.rlim_cur = 4096;
  const auto previous = std::signal(SIGXFSZ, SIG_IGN);  // else the process dies at the limit
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const Outcome run = mf_db_run({"--db", path_, "report", "--html", html_});
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, previous);
  EXPECT_EQ(run.status, 1);
  EXPECT_THAT(run.err, HasSubstr("report: --html " + html_ + ": cannot write " + html_ + ": cannot write "));
  EXPECT_THAT(run.err, HasSubstr("File too large"));
  EXPECT_EQ(read(html_), "the old page");
  EXPECT_THAT(hidden_files(dir_.path()), ::testing::IsEmpty());
}

}  // namespace
}  // namespace mf::tools
