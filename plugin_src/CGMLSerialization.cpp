/* openmm-cgml: XmlSerializer proxies for CGMLIntegrator and CGMLForce.
 * They are registered when the shared library is loaded (static initializer) and again,
 * idempotently, by registerCGMLSerializationProxies(). */

#include "CGMLSerialization.h"
#include "CGMLForce.h"
#include "CGMLIntegrator.h"
#include "openmm/OpenMMException.h"
#include "openmm/serialization/SerializationNode.h"
#include "openmm/serialization/SerializationProxy.h"
#include <typeinfo>

using namespace OpenMM;
using namespace std;

namespace OpenMMCGML {

static const char* B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

string base64Encode(const string& in) {
    string out;
    out.reserve(((in.size() + 2) / 3) * 4);
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned v = ((unsigned char) in[i] << 16) | ((unsigned char) in[i + 1] << 8) | (unsigned char) in[i + 2];
        out += B64[(v >> 18) & 63];
        out += B64[(v >> 12) & 63];
        out += B64[(v >> 6) & 63];
        out += B64[v & 63];
    }
    if (i < in.size()) {
        unsigned v = (unsigned char) in[i] << 16;
        if (i + 1 < in.size())
            v |= (unsigned char) in[i + 1] << 8;
        out += B64[(v >> 18) & 63];
        out += B64[(v >> 12) & 63];
        out += (i + 1 < in.size()) ? B64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

string base64Decode(const string& in) {
    int table[256];
    for (int i = 0; i < 256; i++)
        table[i] = -1;
    for (int i = 0; i < 64; i++)
        table[(unsigned char) B64[i]] = i;
    string out;
    out.reserve(in.size() * 3 / 4);
    unsigned v = 0;
    int bits = 0;
    for (char ch : in) {
        if (ch == '=' || ch == '\n' || ch == '\r' || ch == ' ' || ch == '\t')
            continue;
        int d = table[(unsigned char) ch];
        if (d < 0)
            throw OpenMMException("CGML serialization: the embedded model is not valid base64.");
        v = (v << 6) | d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += (char) ((v >> bits) & 0xFF);
        }
    }
    return out;
}

class CGMLIntegratorProxy : public SerializationProxy {
public:
    CGMLIntegratorProxy() : SerializationProxy("CGMLIntegrator") {
    }
    void serialize(const void* object, SerializationNode& node) const override {
        const CGMLIntegrator& integrator = *reinterpret_cast<const CGMLIntegrator*>(object);
        node.setIntProperty("version", 1);
        node.setIntProperty("randomSeed", integrator.getRandomNumberSeed());
        node.setBoolProperty("usesPeriodicBox", integrator.getUsesPeriodicBox());
        node.setBoolProperty("useCudaGraphs", integrator.getUseCudaGraphs());
        node.setIntProperty("integrationForceGroups", integrator.getIntegrationForceGroups());
        node.setDoubleProperty("stepSize", integrator.getStepSize());
        node.setStringProperty("model", base64Encode(integrator.getModelBytes()));
    }
    void* deserialize(const SerializationNode& node) const override {
        int version = node.getIntProperty("version");
        if (version != 1)
            throw OpenMMException("CGMLIntegrator: unsupported serialization version " + to_string(version));
        CGMLIntegrator* integrator = new CGMLIntegrator(base64Decode(node.getStringProperty("model")));
        try {
            integrator->setRandomNumberSeed(node.getIntProperty("randomSeed"));
            integrator->setUsesPeriodicBox(node.getBoolProperty("usesPeriodicBox", false));
            integrator->setUseCudaGraphs(node.getBoolProperty("useCudaGraphs", true));
            integrator->setIntegrationForceGroups(node.getIntProperty("integrationForceGroups", 0xFFFFFFFF));
        }
        catch (...) {
            delete integrator;
            throw;
        }
        return integrator;
    }
};

class CGMLForceProxy : public SerializationProxy {
public:
    CGMLForceProxy() : SerializationProxy("CGMLForce") {
    }
    void serialize(const void* object, SerializationNode& node) const override {
        const CGMLForce& force = *reinterpret_cast<const CGMLForce*>(object);
        node.setIntProperty("version", 1);
        node.setIntProperty("forceGroup", force.getForceGroup());
        node.setStringProperty("name", force.getName());
        node.setBoolProperty("usesPeriodic", force.usesPeriodicBoundaryConditions());
        node.setStringProperty("model", base64Encode(force.getModelBytes()));
    }
    void* deserialize(const SerializationNode& node) const override {
        int version = node.getIntProperty("version");
        if (version != 1)
            throw OpenMMException("CGMLForce: unsupported serialization version " + to_string(version));
        CGMLForce* force = new CGMLForce(base64Decode(node.getStringProperty("model")));
        try {
            force->setForceGroup(node.getIntProperty("forceGroup", 0));
            force->setName(node.getStringProperty("name", force->getName()));
            force->setUsesPeriodicBoundaryConditions(node.getBoolProperty("usesPeriodic", false));
        }
        catch (...) {
            delete force;
            throw;
        }
        return force;
    }
};

void registerCGMLSerializationProxies() {
    static bool registered = false;
    if (registered)
        return;
    registered = true;
    SerializationProxy::registerProxy(typeid(CGMLIntegrator), new CGMLIntegratorProxy());
    SerializationProxy::registerProxy(typeid(CGMLForce), new CGMLForceProxy());
}

namespace {
struct ProxyRegistrar {
    ProxyRegistrar() {
        registerCGMLSerializationProxies();
    }
};
ProxyRegistrar registrar;
} // namespace

} // namespace OpenMMCGML
