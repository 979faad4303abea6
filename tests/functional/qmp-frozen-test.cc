/*
 * What the SEOIB policy decided cannot be changed over QMP once the machine
 * is built: every property of every object in a live seoib-vm's QOM tree is
 * written with the values that could undo it, and afterwards every property
 * reads as before and query-seoib answers as before.
 */
#include "tests/functional/qmp-harness.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

using qapi::QObject;
using qmp_test::json;
using qmp_test::QmpClient;
using qmp_test::VmOptions;
using qmp_test::VmProcess;

struct PropertyRef {
    std::string path;
    std::string name;
    std::string type;
};

QObject path_args(const std::string &path)
{
    QObject args = QObject::dict();
    args.set("path", QObject(path));
    return args;
}

QObject property_args(const PropertyRef &p)
{
    QObject args = path_args(p.path);
    args.set("property", QObject(p.name));
    return args;
}

/// Every property of every object below `path` that is neither a child nor
/// a link, found with qom-list.
void list_properties(QmpClient &client, const std::string &path,
                     std::vector<PropertyRef> &out)
{
    const QObject response = client.execute("qom-list", path_args(path));
    const QObject *ret = response.get("return");
    ASSERT_TRUE(ret && ret->as_list()) << qapi::to_json(response);
    for (const QObject &entry : *ret->as_list()) {
        const std::string name = *entry.get("name")->as_string();
        const std::string type = *entry.get("type")->as_string();
        if (type.starts_with("child<")) {
            list_properties(client, path == "/" ? "/" + name : path + "/" + name,
                            out);
        } else if (!type.starts_with("link<")) {
            out.push_back({ path, name, type });
        }
    }
}

/// The readable properties and their values.
std::map<std::pair<std::string, std::string>, QObject>
read_all(QmpClient &client, const std::vector<PropertyRef> &props)
{
    std::map<std::pair<std::string, std::string>, QObject> values;
    for (const PropertyRef &p : props) {
        const QObject response = client.execute("qom-get", property_args(p));
        if (const QObject *ret = response.get("return")) {
            values[{ p.path, p.name }] = *ret;
        }
    }
    return values;
}

/// The values that would change what the policy decided, whatever the
/// property's type: both booleans, the two IOAPIC versions and 0, and every
/// word of the irqchip, policy and kernel vocabularies.
std::vector<QObject> hostile_values(const std::string &type)
{
    if (type == "bool") {
        return { QObject(false), QObject(true) };
    }
    if (type.starts_with("uint") || type.starts_with("int")) {
        return { QObject(int64_t { 0x11 }), QObject(int64_t { 0x20 }),
                 QObject(int64_t { 0 }), QObject(int64_t { 255 }) };
    }
    std::vector<QObject> values;
    for (const char *word : { "off", "on", "split", "auto", "quirked",
                              "respected", "not-advertised", "host", "model",
                              "model-6.1", "" }) {
        values.emplace_back(word);
    }
    return values;
}

void expect_frozen(const VmOptions &options)
{
    VmProcess vm(options);
    QmpClient client = vm.connect();
    client.negotiate();

    const QObject seoib_before = client.execute("query-seoib");
    ASSERT_NE(seoib_before.get("return"), nullptr) << qapi::to_json(seoib_before);
    std::vector<PropertyRef> props;
    list_properties(client, "/", props);
    ASSERT_FALSE(props.empty());
    const auto values_before = read_all(client, props);

    for (const PropertyRef &p : props) {
        for (const QObject &value : hostile_values(p.type)) {
            QObject args = property_args(p);
            args.set("value", value);
            const QObject response = client.execute("qom-set", args);
            if (response.get("return")) {
                // Accepted only where it changes nothing: realizing what is
                // realized, or writing the value the property already has.
                auto it = values_before.find({ p.path, p.name });
                ASSERT_NE(it, values_before.end());
                EXPECT_EQ(it->second, value)
                    << p.path << " " << p.name << " accepted "
                    << qapi::to_json(value);
            } else {
                EXPECT_NE(response.get("error"), nullptr)
                    << qapi::to_json(response);
            }
        }
    }

    EXPECT_EQ(read_all(client, props), values_before);
    EXPECT_EQ(client.execute("query-seoib"), seoib_before);
    // And the guest runs with what was decided.
    EXPECT_NE(client.execute("cont").get("return"), nullptr);
    EXPECT_EQ(client.execute("query-seoib"), seoib_before);
}

TEST(QmpFrozen, UnrealizingTheIOAPICIsRefusedAndChangesNothing)
{
    VmProcess vm;
    QmpClient client = vm.connect();
    client.negotiate();
    const QObject seoib_before = client.execute("query-seoib");

    const QObject refused = client.execute(
        "qom-set", json(R"({"path": "/machine/q35/ioapic",
                           "property": "realized", "value": false})"));
    EXPECT_EQ(refused,
              json(R"({"error": {"class": "GenericError", "desc":
                   "Device 'ioapic' does not support hotplugging"}})"));
    EXPECT_EQ(client.execute("qom-get",
                             json(R"({"path": "/machine/q35/ioapic",
                                      "property": "realized"})")),
              json(R"({"return": true})"));
    const QObject version = client.execute(
        "qom-set", json(R"({"path": "/machine/q35/ioapic",
                           "property": "version", "value": 17})"));
    EXPECT_NE(version.get("error"), nullptr) << qapi::to_json(version);
    EXPECT_EQ(client.execute("qom-get",
                             json(R"({"path": "/machine/q35/ioapic",
                                      "property": "version"})")),
              json(R"({"return": 32})"));
    EXPECT_EQ(client.execute("query-seoib"), seoib_before);
}

TEST(QmpFrozen, NoWriteChangesWhatThePolicyDecidedOnTheModel)
{
    expect_frozen({});
}

TEST(QmpFrozen, NoWriteChangesWhatThePolicyDecidedWithAnIOAPIC0x11)
{
    expect_frozen({ .extra_args = { "-global", "ioapic.version=0x11" } });
}

TEST(QmpFrozen, NoWriteChangesWhatThePolicyDecidedOnALegacyMachine)
{
    expect_frozen({ .extra_args = { "-M", "pc-q35-10.2" } });
}

TEST(QmpFrozen, NoWriteChangesWhatThePolicyDecidedWithATestDevice)
{
    expect_frozen({ .extra_args = { "-device", "seoib-testdev,pin=10" } });
}

TEST(QmpFrozen, NoWriteChangesWhatThePolicyDecidedOnI440FX)
{
    expect_frozen({ .extra_args = { "-M", "pc" } });
}

TEST(QmpFrozen, NoWriteChangesWhatThePolicyDecidedOnTheHost)
{
    if (!qmp_test::host_kvm_available()) {
        GTEST_SKIP() << "/dev/kvm cannot be opened";
    }
    expect_frozen({ .accel = std::string(qmp_test::HOST_ACCEL) });
}

} // namespace
