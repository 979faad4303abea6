/*
 * The kvm-accel object: QEMU's and seoib's properties, frozen after init,
 * and the read-only record of the policy decision.
 */
#include "accel/kvm/kvm-accel.h"

#include "system/builtin-types.h"
#include "system/vl.h"
#include "system/vm.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

std::unique_ptr<sysemu::Vm> build(std::vector<std::string_view> args)
{
    auto cl = sysemu::parse_command_line(args);
    if (!cl) {
        ADD_FAILURE() << cl.error().message();
        return nullptr;
    }
    auto vm = sysemu::build_vm(cl.value(), sysemu::builtin_type_registry());
    if (!vm) {
        ADD_FAILURE() << vm.error().message();
        return nullptr;
    }
    return std::move(vm.value());
}

TEST(KVMAccel, PolicyDecisionIsReadableAfterInit)
{
    auto vm = build({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_TRUE(vm);
    EXPECT_EQ(vm->accel().get_property("seoib-effective-policy").value(),
              qapi::QObject("respected"));
    EXPECT_EQ(vm->accel().get_property("x2apic-api-flags").value(),
              qapi::QObject(4));
    EXPECT_EQ(vm->accel().get_property("kernel-x2apic-api").value(),
              qapi::QObject(0xf));
    EXPECT_EQ(vm->accel().get_property("seoib-policy").value(),
              qapi::QObject("auto"));
}

TEST(KVMAccel, PropertiesAreFrozenOnceInitialised)
{
    auto vm = build({ "-M", "q35", "-accel", "kvm,kernel=model,kernel-irqchip=split" });
    ASSERT_TRUE(vm);
    auto r = vm->accel().parse_property("seoib-policy", "quirked");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "Cannot set properties after the accelerator has been initialized");
    EXPECT_EQ(vm->accel().get_property("seoib-policy").value(),
              qapi::QObject("auto"));
}

TEST(KVMAccel, DecisionPropertiesAreNotWritable)
{
    auto registry = sysemu::builtin_type_registry();
    qom::Context ctx(registry);
    auto accel = MUST(ctx.new_object(accel::kvm::TYPE_KVM_ACCEL));
    auto r = accel->parse_property("x2apic-api-flags", "4");
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().message(),
              "Property 'kvm-accel.x2apic-api-flags' is not writable");
}

TEST(KVMAccel, KernelChoiceIsValidatedWhenSet)
{
    auto registry = sysemu::builtin_type_registry();
    qom::Context ctx(registry);
    auto accel = MUST(ctx.new_object(accel::kvm::TYPE_KVM_ACCEL));
    EXPECT_TRUE(accel->parse_property("kernel", "model-6.1").has_value());
    EXPECT_TRUE(accel->parse_property("kernel", "host").has_value());
    EXPECT_FALSE(accel->parse_property("kernel", "windows").has_value());
    EXPECT_EQ(accel->get_property("kernel").value(), qapi::QObject("host"));
}

TEST(KVMAccel, UnsetIrqchipTakesTheMachinesDefault)
{
    auto v40 = build({ "-M", "pc-q35-4.0", "-accel", "kvm,kernel=model" });
    auto v110 = build({ "-M", "q35", "-accel", "kvm,kernel=model" });
    ASSERT_TRUE(v40 && v110);
    EXPECT_EQ(v40->accel().get_property("kernel-irqchip").value(),
              qapi::QObject("split"));
    EXPECT_EQ(v110->accel().get_property("kernel-irqchip").value(),
              qapi::QObject("on"));
}

} // namespace
