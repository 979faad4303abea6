/*
 * Load: 8 clients x 5,000 qom-get on one seoib-vm, at once.  Every reply
 * must arrive, in order, with its own id and the right value.  The rate is
 * printed for the record; nothing asserts on time.
 */
#include "tests/functional/qmp-harness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace {

using qapi::QObject;

constexpr int CLIENTS = 8;
constexpr int REQUESTS_PER_CLIENT = 5000;
/// Requests a client keeps in flight, so that the monitor, not the round
/// trip, sets the pace.
constexpr int WINDOW = 32;

struct ClientResult {
    int replies { 0 };
    /// The first reply that was not the expected one, if any.
    std::string first_mismatch;
};

std::string request_text(int client, int n)
{
    return R"({"execute": "qom-get", "arguments": )"
           R"({"path": "/machine/q35/ioapic", "property": "version"},)"
           R"( "id": ")" +
           std::to_string(client) + "-" + std::to_string(n) + "\"}\n";
}

ClientResult run_client(qmp_test::QmpClient &client, int index)
{
    ClientResult result;
    int sent = 0;
    for (; sent < WINDOW && sent < REQUESTS_PER_CLIENT; sent++) {
        client.send_raw(request_text(index, sent));
    }
    for (int n = 0; n < REQUESTS_PER_CLIENT; n++) {
        std::optional<QObject> reply = client.receive_response();
        if (!reply) {
            result.first_mismatch = "connection closed";
            return result;
        }
        QObject expected = QObject::dict();
        expected.set("return", QObject(32));
        expected.set("id", QObject(std::to_string(index) + "-" +
                                   std::to_string(n)));
        if (!(*reply == expected) && result.first_mismatch.empty()) {
            result.first_mismatch = qapi::to_json(*reply);
        }
        result.replies++;
        if (sent < REQUESTS_PER_CLIENT) {
            client.send_raw(request_text(index, sent++));
        }
    }
    return result;
}

TEST(QmpLoad, EightClientsGetEveryReplyInOrder)
{
    qmp_test::VmProcess vm;
    std::vector<qmp_test::QmpClient> clients;
    for (int i = 0; i < CLIENTS; i++) {
        clients.push_back(vm.connect());
        clients.back().negotiate();
    }
    std::vector<ClientResult> results(CLIENTS);

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int i = 0; i < CLIENTS; i++) {
        threads.emplace_back(
            [&, i] { results[i] = run_client(clients[i], i); });
    }
    for (std::thread &t : threads) {
        t.join();
    }
    const std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;

    int replies = 0;
    for (int i = 0; i < CLIENTS; i++) {
        EXPECT_EQ(results[i].replies, REQUESTS_PER_CLIENT) << "client " << i;
        EXPECT_EQ(results[i].first_mismatch, "") << "client " << i;
        replies += results[i].replies;
    }
    std::printf("qmp load: %d clients x %d qom-get: %d replies in %.3f s, "
                "%.0f replies/s\n",
                CLIENTS, REQUESTS_PER_CLIENT, replies, elapsed.count(),
                replies / elapsed.count());
}

} // namespace
