/*
 * Printing a run of the built-in guest (system/guest-run.h) as seoib-vm
 * reports it, apart from the run loop so the wording can change without
 * touching the loop.
 */
#pragma once

#include "system/guest-run.h"

#include <cstdio>

namespace sysemu {

/// The report as seoib-vm prints it: the LVR and SVR the guest saw and the
/// per-event counts (one line when every event counted the same).
void print_guest_run_report(std::FILE *out, const GuestRunReport &report);

} // namespace sysemu
