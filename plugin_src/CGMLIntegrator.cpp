/* openmm-cgml: CGMLIntegrator implementation (see CGMLIntegrator.h). */

#include "CGMLIntegrator.h"
#include "TorchSupport.h"
#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include "openmm/internal/ContextImpl.h"
#include "openmm/kernels.h"
#include <ATen/CPUGeneratorImpl.h>
#ifdef CGML_CUDA_GRAPHS
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

using namespace OpenMM;
using namespace std;

namespace OpenMMCGML {

static const char* OWNER = "CGMLIntegrator";
static const char* FORWARD_SIGNATURE =
    "forward(history[k,N,3], noise[M,N,3], external_force[N,3], box[3,3]) -> next positions [N,3]";
static const int CHECKPOINT_VERSION = 1;

/** Everything that depends on libtorch or on the bound Context. */
class CGMLIntegratorState {
public:
    torch::jit::Module module;
    at::ScalarType dtype = at::kFloat;
    torch::Device device = torch::Device(torch::kCPU);
    bool prepared = false;
    bool periodic = false;
    bool hasForces = false;
    at::Generator generator;
    at::Tensor history;            // [k, N, 3] on device, dtype
    vector<Vec3> current;          // last frame in double, as written to the Context
    bool historyValid = false;
    bool ownWrite = false;         // set while the integrator writes positions/velocities itself
    bool checkpointLoaded = false; // a checkpoint restored the history; keep it if positions match
    VerletIntegrator* verlet = nullptr;
    Kernel verletKernel;
    // Per-step buffers, reused (pinned host memory when the module runs on CUDA).
    at::Tensor hostNoise, deviceNoise, hostForces, zeroForce, box, hostNext;
    Vec3 boxVectors[3];
    bool buffersReady = false;
    // CUDA-graph path (see CGMLIntegrator::getUseCudaGraphs): static inputs copied in before
    // each replay, the captured output, and how many ordinary calls were made so far.
    bool graphSafe = false;
    int graphWarmup = 0;
    string graphError;
    at::Tensor graphHistory, graphExternal, graphBox, graphOutput;
#ifdef CGML_CUDA_GRAPHS
    std::unique_ptr<at::cuda::CUDAGraph> graph;
#endif
    bool graphReady() const {
#ifdef CGML_CUDA_GRAPHS
        return graph != nullptr;
#else
        return false;
#endif
    }
    ~CGMLIntegratorState() {
        verletKernel = Kernel();
        delete verlet;
    }
};

CGMLIntegrator::CGMLIntegrator(const string& bytes) : modelBytes(bytes), randomSeed(0), usesPeriodicBox(false),
        useCudaGraphs(true), state(new CGMLIntegratorState()) {
    state->module = loadTorchScript(modelBytes, OWNER);
    checkForwardArguments(state->module, 4, OWNER, FORWARD_SIGNATURE);
    historyLength = (int) intAttribute(state->module, "history_length", OWNER);
    noiseDraws = (int) intAttribute(state->module, "noise_draws", OWNER);
    numParticles = (int) intAttribute(state->module, "num_particles", OWNER);
    timestep = floatAttribute(state->module, "timestep_ps", OWNER);
    state->dtype = moduleDtype(state->module, OWNER);
    state->graphSafe = state->module.hasattr("graph_safe") && intAttribute(state->module, "graph_safe", OWNER) != 0;
    if (historyLength < 1)
        throw OpenMMException("CGMLIntegrator: the module's history_length must be >= 1, found " + to_string(historyLength));
    if (noiseDraws < 0)
        throw OpenMMException("CGMLIntegrator: the module's noise_draws must be >= 0, found " + to_string(noiseDraws));
    if (numParticles < 1)
        throw OpenMMException("CGMLIntegrator: the module's num_particles must be >= 1, found " + to_string(numParticles));
    if (!(timestep > 0.0) || !std::isfinite(timestep))
        throw OpenMMException("CGMLIntegrator: the module's timestep_ps must be a positive number of ps, found " + to_string(timestep));
    Integrator::setStepSize(timestep);
    state->generator = at::make_generator<at::CPUGeneratorImpl>(0);
}

CGMLIntegrator* CGMLIntegrator::fromFile(const string& path) {
    return new CGMLIntegrator(readFileBytes(path, OWNER));
}

CGMLIntegrator::~CGMLIntegrator() {
}

const string& CGMLIntegrator::getModelBytes() const {
    return modelBytes;
}

int CGMLIntegrator::getHistoryLength() const {
    return historyLength;
}

int CGMLIntegrator::getNoiseDraws() const {
    return noiseDraws;
}

int CGMLIntegrator::getNumParticles() const {
    return numParticles;
}

string CGMLIntegrator::getPrecision() const {
    return state->dtype == at::kDouble ? "float64" : "float32";
}

double CGMLIntegrator::getStepSize() const {
    return timestep;
}

void CGMLIntegrator::setStepSize(double size) {
    if (fabs(size - timestep) > 1e-12 * max(1.0, fabs(timestep)))
        throw OpenMMException("CGMLIntegrator: the time step (" + to_string(timestep) +
                              " ps) is fixed by the model it was trained for and cannot be changed.");
}

int CGMLIntegrator::getRandomNumberSeed() const {
    return randomSeed;
}

static uint64_t resolveSeed(int seed) {
    if (seed != 0)
        return (uint64_t) (uint32_t) seed;
    random_device device;
    return ((uint64_t) device() << 32) ^ (uint64_t) device();
}

void CGMLIntegrator::setRandomNumberSeed(int seed) {
    randomSeed = seed;
    if (context != NULL)
        state->generator = at::make_generator<at::CPUGeneratorImpl>(resolveSeed(seed));
}

bool CGMLIntegrator::getUsesPeriodicBox() const {
    return usesPeriodicBox;
}

void CGMLIntegrator::setUsesPeriodicBox(bool periodic) {
    usesPeriodicBox = periodic;
    state->prepared = false;
}

string CGMLIntegrator::getDevice() const {
    if (context == NULL || !state->prepared)
        return "";
    return state->device.str();
}

bool CGMLIntegrator::getUseCudaGraphs() const {
    return useCudaGraphs;
}

void CGMLIntegrator::setUseCudaGraphs(bool use) {
    useCudaGraphs = use;
    if (!use)
        resetCudaGraph();
}

string CGMLIntegrator::getCudaGraphStatus() const {
    if (!state->graphError.empty())
        return "not used: capture failed: " + state->graphError;
    if (!useCudaGraphs)
        return "not used: disabled by setUseCudaGraphs(False)";
    if (context == NULL || !state->prepared)
        return "not used: not bound to a Context or not stepped yet";
    if (!state->device.is_cuda())
        return "not used: the module runs on " + state->device.str() + ", not CUDA";
    if (!state->graphSafe)
        return "not used: the module is not graph_safe (export it with a static graph)";
#ifndef CGML_CUDA_GRAPHS
    return "not used: the plugin was built without CUDA graph support (no CUDA torch or CUDA headers at build time)";
#else
    return state->graphReady() ? "captured" : "warming up";
#endif
}

void CGMLIntegrator::resetCudaGraph() {
#ifdef CGML_CUDA_GRAPHS
    state->graph.reset();
#endif
    state->graphWarmup = 0;
    state->graphHistory = state->graphExternal = state->graphBox = state->graphOutput = at::Tensor();
}

void CGMLIntegrator::initialize(ContextImpl& contextRef) {
    if (owner != NULL && &contextRef.getOwner() != owner)
        throw OpenMMException("CGMLIntegrator: this integrator is already bound to a Context; "
                              "create a new CGMLIntegrator for each Context.");
    const System& system = contextRef.getSystem();
    if (system.getNumParticles() != numParticles)
        throw OpenMMException("CGMLIntegrator: the model was exported for " + to_string(numParticles) +
                              " beads but the System has " + to_string(system.getNumParticles()) +
                              " particles. Build the System from the same bead mapping the model was "
                              "exported for (or re-export the model for this molecule).");
    if (system.getNumConstraints() > 0)
        throw OpenMMException("CGMLIntegrator: the System has constraints; a learned CG step model "
                              "moves beads freely, so remove the constraints from the bead System.");
    for (int i = 0; i < system.getNumParticles(); i++)
        if (system.isVirtualSite(i))
            throw OpenMMException("CGMLIntegrator: particle " + to_string(i) + " is a virtual site; "
                                  "CG bead Systems must not contain virtual sites.");
    context = &contextRef;
    owner = &contextRef.getOwner();
    // OpenMM's GPU platforms allocate their device arrays only when an integrator kernel
    // initializes them, so create a stock Verlet kernel (never executed).
    delete state->verlet;
    state->verletKernel = Kernel();
    state->verlet = new VerletIntegrator(timestep);
    state->verletKernel = contextRef.getPlatform().createKernel(IntegrateVerletStepKernel::Name(), contextRef);
    state->verletKernel.getAs<IntegrateVerletStepKernel>().initialize(system, *state->verlet);
    state->generator = at::make_generator<at::CPUGeneratorImpl>(resolveSeed(randomSeed));
    resetCudaGraph();
    state->graphError.clear();
    state->prepared = false;
    state->historyValid = false;
    state->checkpointLoaded = false;
    state->ownWrite = false;
}

void CGMLIntegrator::cleanup() {
    resetCudaGraph();
    state->verletKernel = Kernel();
    delete state->verlet;
    state->verlet = nullptr;
    state->prepared = false;
    state->historyValid = false;
    state->history = at::Tensor();
    context = NULL;
    owner = NULL;
}

vector<string> CGMLIntegrator::getKernelNames() {
    return {IntegrateVerletStepKernel::Name()};
}

void CGMLIntegrator::prepare() {
    if (state->prepared)
        return;
    torch::Device device = deviceForContext(*context, OWNER);
    const System& system = context->getSystem();
    bool periodic = usesPeriodicBox;
    try {
        periodic = periodic || system.usesPeriodicBoundaryConditions();
    }
    catch (const OpenMMException&) {
        // A plugin force that does not report PBC: rely on the explicit flag.
    }
    try {
        state->module.to(device);
    }
    catch (const c10::Error& e) {
        throw OpenMMException(string("CGMLIntegrator: could not move the model to ") + device.str() + ": " + torchMessage(e));
    }
    if (state->history.defined())
        state->history = state->history.to(device);
    resetCudaGraph();
    state->device = device;
    state->buffersReady = false;
    state->periodic = periodic;
    state->hasForces = system.getNumForces() > 0;
    state->prepared = true;
}

static at::Tensor vec3ToTensor(const vector<Vec3>& v, at::ScalarType dtype, const torch::Device& device) {
    at::Tensor t = torch::from_blob((void*) v.data(), {(int64_t) v.size(), 3}, torch::kDouble);
    return t.to(device, dtype, false, true);
}

void CGMLIntegrator::rebuildHistoryFromContext() {
    vector<Vec3> positions, velocities;
    context->getPositions(positions);
    context->getVelocities(velocities);
    int k = historyLength;
    vector<double> frames((size_t) k * numParticles * 3);
    for (int j = 0; j < k; j++) {
        double back = (k - 1 - j) * timestep;  // frame j lies (k-1-j) steps in the past
        for (int i = 0; i < numParticles; i++)
            for (int d = 0; d < 3; d++)
                frames[((size_t) j * numParticles + i) * 3 + d] = positions[i][d] - back * velocities[i][d];
    }
    at::Tensor t = torch::from_blob(frames.data(), {k, numParticles, 3}, torch::kDouble);
    state->history = t.to(state->device, state->dtype, false, true);
    state->current = positions;
    state->historyValid = true;
}

void CGMLIntegrator::setHistory(const vector<vector<Vec3> >& frames) {
    if (context == NULL)
        throw OpenMMException("CGMLIntegrator.setHistory: the integrator is not bound to a Context yet. "
                              "Create the Context (or Simulation) and set its positions first, then call setHistory().");
    if ((int) frames.size() != historyLength)
        throw OpenMMException("CGMLIntegrator.setHistory: the model needs " + to_string(historyLength) +
                              " frames (oldest first) but " + to_string(frames.size()) + " were given.");
    vector<double> data((size_t) historyLength * numParticles * 3);
    for (int j = 0; j < historyLength; j++) {
        if ((int) frames[j].size() != numParticles)
            throw OpenMMException("CGMLIntegrator.setHistory: frame " + to_string(j) + " has " +
                                  to_string(frames[j].size()) + " positions but the model has " +
                                  to_string(numParticles) + " beads.");
        for (int i = 0; i < numParticles; i++)
            for (int d = 0; d < 3; d++) {
                double x = frames[j][i][d];
                if (!std::isfinite(x))
                    throw OpenMMException("CGMLIntegrator.setHistory: frame " + to_string(j) + ", bead " +
                                          to_string(i) + " has a NaN or infinite coordinate.");
                data[((size_t) j * numParticles + i) * 3 + d] = x;
            }
    }
    prepare();
    at::Tensor t = torch::from_blob(data.data(), {historyLength, numParticles, 3}, torch::kDouble);
    const vector<Vec3>& last = frames[historyLength - 1];
    vector<Vec3> velocities(numParticles);
    if (historyLength > 1)
        for (int i = 0; i < numParticles; i++)
            velocities[i] = (last[i] - frames[historyLength - 2][i]) * (1.0 / timestep);
    state->ownWrite = true;
    try {
        context->setPositions(last);
        context->setVelocities(velocities);
    }
    catch (...) {
        state->ownWrite = false;
        throw;
    }
    state->ownWrite = false;
    state->history = t.to(state->device, state->dtype, false, true);
    state->current = last;
    state->historyValid = true;
    state->checkpointLoaded = false;
}

vector<vector<Vec3> > CGMLIntegrator::getHistory() {
    if (context == NULL)
        throw OpenMMException("CGMLIntegrator.getHistory: the integrator is not bound to a Context yet.");
    prepare();
    if (!state->historyValid)
        rebuildHistoryFromContext();
    at::Tensor h = state->history.to(torch::kCPU, torch::kDouble).contiguous();
    const double* p = h.data_ptr<double>();
    vector<vector<Vec3> > frames(historyLength, vector<Vec3>(numParticles));
    for (int j = 0; j < historyLength; j++)
        for (int i = 0; i < numParticles; i++) {
            const double* x = p + ((size_t) j * numParticles + i) * 3;
            frames[j][i] = Vec3(x[0], x[1], x[2]);
        }
    return frames;
}

void CGMLIntegrator::stateChanged(State::DataType changed) {
    if (state->ownWrite)
        return;
    if (changed == State::Positions) {
        if (state->checkpointLoaded && state->historyValid) {
            vector<Vec3> positions;
            context->getPositions(positions);
            bool same = positions.size() == state->current.size();
            for (size_t i = 0; same && i < positions.size(); i++) {
                Vec3 d = positions[i] - state->current[i];
                same = fabs(d[0]) <= 1e-6 && fabs(d[1]) <= 1e-6 && fabs(d[2]) <= 1e-6;
            }
            if (same)
                return;
            state->checkpointLoaded = false;
        }
        state->historyValid = false;
    }
    else if (changed == State::Velocities) {
        if (state->checkpointLoaded)
            return;
        state->historyValid = false;
    }
}

double CGMLIntegrator::computeKineticEnergy() {
    vector<Vec3> velocities;
    context->getVelocities(velocities);
    const System& system = context->getSystem();
    double energy = 0.0;
    for (int i = 0; i < system.getNumParticles(); i++)
        energy += 0.5 * system.getParticleMass(i) * velocities[i].dot(velocities[i]);
    return energy;
}

/** forward(inputs) as a Tensor; a module returning anything else is refused with a clear message. */
static at::Tensor forwardTensor(torch::jit::Module& module, const vector<c10::IValue>& inputs) {
    c10::IValue out = module.forward(inputs);
    if (!out.isTensor())
        throw OpenMMException("CGMLIntegrator: the step module's forward() returned " + string(out.tagKind()) +
                              " instead of a Tensor of shape [N,3] (next positions in nm).");
    return out.toTensor();
}

#ifdef CGML_CUDA_GRAPHS
/**
 * Capture one forward() in a CUDA graph on a side stream (after one warm-up call there, so that
 * cuBLAS and the allocator have what they need), then replay it for this step.  The graph reads
 * static copies of the history, force and box (refreshed before every replay) and the integrator's
 * own device noise buffer.  Any failure (a module that synchronises or changes shape) is recorded
 * in graphError and the ordinary call is made; the graph path is then off for this Context.
 */
static at::Tensor captureModule(CGMLIntegratorState& st, const at::Tensor& noise, const at::Tensor& external,
                                const at::Tensor& box) {
    const c10::DeviceIndex index = st.device.index();
    unique_ptr<at::cuda::CUDAGraph> graph;
    at::Tensor out;
    try {
        st.graphHistory = st.history.clone();
        st.graphExternal = external.clone();
        st.graphBox = box.clone();
        graph.reset(new at::cuda::CUDAGraph());
        c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, index);
        c10::cuda::getCurrentCUDAStream(index).synchronize();
        {
            c10::cuda::CUDAStreamGuard guard(side);
            forwardTensor(st.module, {st.graphHistory, noise, st.graphExternal, st.graphBox});
            side.synchronize();
            graph->capture_begin();
            try {
                out = forwardTensor(st.module, {st.graphHistory, noise, st.graphExternal, st.graphBox});
            }
            catch (...) {
                try {
                    graph->capture_end();
                }
                catch (...) {
                }
                throw;
            }
            graph->capture_end();
        }
        graph->replay();
    }
    catch (const std::exception& e) {
        string message = e.what();
        if (const c10::Error* te = dynamic_cast<const c10::Error*>(&e))
            message = torchMessage(*te);
        st.graphError = shortMessage(message);
        st.graphHistory = st.graphExternal = st.graphBox = at::Tensor();
        return forwardTensor(st.module, {st.history, noise, external, box});
    }
    st.graph = std::move(graph);
    st.graphOutput = out;
    return out;
}
#endif

