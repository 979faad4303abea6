#include "system/vl.h"
#include "system/vm.h"

#include <fmt/format.h>

namespace sysemu {

int run_vm(Vm &vm, const CommandLine &cl)
{
    if (!cl.qmp.empty()) {
        fmt::print(stderr, "{}: {}: not supported by this build yet\n",
                   PROGRAM_NAME, cl.qmp.front().second.text());
        return 1;
    }
    if (cl.start_stopped) {
        // With no monitor nobody could continue the VM.
        fmt::print("{}: machine {} built; stopped (-S)\n", PROGRAM_NAME,
                   vm.machine().machine_class().machine_name);
        return 0;
    }
    vm.print_report(stdout);
    return 0;
}

} // namespace sysemu
