/*
 * The ioapic device's guest errors reach its Context's guest-error sink,
 * so an embedding host decides where they go.
 */
#include "hw/intc/ioapic.h"

#include "hw/core/qdev.h"
#include "qom/context.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

TEST(IOAPICDevice, GuestErrorsGoThroughTheContext)
{
    qom::Context ctx(qom::make_type_registry([](qom::TypeRegistry &r) {
        qdev::qdev_register_types(r);
        hw::intc::ioapic_register_types(r);
    }));
    std::vector<std::string> errors;
    ctx.set_guest_error_sink(
        [&](std::string_view msg) { errors.emplace_back(msg); });
    auto dev = MUST(ctx.new_object<hw::intc::IOAPICState>());
    ASSERT_TRUE(dev->realize().has_value());

    dev->mmio_read(0x00, 3);

    ASSERT_EQ(errors.size(), 1U);
    EXPECT_EQ(errors[0].rfind("ioapic: guest error: ", 0), 0U) << errors[0];
    EXPECT_NE(errors[0].find("read of invalid size 3"), std::string::npos)
        << errors[0];
}

} // namespace