/**
 * One call of the step module.  With useGraphs on CUDA and a graph_safe module: three ordinary
 * calls (TorchScript profiling, cuBLAS set-up), then one capture, then replays of the graph.
 * The returned tensor may be the graph's static output: use it before the next call.
 */
static at::Tensor callModule(CGMLIntegratorState& st, bool useGraphs, const at::Tensor& noise,
                             const at::Tensor& external, const at::Tensor& box) {
#ifdef CGML_CUDA_GRAPHS
    if (useGraphs && st.graphSafe && st.device.is_cuda() && st.graphError.empty()) {
        if (st.graph) {
            st.graphHistory.copy_(st.history, true);
            st.graphExternal.copy_(external, true);
            st.graphBox.copy_(box, true);
            st.graph->replay();
            return st.graphOutput;
        }
        if (st.graphWarmup >= 3)
            return captureModule(st, noise, external, box);
        st.graphWarmup++;
    }
#else
    (void) useGraphs;
#endif
    return forwardTensor(st.module, {st.history, noise, external, box});
}

void CGMLIntegrator::step(int steps) {
    if (context == NULL)
        throw OpenMMException("CGMLIntegrator: step() called before the integrator was bound to a Context. "
                              "Create an openmm.Context or openmm.app.Simulation with it first.");
    if (steps <= 0)
        return;
    prepare();
    state->checkpointLoaded = false;
    torch::NoGradGuard noGrad;
    const int n = numParticles;
    const bool cuda = state->device.is_cuda();
    const torch::TensorOptions options = torch::TensorOptions().dtype(state->dtype).device(state->device);
    if (!state->buffersReady) {
        const torch::TensorOptions host = torch::TensorOptions().dtype(state->dtype);
        state->hostNoise = torch::empty({noiseDraws, n, 3}, host);
        state->hostForces = torch::empty({n, 3}, torch::kDouble);
        state->hostNext = torch::empty({n, 3}, torch::kDouble);
        if (cuda) {
            state->hostNoise = state->hostNoise.pin_memory();
            state->hostForces = state->hostForces.pin_memory();
            state->hostNext = state->hostNext.pin_memory();
            state->deviceNoise = torch::empty({noiseDraws, n, 3}, options);
        }
        else
            state->deviceNoise = state->hostNoise;
        state->zeroForce = torch::zeros({n, 3}, options);
        state->box = at::Tensor();
        state->buffersReady = true;
    }
    vector<Vec3> forces, newPositions(n), velocities(n);
    const double invDt = 1.0 / timestep;
    for (int s = 0; s < steps; s++) {
        context->updateContextState();
        if (!state->historyValid)
            rebuildHistoryFromContext();
        const long long stepNumber = context->getStepCount() + 1;

        // Inputs: external forces, noise, box.
        at::Tensor external = state->zeroForce;
        if (state->hasForces) {
            context->calcForcesAndEnergy(true, false, getIntegrationForceGroups());
            context->getForces(forces);
            double* f = state->hostForces.data_ptr<double>();
            for (int i = 0; i < n; i++)
                for (int d = 0; d < 3; d++)
                    f[3 * i + d] = forces[i][d];
            external = state->hostForces.to(state->device, state->dtype, cuda, true);
        }
        if (noiseDraws > 0) {
            // Same stream as at::randn(size, generator): the noise is identical on every platform.
            state->hostNoise.normal_(0.0, 1.0, state->generator);
            if (cuda)
                state->deviceNoise.copy_(state->hostNoise, true);
        }
        at::Tensor noise = state->deviceNoise;
        Vec3 boxVectors[3];
        if (state->periodic)
            context->getPeriodicBoxVectors(boxVectors[0], boxVectors[1], boxVectors[2]);
        if (!state->box.defined() || boxVectors[0] != state->boxVectors[0] || boxVectors[1] != state->boxVectors[1] ||
                boxVectors[2] != state->boxVectors[2]) {
            if (state->graphSafe && state->periodic && (boxVectors[1][0] != 0.0 || boxVectors[2][0] != 0.0 ||
                    boxVectors[2][1] != 0.0))
                throw OpenMMException("CGMLIntegrator: this step module was exported with a static graph, "
                                      "which supports only rectangular periodic boxes; the box is triclinic. "
                                      "Re-export the model with static_graph=False.");
            at::Tensor box = torch::zeros({3, 3}, torch::kDouble);
            double* p = box.data_ptr<double>();
            for (int r = 0; r < 3; r++)
                for (int d = 0; d < 3; d++)
                    p[3 * r + d] = boxVectors[r][d];
            state->box = box.to(state->device, state->dtype);
            for (int r = 0; r < 3; r++)
                state->boxVectors[r] = boxVectors[r];
        }
        at::Tensor box = state->box;

        // Run the step module.
        at::Tensor next;
        try {
            next = callModule(*state, useCudaGraphs, noise, external, box);
        }
        catch (const c10::Error& e) {
            throw OpenMMException("CGMLIntegrator: the step module failed at step " + to_string(stepNumber) +
                                  "; the positions are those of the last good step. Details: " + torchMessage(e));
        }
        catch (const OpenMMException&) {
            throw;
        }
        catch (const std::exception& e) {
            throw OpenMMException("CGMLIntegrator: the step module failed at step " + to_string(stepNumber) +
                                  "; the positions are those of the last good step. Details: " + shortMessage(e.what()));
        }
        if (next.dim() != 2 || next.size(0) != n || next.size(1) != 3) {
            throw OpenMMException("CGMLIntegrator: the step module returned a tensor of shape " +
                                  shapeString(next.sizes()) + " but next positions must have shape [" +
                                  to_string(n) + ", 3] (nm).");
        }
        next = next.to(state->dtype);
        at::Tensor hostNext;
        if (cuda) {
            state->hostNext.copy_(next.to(torch::kDouble));
            hostNext = state->hostNext;
        }
        else
            hostNext = next.to(torch::kDouble).contiguous();
        const double* p = hostNext.data_ptr<double>();
        for (int i = 0; i < n; i++) {
            const double* x = p + 3 * (size_t) i;
            if (!std::isfinite(x[0]) || !std::isfinite(x[1]) || !std::isfinite(x[2]))
                throw OpenMMException("CGMLIntegrator: the step module produced NaN or infinite positions at step " +
                                      to_string(stepNumber) + " (bead " + to_string(i) + "). The step was refused; "
                                      "the Context still holds the positions of step " + to_string(stepNumber - 1) +
                                      ". Check the input structure and that the model matches this molecule.");
            newPositions[i] = Vec3(x[0], x[1], x[2]);
            velocities[i] = (newPositions[i] - state->current[i]) * invDt;
        }
        state->ownWrite = true;
        try {
            context->setPositions(newPositions);
            context->setVelocities(velocities);
        }
        catch (...) {
            state->ownWrite = false;
            throw;
        }
        state->ownWrite = false;
        if (historyLength > 1)
            state->history = torch::cat({state->history.slice(0, 1), next.unsqueeze(0)}, 0);
        else
            state->history = next.unsqueeze(0).clone();
        state->current.swap(newPositions);
        newPositions.resize(n);
        context->setTime(context->getTime() + timestep);
        context->setStepCount(context->getStepCount() + 1);
    }
}

