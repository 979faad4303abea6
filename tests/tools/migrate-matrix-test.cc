/*
 * seoib-compat migrate-matrix against the migration test's matrix
 * (tests/functional/migration-matrix.h): for every design-4.5 cell the tool,
 * running the real save and load in process, gives the answer the
 * two-process migration test expects.
 */
#include "qapi/qjson.h"
#include "tests/functional/migration-matrix.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <tuple>

namespace {

using namespace migration_matrix;

using Key = std::tuple<std::string, std::string, std::string, std::string, std::string>;

struct ToolCell {
    std::string result;
    std::string lvr;
};

const std::map<Key, ToolCell> &tool_cells()
{
    static const std::map<Key, ToolCell> cells = [] {
        std::map<Key, ToolCell> out;
        std::string cmd = std::string(SEOIB_COMPAT_PATH) +
                          " --format json migrate-matrix pc-q35-11.0 pc-q35-10.2";
        std::FILE *p = ::popen(cmd.c_str(), "r");
        std::string text;
        char buf[65536];
        for (size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) {
            text.append(buf, n);
        }
        int status = p ? ::pclose(p) : -1;
        EXPECT_EQ(status, 0);
        auto json = qapi::from_json(text);
        EXPECT_TRUE(json.has_value());
        if (!json) {
            return out;
        }
        const qapi::QObject *list = json.value().get("cells");
        EXPECT_NE(list, nullptr);
        static const qapi::QObject::List none;
        for (const qapi::QObject &c : list && list->as_list() ? *list->as_list() : none) {
            auto s = [&](const char *k) {
                const qapi::QObject *v = c.get(k);
                return v && v->as_string() ? *v->as_string() : std::string();
            };
            if (s("source-kernel") != "model") {
                continue;
            }
            out[{ s("machine"), s("ioapic"), s("source-policy"), s("destination-policy"),
                  s("destination-kernel") }] = { s("result"), s("lvr") };
        }
        return out;
    }();
    return cells;
}

std::string hex(int v)
{
    char b[8];
    std::snprintf(b, sizeof b, "0x%x", v);
    return b;
}

class MigrateMatrix : public ::testing::TestWithParam<Cell> {};

TEST_P(MigrateMatrix, ToolGivesTheMigrationTestsAnswer)
{
    const Cell &c = GetParam();
    Outcome expected = expected_outcome(c);
    auto it = tool_cells().find({ c.machine, hex(c.ioapic), policy_name(c.source),
                                  policy_name(c.destination), c.kernel });
    ASSERT_NE(it, tool_cells().end()) << "no such cell in the tool's output";

    EXPECT_EQ(it->second.result == "ok", expected.taken) << it->second.result;
    if (expected.taken) {
        EXPECT_EQ(it->second.lvr, expected.lvr == LVR_WITH_BIT24 ? "0x01050014" : "0x00050014");
    } else {
        EXPECT_EQ(it->second.result.rfind("refused: ", 0), 0U) << "a refusal says why";
    }
}

INSTANTIATE_TEST_SUITE_P(Design45, MigrateMatrix, ::testing::ValuesIn(matrix()),
                         [](const ::testing::TestParamInfo<Cell> &info) {
                             return cell_name(info.param);
                         });

} // namespace
