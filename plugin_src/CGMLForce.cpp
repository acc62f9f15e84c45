/* openmm-cgml: CGMLForce and its CustomCPPForceImpl. */

#include "CGMLForce.h"
#include "TorchSupport.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/internal/CustomCPPForceImpl.h"
#include <cmath>
#include <fstream>
#include <sstream>

using namespace OpenMM;
using namespace std;

namespace OpenMMCGML {

static const char* OWNER = "CGMLForce";
static const char* FORWARD_SIGNATURE = "forward(positions[N,3], box[3,3]) -> energy (scalar, kJ/mol)";

static int optionalNumParticles(const torch::jit::Module& module) {
    if (!module.hasattr("num_particles"))
        return -1;
    return (int) intAttribute(module, "num_particles", OWNER);
}

CGMLForce::CGMLForce(const string& bytes) : modelBytes(bytes), periodic(false) {
    torch::jit::Module module = loadTorchScript(modelBytes, OWNER);
    checkForwardArguments(module, 2, OWNER, FORWARD_SIGNATURE);
    precision = moduleDtype(module, OWNER) == at::kDouble ? "float64" : "float32";
    numParticles = optionalNumParticles(module);
}

CGMLForce* CGMLForce::fromFile(const string& path) {
    return new CGMLForce(readFileBytes(path, OWNER));
}

const string& CGMLForce::getModelBytes() const {
    return modelBytes;
}

const string& CGMLForce::getPrecision() const {
    return precision;
}

int CGMLForce::getNumParticles() const {
    return numParticles;
}

void CGMLForce::setUsesPeriodicBoundaryConditions(bool p) {
    periodic = p;
}

bool CGMLForce::usesPeriodicBoundaryConditions() const {
    return periodic;
}

class CGMLForceImpl : public CustomCPPForceImpl {
public:
    CGMLForceImpl(const CGMLForce& owner) : CustomCPPForceImpl(owner), owner(owner), device(torch::kCPU) {
    }
    const CGMLForce& getOwner() const override {
        return owner;
    }
    void initialize(ContextImpl& context) override {
        CustomCPPForceImpl::initialize(context);
        module = loadTorchScript(owner.getModelBytes(), OWNER);
        dtype = owner.getPrecision() == "float64" ? at::kDouble : at::kFloat;
        int n = owner.getNumParticles();
        if (n >= 0 && n != context.getSystem().getNumParticles())
            throw OpenMMException("CGMLForce: the energy model was exported for " + to_string(n) +
                                  " particles but the System has " + to_string(context.getSystem().getNumParticles()) +
                                  ". Build the System from the bead mapping the model was exported for.");
        prepared = false;
    }
    double computeForce(ContextImpl& context, const vector<Vec3>& positions, vector<Vec3>& forces) override {
        if (!prepared) {
            device = deviceForContext(context, OWNER);
            module.to(device);
            prepared = true;
        }
        const int n = (int) positions.size();
        if ((int) forces.size() != n)
            forces.resize(n);
        torch::AutoGradMode gradMode(true);
        at::Tensor pos = torch::from_blob((void*) positions.data(), {n, 3}, torch::kDouble)
                             .to(device, dtype, false, true).requires_grad_(true);
        at::Tensor box = torch::zeros({3, 3}, torch::kDouble);
        if (owner.usesPeriodicBoundaryConditions()) {
            Vec3 a, b, c;
            context.getPeriodicBoxVectors(a, b, c);
            double* p = box.data_ptr<double>();
            for (int d = 0; d < 3; d++) {
                p[d] = a[d];
                p[3 + d] = b[d];
                p[6 + d] = c[d];
            }
        }
        box = box.to(device, dtype);
        at::Tensor energy, grad;
        try {
            c10::IValue out = module.forward({pos, box});
            if (!out.isTensor())
                throw OpenMMException("CGMLForce: the energy model returned " + string(out.tagKind()) +
                                      " instead of a scalar energy tensor (kJ/mol).");
            energy = out.toTensor();
            if (energy.numel() != 1)
                throw OpenMMException("CGMLForce: the energy model must return one number (kJ/mol), "
                                      "but returned a tensor with " + to_string(energy.numel()) + " elements.");
            energy = energy.reshape({}).to(torch::kDouble);
            if (energy.requires_grad()) {
                energy.backward();
                grad = pos.grad();
            }
        }
        catch (const c10::Error& e) {
            throw OpenMMException("CGMLForce: the energy model failed: " + torchMessage(e));
        }
        catch (const OpenMMException&) {
            throw;
        }
        catch (const std::exception& e) {
            throw OpenMMException("CGMLForce: the energy model failed: " + shortMessage(e.what()));
        }
        double e = energy.item<double>();
        if (std::isnan(e))
            throw OpenMMException("CGMLForce: the energy model returned NaN (step " +
                                  to_string(context.getStepCount()) + ").");
        if (grad.defined()) {
            at::Tensor g = grad.to(torch::kCPU, torch::kDouble).contiguous();
            const double* p = g.data_ptr<double>();
            for (int i = 0; i < n; i++)
                forces[i] = Vec3(-p[3 * i], -p[3 * i + 1], -p[3 * i + 2]);
        }
        else {
            for (int i = 0; i < n; i++)
                forces[i] = Vec3();
        }
        return e;
    }

private:
    const CGMLForce& owner;
    torch::jit::Module module;
    at::ScalarType dtype = at::kFloat;
    torch::Device device;
    bool prepared = false;
};

ForceImpl* CGMLForce::createImpl() const {
    return new CGMLForceImpl(*this);
}

} // namespace OpenMMCGML