// ---------------------------------------------------------------- checkpoints

static void writeBytes(ostream& stream, const void* data, size_t size) {
    stream.write((const char*) data, size);
}

template <class T>
static void writeValue(ostream& stream, const T& value) {
    writeBytes(stream, &value, sizeof(T));
}

template <class T>
static T readValue(istream& stream) {
    T value;
    stream.read((char*) &value, sizeof(T));
    if (!stream)
        throw OpenMMException("CGMLIntegrator: the checkpoint is truncated or was not written by CGMLIntegrator.");
    return value;
}

void CGMLIntegrator::createCheckpoint(ostream& stream) const {
    stream.write("CGML", 4);
    writeValue<int32_t>(stream, CHECKPOINT_VERSION);
    writeValue<int32_t>(stream, historyLength);
    writeValue<int32_t>(stream, numParticles);
    // Generator state.
    at::Tensor genState = state->generator.get_state().contiguous();
    writeValue<int64_t>(stream, genState.numel());
    writeBytes(stream, genState.data_ptr(), genState.numel());
    // History (as float64: exact for float32 histories too) and the current frame.
    int32_t valid = state->historyValid && state->history.defined() ? 1 : 0;
    writeValue<int32_t>(stream, valid);
    if (valid) {
        at::Tensor h = state->history.to(torch::kCPU, torch::kDouble).contiguous();
        writeBytes(stream, h.data_ptr<double>(), sizeof(double) * h.numel());
        for (const Vec3& x : state->current) {
            double xyz[3] = {x[0], x[1], x[2]};
            writeBytes(stream, xyz, sizeof(xyz));
        }
    }
}

