/*
 * Every QOM type seoib's programs know, registered in a fixed order.
 *
 * This replaces QEMU's type_init() constructor lists: nothing registers at
 * static-initialisation time, so the types are there exactly when a host
 * (seoib-vm, seoib-compat, a QEMU fork through the C API, a test) asks.
 */
#pragma once

#include "qom/type-registry.h"

#include <memory>

namespace sysemu {

/// Registers every type of the library into `registry`.
void register_builtin_types(qom::TypeRegistry &registry);

/// A new, finalized registry with every built-in type.
std::shared_ptr<const qom::TypeRegistry> builtin_type_registry();

} // namespace sysemu
