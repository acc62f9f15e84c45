#ifndef OPENMM_CGML_FORCE_H_
#define OPENMM_CGML_FORCE_H_

/* openmm-cgml: a Force whose energy is a TorchScript module of the particle positions.
 *
 * Energy-module contract:
 *   forward(positions[N,3] nm, box[3,3] nm) -> energy (scalar tensor, kJ/mol)
 *   forces are -d(energy)/d(positions) by autograd (kJ/mol/nm).
 *   optional attributes: num_particles (checked against the System),
 *                        precision ("float32" | "float64").
 * Works with any OpenMM integrator, with LocalEnergyMinimizer, and mixed with other forces.
 */

#include "openmm/Force.h"
#include <string>

namespace OpenMMCGML {

class CGMLForce : public OpenMM::Force {
public:
    /** Create the force from the bytes written by torch.jit.save (validated immediately). */
    explicit CGMLForce(const std::string& modelBytes);
    /** Create the force from a TorchScript file on disk (the bytes are embedded). */
    static CGMLForce* fromFile(const std::string& path);
    /** The embedded TorchScript module. */
    const std::string& getModelBytes() const;
    /** "float32" or "float64": the dtype positions are passed in. */
    const std::string& getPrecision() const;
    /** num_particles attribute of the module, or -1 if it has none. */
    int getNumParticles() const;
    /** Whether the periodic box is passed to the module (zeros otherwise). Default false. */
    void setUsesPeriodicBoundaryConditions(bool periodic);
    bool usesPeriodicBoundaryConditions() const override;

protected:
    OpenMM::ForceImpl* createImpl() const override;

private:
    std::string modelBytes, precision;
    int numParticles;
    bool periodic;
};

} // namespace OpenMMCGML

#endif