void CGMLIntegrator::loadCheckpoint(istream& stream) {
    char magic[4];
    stream.read(magic, 4);
    if (!stream || memcmp(magic, "CGML", 4) != 0)
        throw OpenMMException("CGMLIntegrator: the checkpoint was not written by a CGMLIntegrator.");
    int version = readValue<int32_t>(stream);
    if (version != CHECKPOINT_VERSION)
        throw OpenMMException("CGMLIntegrator: unsupported checkpoint version " + to_string(version) + ".");
    int k = readValue<int32_t>(stream);
    int n = readValue<int32_t>(stream);
    if (k != historyLength || n != numParticles)
        throw OpenMMException("CGMLIntegrator: the checkpoint holds a history of " + to_string(k) + " frames x " +
                              to_string(n) + " beads but this model needs " + to_string(historyLength) + " x " +
                              to_string(numParticles) + ".");
    int64_t genSize = readValue<int64_t>(stream);
    if (genSize <= 0 || genSize > (1 << 20))
        throw OpenMMException("CGMLIntegrator: corrupt random generator state in the checkpoint.");
    at::Tensor genState = torch::empty({genSize}, torch::kUInt8);
    stream.read((char*) genState.data_ptr(), genSize);
    int valid = readValue<int32_t>(stream);
    at::Tensor h;
    vector<Vec3> current;
    if (valid) {
        h = torch::empty({k, n, 3}, torch::kDouble);
        stream.read((char*) h.data_ptr<double>(), sizeof(double) * h.numel());
        current.resize(n);
        for (int i = 0; i < n; i++) {
            double xyz[3];
            stream.read((char*) xyz, sizeof(xyz));
            current[i] = Vec3(xyz[0], xyz[1], xyz[2]);
        }
        if (!stream)
            throw OpenMMException("CGMLIntegrator: the checkpoint is truncated.");
    }
    state->generator.set_state(genState);
    if (context != NULL)
        prepare();
    if (valid) {
        state->history = h.to(state->device, state->dtype);
        state->current = current;
        state->historyValid = true;
        state->checkpointLoaded = true;
    }
    else {
        state->historyValid = false;
        state->checkpointLoaded = false;
    }
}

} // namespace OpenMMCGML
