#include "accel/kvm/linux/run-watchdog.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>

namespace accel::kvm::host {

namespace {

int watchdog_signal()
{
    return SIGRTMIN;
}

void watchdog_fired(int, siginfo_t *info, void *)
{
    auto *run = static_cast<kvm_run *>(info->si_value.sival_ptr);
    if (run != nullptr) {
        std::atomic_ref<uint8_t>(run->immediate_exit)
            .store(1, std::memory_order_relaxed);
    }
}

qapi::Result<void> install_watchdog_handler()
{
    static std::once_flag once;
    static int install_errno = 0;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_sigaction = watchdog_fired;
        // No SA_RESTART: KVM_RUN must come back with EINTR.
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        if (sigaction(watchdog_signal(), &action, nullptr) < 0) {
            install_errno = errno;
        }
    });
    if (install_errno != 0) {
        return qapi::Error::from_errno(install_errno, "sigaction(SIGRTMIN)");
    }
    return {};
}

} // namespace

qapi::Result<void> RunWatchdog::create_for_current_thread(kvm_run *run)
{
    reset();
    TRY(install_watchdog_handler());
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, watchdog_signal());
    int err = pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
    if (err != 0) {
        return qapi::Error::from_errno(err, "pthread_sigmask(SIGRTMIN)");
    }
    sigevent event {};
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = watchdog_signal();
    event.sigev_value.sival_ptr = run;
    // glibc 2.36 has no sigev_notify_thread_id spelling for this field.
    event._sigev_un._tid = gettid();
    timer_t timer;
    if (timer_create(CLOCK_MONOTONIC, &event, &timer) < 0) {
        return qapi::Error::from_errno(errno, "timer_create");
    }
    m_timer = timer;
    m_tid = gettid();
    return {};
}

bool RunWatchdog::targets_current_thread() const
{
    return m_timer.has_value() && m_tid == gettid();
}

qapi::Result<void> RunWatchdog::arm(std::chrono::nanoseconds timeout)
{
    itimerspec spec {};
    spec.it_value.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    if (timer_settime(*m_timer, 0, &spec, nullptr) < 0) {
        return qapi::Error::from_errno(errno, "timer_settime");
    }
    return {};
}

void RunWatchdog::disarm()
{
    itimerspec spec {};
    // Cannot fail for a valid timer and a zero value.
    timer_settime(*m_timer, 0, &spec, nullptr);
}

void RunWatchdog::reset()
{
    if (m_timer.has_value()) {
        timer_delete(*m_timer);
        m_timer.reset();
    }
}

} // namespace accel::kvm::host
