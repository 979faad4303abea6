/*
 * The kvm accelerator object, "kvm-accel" (QEMU's KVMState).
 *
 * Properties, as QEMU names them where QEMU has them:
 *   kernel-irqchip  on|off|split; unset means the machine's default
 *   device          the KVM device node (default /dev/kvm)
 * and seoib's own:
 *   kernel          auto|host|model|model-PROFILE: the real kernel or the
 *                   kernel model (accel/kvm/kernel-model/)
 *   seoib-policy    auto|quirked|respected|not-advertised
 *   x-seoib-legacy  set by machine compat for machines <= 10.2, so that
 *                   seoib-policy=auto means quirked there
 * All are frozen once the accelerator is initialised.
 */
#pragma once

#include "accel/accel.h"
#include "qapi/qapi-types.h"

#include <optional>
#include <string>

namespace accel::kvm {

inline constexpr std::string_view TYPE_KVM_ACCEL = "kvm-accel";

class KVMAccel : public AccelState {
public:
    static constexpr std::string_view type_name = TYPE_KVM_ACCEL;
    using Parent = AccelState;
    using Class = AccelClass;

    static void class_init(AccelClass &ac);
    static void register_properties(qom::ObjectClass &oc);

    /// The kernel-irqchip the user asked for, if any.
    std::optional<qapi::OnOffSplit> requested_irqchip() const
    {
        return m_kernel_irqchip;
    }
    /// The irqchip mode in force: the request, else the machine's default.
    /// Valid after init_machine().
    qapi::OnOffSplit irqchip() const { return m_irqchip; }
    qapi::SeoibPolicy seoib_policy() const { return m_seoib_policy; }
    bool seoib_legacy() const { return m_seoib_legacy; }
    const std::string &kernel() const { return m_kernel; }
    std::string device() const
    {
        return m_device.empty() ? std::string("/dev/kvm") : m_device;
    }

protected:
    qapi::Result<void> do_init_machine(hw::MachineState &machine) override;

private:
    std::optional<qapi::OnOffSplit> m_kernel_irqchip;
    qapi::OnOffSplit m_irqchip { qapi::OnOffSplit::On };
    std::string m_device;
    std::string m_kernel { "auto" };
    qapi::SeoibPolicy m_seoib_policy { qapi::SeoibPolicy::Auto };
    bool m_seoib_legacy { false };
};

void kvm_accel_register_types(qom::TypeRegistry &registry);

} // namespace accel::kvm
