#include "TorchSupport.h"
#include "openmm/Context.h"
#include <torch/cuda.h>
#include <fstream>
#include <sstream>
#include <vector>

using namespace OpenMM;
using namespace std;

namespace OpenMMCGML {

// Error messages are built with plain string operations: no std::ostringstream in this plugin.
// (On the GPU machine, formatting a c10 type into an ostringstream inside an error path crashed
// the process with torch 2.11; plain strings avoid the question entirely.)

string shapeString(c10::IntArrayRef sizes) {
    string out = "[";
    for (size_t i = 0; i < sizes.size(); i++)
        out += (i > 0 ? ", " : "") + to_string(sizes[i]);
    return out + "]";
}

string readFileBytes(const string& path, const string& owner) {
    ifstream file(path, ios::binary | ios::ate);
    if (!file)
        throw OpenMMException(owner + ": cannot open the model file '" + path + "'.");
    streamoff size = file.tellg();
    if (size < 0)
        throw OpenMMException(owner + ": cannot read the model file '" + path + "'.");
    string data((size_t) size, '\0');
    file.seekg(0);
    if (size > 0 && !file.read(&data[0], size))
        throw OpenMMException(owner + ": cannot read the model file '" + path + "'.");
    return data;
}

string shortMessage(const string& message) {
    vector<string> lines;
    size_t start = 0;
    while (start <= message.size()) {
        size_t end = message.find('\n', start);
        if (end == string::npos)
            end = message.size();
        lines.push_back(message.substr(start, end - start));
        start = end + 1;
    }
    while (!lines.empty() && lines.back().find_first_not_of(" \t") == string::npos)
        lines.pop_back();
    const size_t head = 8, tail = 6;
    string out;
    for (size_t i = 0; i < lines.size(); i++) {
        if (lines.size() > head + tail + 1 && i == head)
            out += "...\n";
        if (lines.size() > head + tail + 1 && i >= head && i < lines.size() - tail)
            continue;
        out += lines[i];
        if (i + 1 < lines.size())
            out += "\n";
    }
    return out;
}

string torchMessage(const c10::Error& e) {
    return shortMessage(e.what_without_backtrace());
}

torch::jit::Module loadTorchScript(const string& bytes, const string& owner) {
    if (bytes.empty())
        throw OpenMMException(owner + ": the model is empty (0 bytes). Pass a TorchScript file "
                              "written by torch.jit.save, its bytes, or a torch.jit.ScriptModule.");
    istringstream stream(bytes);
    torch::jit::Module module;
    try {
        module = torch::jit::load(stream, torch::kCPU);
    }
    catch (const c10::Error& e) {
        throw OpenMMException(owner + ": the model could not be loaded as a TorchScript module "
                              "(is it a file written by torch.jit.save? pickled state_dicts and "
                              "torch.save checkpoints are not TorchScript). Details: " + torchMessage(e));
    }
    catch (const std::exception& e) {
        throw OpenMMException(owner + ": the model could not be loaded as a TorchScript module "
                              "(is it a file written by torch.jit.save?). Details: " + string(e.what()));
    }
    module.eval();
    return module;
}

int64_t intAttribute(const torch::jit::Module& module, const string& name, const string& owner) {
    if (!module.hasattr(name))
        throw OpenMMException(owner + ": the TorchScript module has no attribute '" + name +
                              "'. A step module must define history_length, noise_draws, "
                              "timestep_ps and num_particles (see docs/CONTRACTS.md).");
    c10::IValue value = module.attr(name);
    if (value.isInt())
        return value.toInt();
    if (value.isBool())
        return value.toBool() ? 1 : 0;
    throw OpenMMException(owner + ": the module attribute '" + name + "' must be an int, found " +
                          value.tagKind() + ".");
}

double floatAttribute(const torch::jit::Module& module, const string& name, const string& owner) {
    if (!module.hasattr(name))
        throw OpenMMException(owner + ": the TorchScript module has no attribute '" + name +
                              "'. A step module must define history_length, noise_draws, "
                              "timestep_ps and num_particles (see docs/CONTRACTS.md).");
    c10::IValue value = module.attr(name);
    if (value.isDouble())
        return value.toDouble();
    if (value.isInt())
        return (double) value.toInt();
    if (value.isTensor() && value.toTensor().numel() == 1)
        return value.toTensor().item<double>();
    throw OpenMMException(owner + ": the module attribute '" + name + "' must be a float, found " +
                          value.tagKind() + ".");
}

at::ScalarType moduleDtype(const torch::jit::Module& module, const string& owner) {
    if (module.hasattr("precision")) {
        c10::IValue value = module.attr("precision");
        if (!value.isString())
            throw OpenMMException(owner + ": the module attribute 'precision' must be the string "
                                  "'float32' or 'float64'.");
        string p = value.toStringRef();
        if (p == "float32" || p == "single")
            return at::kFloat;
        if (p == "float64" || p == "double")
            return at::kDouble;
        throw OpenMMException(owner + ": the module attribute 'precision' is '" + p +
                              "'; use 'float32' or 'float64'.");
    }
    for (const at::Tensor& p : module.parameters())
        if (p.is_floating_point())
            return p.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    for (const at::Tensor& b : module.buffers())
        if (b.is_floating_point())
            return b.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    return at::kFloat;
}

void checkForwardArguments(const torch::jit::Module& module, size_t numArgs, const string& owner,
                           const string& expected) {
    auto method = module.find_method("forward");
    if (!method.has_value())
        throw OpenMMException(owner + ": the TorchScript module has no forward() method; expected " + expected);
    const c10::FunctionSchema& schema = method->function().getSchema();
    size_t n = schema.arguments().size();
    if (n > 0 && schema.arguments()[0].name() == "self")
        n--;
    if (n != numArgs) {
        string found;
        for (const c10::Argument& arg : schema.arguments()) {
            if (arg.name() == "self")
                continue;
            found += (found.empty() ? "" : ", ") + arg.name();
        }
        throw OpenMMException(owner + ": the module's forward() takes " + to_string(n) + " argument(s) (" + found +
                              ") but " + to_string(numArgs) + " are required: " + expected + ".");
    }
}

torch::Device deviceForContext(ContextImpl& context, const string& owner) {
    const string& name = context.getPlatform().getName();
    if (name != "CUDA")
        return torch::Device(torch::kCPU);
    if (!torch::cuda::is_available())
        throw OpenMMException(owner + ": the Context runs on OpenMM's CUDA platform but the installed "
                              "torch cannot use CUDA (CPU-only build or no visible GPU). Install a CUDA "
                              "build of torch, or use the CPU platform.");
    int index = 0;
    try {
        string value = context.getPlatform().getPropertyValue(context.getOwner(), "DeviceIndex");
        size_t comma = value.find(',');
        if (comma != string::npos)
            value = value.substr(0, comma);
        if (!value.empty())
            index = stoi(value);
    }
    catch (const std::exception&) {
        index = 0;
    }
    return torch::Device(torch::kCUDA, (c10::DeviceIndex) index);
}

} // namespace OpenMMCGML
