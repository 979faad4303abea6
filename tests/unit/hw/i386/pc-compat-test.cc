#include "hw/core/machine-compat.h"
#include "hw/i386/pc-compat.h"

#include "compat-test-helpers.h"

#include <gtest/gtest.h>

#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace expected {

// Name the array in failure messages instead of dumping its bytes.
void PrintTo(const Array &array, std::ostream *os)
{
    *os << array.name;
}

} // namespace expected

namespace {

struct ProductArray {
    std::string_view name;
    std::span<const qom::CompatProperty> entries;
};

// Every QEMU array the product carries, under its QEMU name, in the
// reference's order.  Kept by hand: the test below proves it names exactly
// the reference's arrays, so an array added to either side shows up.
const ProductArray product_arrays[] = {
    { "pc_q35_compat_defaults", hw::pc_q35_compat_defaults },
    { "pc_piix_compat_defaults", hw::pc_piix_compat_defaults },
    { "hw_compat_10_2", hw::hw_compat_10_2 },
    { "hw_compat_10_1", hw::hw_compat_10_1 },
    { "hw_compat_10_0", hw::hw_compat_10_0 },
    { "hw_compat_9_2", hw::hw_compat_9_2 },
    { "hw_compat_9_1", hw::hw_compat_9_1 },
    { "hw_compat_9_0", hw::hw_compat_9_0 },
    { "hw_compat_8_2", hw::hw_compat_8_2 },
    { "hw_compat_8_1", hw::hw_compat_8_1 },
    { "hw_compat_8_0", hw::hw_compat_8_0 },
    { "hw_compat_7_2", hw::hw_compat_7_2 },
    { "hw_compat_7_1", hw::hw_compat_7_1 },
    { "hw_compat_7_0", hw::hw_compat_7_0 },
    { "hw_compat_6_2", hw::hw_compat_6_2 },
    { "hw_compat_6_1", hw::hw_compat_6_1 },
    { "hw_compat_6_0", hw::hw_compat_6_0 },
    { "hw_compat_5_2", hw::hw_compat_5_2 },
    { "hw_compat_5_1", hw::hw_compat_5_1 },
    { "hw_compat_5_0", hw::hw_compat_5_0 },
    { "hw_compat_4_2", hw::hw_compat_4_2 },
    { "hw_compat_4_1", hw::hw_compat_4_1 },
    { "hw_compat_4_0", hw::hw_compat_4_0 },
    { "hw_compat_3_1", hw::hw_compat_3_1 },
    { "hw_compat_3_0", hw::hw_compat_3_0 },
    { "hw_compat_2_12", hw::hw_compat_2_12 },
    { "hw_compat_2_11", hw::hw_compat_2_11 },
    { "hw_compat_2_10", hw::hw_compat_2_10 },
    { "hw_compat_2_9", hw::hw_compat_2_9 },
    { "hw_compat_2_8", hw::hw_compat_2_8 },
    { "pc_compat_10_2", hw::pc_compat_10_2 },
    { "pc_compat_10_1", hw::pc_compat_10_1 },
    { "pc_compat_10_0", hw::pc_compat_10_0 },
    { "pc_compat_9_2", hw::pc_compat_9_2 },
    { "pc_compat_9_1", hw::pc_compat_9_1 },
    { "pc_compat_9_0", hw::pc_compat_9_0 },
    { "pc_compat_8_2", hw::pc_compat_8_2 },
    { "pc_compat_8_1", hw::pc_compat_8_1 },
    { "pc_compat_8_0", hw::pc_compat_8_0 },
    { "pc_compat_7_2", hw::pc_compat_7_2 },
    { "pc_compat_7_1", hw::pc_compat_7_1 },
    { "pc_compat_7_0", hw::pc_compat_7_0 },
    { "pc_compat_6_2", hw::pc_compat_6_2 },
    { "pc_compat_6_1", hw::pc_compat_6_1 },
    { "pc_compat_6_0", hw::pc_compat_6_0 },
    { "pc_compat_5_2", hw::pc_compat_5_2 },
    { "pc_compat_5_1", hw::pc_compat_5_1 },
    { "pc_compat_5_0", hw::pc_compat_5_0 },
    { "pc_compat_4_2", hw::pc_compat_4_2 },
    { "pc_compat_4_1", hw::pc_compat_4_1 },
    { "pc_compat_4_0", hw::pc_compat_4_0 },
    { "pc_compat_3_1", hw::pc_compat_3_1 },
    { "pc_compat_3_0", hw::pc_compat_3_0 },
    { "pc_compat_2_12", hw::pc_compat_2_12 },
    { "pc_compat_2_11", hw::pc_compat_2_11 },
    { "pc_compat_2_10", hw::pc_compat_2_10 },
    { "pc_compat_2_9", hw::pc_compat_2_9 },
    { "pc_compat_2_8", hw::pc_compat_2_8 },
};

std::span<const qom::CompatProperty> product_array(std::string_view name)
{
    for (const ProductArray &array : product_arrays) {
        if (array.name == name) {
            return array.entries;
        }
    }
    return {};
}

std::vector<std::string_view> product_array_names()
{
    std::vector<std::string_view> names;
    for (const ProductArray &array : product_arrays) {
        names.push_back(array.name);
    }
    return names;
}

std::vector<std::string_view> reference_array_names()
{
    std::vector<std::string_view> names;
    for (const expected::Array &array : expected::arrays) {
        names.push_back(array.name);
    }
    return names;
}

TEST(CompatArrays, ProductCarriesExactlyTheReferenceArrays)
{
    EXPECT_EQ(product_array_names(), reference_array_names());
}

using CompatArray = testing::TestWithParam<expected::Array>;

TEST_P(CompatArray, EntriesMatchReferenceInOrder)
{
    EXPECT_EQ(compat_test::rows(product_array(GetParam().name)),
              compat_test::rows(GetParam().entries));
}

INSTANTIATE_TEST_SUITE_P(
    Reference, CompatArray, testing::ValuesIn(expected::arrays),
    [](const testing::TestParamInfo<expected::Array> &info) {
        return std::string(info.param.name);
    });

TEST(SeoibCompat, HoldsOnlyTheKvmAccelLegacyEntry)
{
    const std::vector<compat_test::Row> expected_rows {
        { "kvm-accel", "x-seoib-legacy", "on", false },
    };

    EXPECT_EQ(compat_test::rows(hw::seoib_compat_10_2), expected_rows);
}

} // namespace
