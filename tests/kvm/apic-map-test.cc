/*
 * Aliased xAPIC IDs and KVM_SIGNAL_MSI delivery: the APIC-map rule of
 * "KVM: x86: Honor architectural behavior for aliased 8-bit APIC IDs".
 *
 * Two vCPUs stay in xAPIC mode (where the APIC ID is writable) and get the
 * same xAPIC ID through KVM_SET_LAPIC.  Without 32-bit IDs the kernel
 * disables its optimised map and delivers to every alias, as the
 * architecture says; with 32-bit IDs (or before that change) its hotplug
 * hack keeps the map and only the first alias receives.  No vCPU runs: the
 * IRR read back with KVM_GET_LAPIC shows who accepted.
 */
#include "tests/kvm/kvm-harness.h"

#include <cerrno>
#include <utility>

namespace kvm_test {
namespace {

constexpr uint32_t ALIASED_XAPIC_ID = 3;
constexpr uint32_t UNUSED_XAPIC_ID = 9;
constexpr uint8_t MSI_VECTOR = 0x40;
constexpr uint32_t SVR_ENABLED = APIC_SPIV_APIC_ENABLED | 0xff;

class ApicMap : public BackendTest {
protected:
    /// A split-irqchip VM with vCPUs 0 and 1, both software-enabled xAPICs
    /// with xAPIC ID ALIASED_XAPIC_ID.
    void create_aliased_pair(bool use_32bit_ids)
    {
        auto test_vm = TestVm::create(system(), Irqchip::Split);
        ASSERT_TRUE(test_vm.has_value()) << test_vm.error().message();
        m_vm = test_vm.release_value();
        if (use_32bit_ids) {
            ASSERT_OK(m_vm->vm().enable_cap(
                Cap::X2apicApi, { KVM_X2APIC_API_USE_32BIT_IDS, 0, 0, 0 }));
        }
        for (uint32_t id : { 0U, 1U }) {
            auto vcpu = m_vm->add_vcpu(id);
            ASSERT_TRUE(vcpu.has_value()) << vcpu.error().message();
            m_vcpus[id] = vcpu.value();
            ASSERT_OK(set_apic_base(*m_vcpus[id], false));
            auto lapic = m_vcpus[id]->get_lapic();
            ASSERT_TRUE(lapic.has_value()) << lapic.error().message();
            // In xAPIC mode the ID is bits 31:24 and writable.
            lapic.value().set_reg(APIC_ID, ALIASED_XAPIC_ID << 24);
            lapic.value().set_reg(APIC_SPIV, SVR_ENABLED);
            ASSERT_OK(m_vcpus[id]->set_lapic(lapic.value()));
        }
    }

    qapi::Result<int> signal(uint32_t dest_id)
    {
        return m_vm->vm().signal_msi(fixed_msi(dest_id, MSI_VECTOR));
    }

    /// Whether vCPU 0 and vCPU 1 have MSI_VECTOR pending in their IRR.
    std::pair<bool, bool> irr_pending()
    {
        auto lapic0 = m_vcpus[0]->get_lapic();
        auto lapic1 = m_vcpus[1]->get_lapic();
        if (!lapic0.has_value() || !lapic1.has_value()) {
            ADD_FAILURE() << "KVM_GET_LAPIC failed";
            return { false, false };
        }
        return { lapic0.value().vector_bit(APIC_IRR, MSI_VECTOR),
                 lapic1.value().vector_bit(APIC_IRR, MSI_VECTOR) };
    }

    std::unique_ptr<TestVm> m_vm;
    Vcpu *m_vcpus[2] {};
};

TEST_P(ApicMap, AliasedIdWithout32BitIdsIsDeliveredToEveryAlias)
{
    ASSERT_NO_FATAL_FAILURE(create_aliased_pair(false));

    auto delivered = signal(ALIASED_XAPIC_ID);

    ASSERT_TRUE(delivered.has_value()) << delivered.error().message();
    EXPECT_EQ(delivered.value(), traits().hotplug_hack_always ? 1 : 2);
}

TEST_P(ApicMap, AliasedIdWithout32BitIdsSetsIrrOfEveryAlias)
{
    ASSERT_NO_FATAL_FAILURE(create_aliased_pair(false));

    ASSERT_OK(signal(ALIASED_XAPIC_ID));

    const std::pair<bool, bool> expected { true,
                                           !traits().hotplug_hack_always };
    EXPECT_EQ(irr_pending(), expected);
}

TEST_P(ApicMap, AliasedIdWith32BitIdsIsDeliveredToFirstAliasOnly)
{
    ASSERT_NO_FATAL_FAILURE(create_aliased_pair(true));

    auto delivered = signal(ALIASED_XAPIC_ID);

    ASSERT_TRUE(delivered.has_value()) << delivered.error().message();
    EXPECT_EQ(delivered.value(), 1);
}

TEST_P(ApicMap, AliasedIdWith32BitIdsSetsIrrOfFirstAliasOnly)
{
    ASSERT_NO_FATAL_FAILURE(create_aliased_pair(true));

    ASSERT_OK(signal(ALIASED_XAPIC_ID));

    EXPECT_EQ(irr_pending(), std::make_pair(true, false));
}

// With the optimised map disabled by aliasing, delivery takes the slow path,
// which answers -1 when no APIC matched; KVM_SIGNAL_MSI hands that -1 back as
// the ioctl's return value, which userspace sees as -1 with errno EPERM (1).
TEST_P(ApicMap, NoDestinationOnSlowPathIsEperm)
{
    ASSERT_NO_FATAL_FAILURE(create_aliased_pair(false));

    auto delivered = signal(UNUSED_XAPIC_ID);

    // Before the aliasing change the map stays enabled: the fast path finds
    // an empty slot and answers 0.
    EXPECT_EQ(errno_of(delivered), traits().hotplug_hack_always ? 0 : EPERM);
}

TEST_P(ApicMap, NoDestinationOnFastPathIsZero)
{
    ASSERT_NO_FATAL_FAILURE(create_aliased_pair(true));

    auto delivered = signal(UNUSED_XAPIC_ID);

    ASSERT_TRUE(delivered.has_value()) << delivered.error().message();
    EXPECT_EQ(delivered.value(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ApicMap, ::testing::ValuesIn(ALL_BACKENDS),
                         backend_param_name);

} // namespace
} // namespace kvm_test
