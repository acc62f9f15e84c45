#ifndef OPENMM_CGML_INTEGRATOR_H_
#define OPENMM_CGML_INTEGRATOR_H_

/* openmm-cgml: an OpenMM Integrator that advances coarse-grained beads with a
 * learned TorchScript "step module".
 *
 * Step-module contract (see docs/CONTRACTS.md):
 *   forward(history[k,N,3] nm, noise[M,N,3], external_force[N,3] kJ/mol/nm, box[3,3] nm)
 *       -> next positions [N,3] nm
 *   attributes: history_length (k), noise_draws (M), timestep_ps, num_particles (N)
 *   optional:   precision ("float32" | "float64"; default: dtype of the first
 *               floating-point parameter/buffer, else float32)
 *               graph_safe (bool; default false): forward() has fixed shapes and no
 *               host<->device synchronisation, so on CUDA the integrator may capture it
 *               once in a CUDA graph and replay it every step
 *
 * This header deliberately does not include libtorch headers (pimpl), so code that
 * uses the integrator compiles quickly and does not need the torch include paths.
 */

#include "openmm/Integrator.h"
#include "openmm/Vec3.h"
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace OpenMMCGML {

class CGMLIntegratorState;

class CGMLIntegrator : public OpenMM::Integrator {
public:
    /**
     * Create an integrator from a serialized TorchScript module (the bytes written by
     * torch.jit.save).  The module is validated immediately; errors are thrown as
     * OpenMM::OpenMMException with a message that names the problem.
     */
    explicit CGMLIntegrator(const std::string& modelBytes);
    /** Create an integrator from a TorchScript file on disk (the bytes are embedded). */
    static CGMLIntegrator* fromFile(const std::string& path);
    ~CGMLIntegrator();

    /** The embedded TorchScript module, exactly as passed in. */
    const std::string& getModelBytes() const;
    /** k: number of frames the module reads (oldest first, last = current). */
    int getHistoryLength() const;
    /** M: number of standard normal draws of shape [N,3] the integrator makes per step. */
    int getNoiseDraws() const;
    /** N: number of particles the module was exported for. */
    int getNumParticles() const;
    /** "float32" or "float64": the dtype the module is fed with. */
    std::string getPrecision() const;
    /** The time step of the module, in ps (fixed by the model). */
    double getStepSize() const override;
    /** The step size is a property of the model; setting a different value throws. */
    void setStepSize(double size) override;
    /** Seed of the integrator's own normal generator; 0 picks a fresh seed at Context creation. */
    int getRandomNumberSeed() const;
    /** Set the seed; takes effect immediately if the integrator is bound to a Context. */
    void setRandomNumberSeed(int seed);
    /**
     * Whether the periodic box is passed to the module.  If false (the default) the box is
     * passed only when the System uses periodic boundary conditions, otherwise zeros.
     */
    bool getUsesPeriodicBox() const;
    void setUsesPeriodicBox(bool periodic);
    /**
     * Set the history explicitly: k frames of N positions (nm), oldest first.  The Context's
     * positions become the last frame and its velocities the finite difference of the last
     * two frames.  Must be called after the integrator is bound to a Context.
     */
    void setHistory(const std::vector<std::vector<OpenMM::Vec3> >& frames);
    /** The current history (k frames, oldest first); rebuilt from the Context if needed. */
    std::vector<std::vector<OpenMM::Vec3> > getHistory();
    /** "cpu" or "cuda:<index>" once bound to a Context and stepped, else "". */
    std::string getDevice() const;
    /**
     * Whether the step module may be captured in a CUDA graph and replayed (default true;
     * verified on an H200 by the project's GPU tests: replays bit-equal to ordinary calls).
     * Used only on CUDA, for modules whose graph_safe attribute is true, after three
     * ordinary warm-up steps; a capture that fails falls back to ordinary calls (see
     * getCudaGraphStatus()).  Replays give the same numbers as ordinary calls.
     */
    bool getUseCudaGraphs() const;
    void setUseCudaGraphs(bool use);
    /**
     * What the CUDA-graph path is doing: "captured", "warming up", or "not used: <reason>"
     * (not bound / not on CUDA / module not graph_safe / disabled / plugin built without
     * CUDA graph support / capture failed: <error>).
     */
    std::string getCudaGraphStatus() const;
    /** Advance the simulation by the given number of model steps. */
    void step(int steps) override;

protected:
    void initialize(OpenMM::ContextImpl& context) override;
    void cleanup() override;
    std::vector<std::string> getKernelNames() override;
    void stateChanged(OpenMM::State::DataType changed) override;
    double computeKineticEnergy() override;
    bool kineticEnergyRequiresForce() const override {
        return false;
    }
    void createCheckpoint(std::ostream& stream) const override;
    void loadCheckpoint(std::istream& stream) override;

private:
    void prepare();
    void rebuildHistoryFromContext();
    void resetCudaGraph();
    std::string modelBytes;
    int historyLength, noiseDraws, numParticles, randomSeed;
    double timestep;
    bool usesPeriodicBox, useCudaGraphs;
    std::unique_ptr<CGMLIntegratorState> state;
};

} // namespace OpenMMCGML

#endif
