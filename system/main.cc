/*
 * seoib-vm: a small VMM with QEMU's command line.
 */
#include "system/vl.h"

#include <string_view>
#include <vector>

int main(int argc, char **argv)
{
    std::vector<std::string_view> args(argv + 1, argv + argc);
    return sysemu::vm_main(args);
}
