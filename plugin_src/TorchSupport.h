#ifndef OPENMM_CGML_TORCH_SUPPORT_H_
#define OPENMM_CGML_TORCH_SUPPORT_H_

/* Internal helpers shared by CGMLIntegrator and CGMLForce (includes libtorch). */

#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/internal/ContextImpl.h"
#include <torch/script.h>
#include <string>

namespace OpenMMCGML {

/** Load a TorchScript module from the bytes written by torch.jit.save. */
torch::jit::Module loadTorchScript(const std::string& bytes, const std::string& owner);

/** Read an integer attribute of the module (clear error if missing or not an int). */
int64_t intAttribute(const torch::jit::Module& module, const std::string& name, const std::string& owner);

/** Read a float (or int) attribute of the module. */
double floatAttribute(const torch::jit::Module& module, const std::string& name, const std::string& owner);

/**
 * The floating dtype the module is fed with: attribute "precision" ("float32"/"float64")
 * if present, else the dtype of its first floating-point parameter or buffer, else float32.
 */
at::ScalarType moduleDtype(const torch::jit::Module& module, const std::string& owner);

/** Check that forward() takes exactly the given number of tensor arguments (besides self). */
void checkForwardArguments(const torch::jit::Module& module, size_t numArgs, const std::string& owner,
                           const std::string& expected);

/**
 * The torch device matching the OpenMM platform of the context: cuda:<DeviceIndex> on the
 * CUDA platform, cpu otherwise.  Must be called after the Context is fully constructed.
 */
torch::Device deviceForContext(OpenMM::ContextImpl& context, const std::string& owner);

/** A torch error message without the C++ backtrace. */
std::string torchMessage(const c10::Error& e);

/** "[a, b, c]" for a tensor shape (no iostreams: see TorchSupport.cpp). */
std::string shapeString(c10::IntArrayRef sizes);

/** The whole content of a binary file; throws OpenMMException naming the file if it cannot be read. */
std::string readFileBytes(const std::string& path, const std::string& owner);

/** Shorten a long (TorchScript traceback) message: first and last lines. */
std::string shortMessage(const std::string& message);

} // namespace OpenMMCGML

#endif
