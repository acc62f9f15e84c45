/* SWIG interface for openmm-cgml.  Wrapped against OpenMM's own SWIG headers so the
 * objects are ordinary openmm.Integrator / openmm.Force instances. */

%module(package="openmm_cgml.plugin") cgmlswig

%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%include "swig/typemaps.i"
%include <std_string.i>

%{
#include "CGMLIntegrator.h"
#include "CGMLForce.h"
#include "CGMLSerialization.h"
#include "OpenMM.h"
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
#include <cstring>
%}

/* The module is built with "swig -threads": every call releases the GIL while C++ runs (libtorch's
 * autograd engine refuses to run while the GIL is held, and other Python threads keep running).
 * Raise openmm.OpenMMException for errors thrown in C++. */
%exception {
    try {
        $action
    } catch (std::exception& e) {
        PyObject* mm = PyImport_ImportModule("openmm");
        PyObject* exc = mm ? PyObject_GetAttrString(mm, "OpenMMException") : NULL;
        if (exc == NULL) {
            PyErr_Clear();
            PyErr_SetString(PyExc_RuntimeError, e.what());
        } else {
            PyErr_SetString(exc, e.what());
        }
        Py_XDECREF(exc);
        Py_XDECREF(mm);
        SWIG_fail;
    }
}

/* Model bytes in and out as Python bytes. */
%typemap(in) const std::string& modelBytes (std::string temp) {
    char* buffer = NULL;
    Py_ssize_t length = 0;
    if (PyBytes_Check($input)) {
        PyBytes_AsStringAndSize($input, &buffer, &length);
    } else if (PyByteArray_Check($input)) {
        buffer = PyByteArray_AsString($input);
        length = PyByteArray_Size($input);
    } else {
        SWIG_exception_fail(SWIG_TypeError, "the model must be bytes (the output of torch.jit.save)");
    }
    temp = std::string(buffer, length);
    $1 = &temp;
}
%typemap(freearg) const std::string& modelBytes ""
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const std::string& modelBytes {
    $1 = PyBytes_Check($input) || PyByteArray_Check($input);
}
%typemap(out) const std::string& OpenMMCGML::CGMLIntegrator::getModelBytes,
              const std::string& OpenMMCGML::CGMLForce::getModelBytes {
    $result = PyBytes_FromStringAndSize($1->data(), $1->size());
}
%apply const std::string& modelBytes { const std::string& raw };
%typemap(out) std::string OpenMMCGML::CGMLIntegrator::_getHistoryRaw {
    $result = PyBytes_FromStringAndSize($1.data(), $1.size());
}

namespace OpenMMCGML {

%nodefaultctor CGMLIntegrator;
class CGMLIntegrator : public OpenMM::Integrator {
public:
    CGMLIntegrator(const std::string& modelBytes);
    %newobject fromFile;
    static CGMLIntegrator* fromFile(const std::string& path);
    const std::string& getModelBytes() const;
    int getHistoryLength() const;
    int getNoiseDraws() const;
    int getNumParticles() const;
    std::string getPrecision() const;
    virtual double getStepSize() const;
    virtual void setStepSize(double size);
    int getRandomNumberSeed() const;
    void setRandomNumberSeed(int seed);
    bool getUsesPeriodicBox() const;
    void setUsesPeriodicBox(bool periodic);
    std::string getDevice() const;
    bool getUseCudaGraphs() const;
    void setUseCudaGraphs(bool use);
    std::string getCudaGraphStatus() const;
    virtual void step(int steps);
};

%extend CGMLIntegrator {
    /* History as raw float64 bytes of shape [k, N, 3] (the Python wrapper converts). */
    void _setHistoryRaw(const std::string& raw) {
        int k = self->getHistoryLength(), n = self->getNumParticles();
        size_t expected = (size_t) k * n * 3 * sizeof(double);
        if (raw.size() != expected)
            throw OpenMM::OpenMMException("CGMLIntegrator.setHistory: wrong amount of data for " +
                std::to_string(k) + " frames x " + std::to_string(n) + " beads x 3");
        std::vector<std::vector<OpenMM::Vec3> > frames(k, std::vector<OpenMM::Vec3>(n));
        const double* p = reinterpret_cast<const double*>(raw.data());
        for (int j = 0; j < k; j++)
            for (int i = 0; i < n; i++) {
                const double* x = p + ((size_t) j * n + i) * 3;
                frames[j][i] = OpenMM::Vec3(x[0], x[1], x[2]);
            }
        self->setHistory(frames);
    }
    std::string _getHistoryRaw() {
        std::vector<std::vector<OpenMM::Vec3> > frames = self->getHistory();
        int k = (int) frames.size(), n = self->getNumParticles();
        std::string raw((size_t) k * n * 3 * sizeof(double), '\0');
        double* p = reinterpret_cast<double*>(&raw[0]);
        for (int j = 0; j < k; j++)
            for (int i = 0; i < n; i++)
                for (int d = 0; d < 3; d++)
                    p[((size_t) j * n + i) * 3 + d] = frames[j][i][d];
        return raw;
    }
    /* Reinterpret an openmm.Integrator (e.g. from XmlSerializer.deserialize) as a CGMLIntegrator. */
    static OpenMMCGML::CGMLIntegrator* _cast(OpenMM::Integrator* integrator) {
        OpenMMCGML::CGMLIntegrator* result = dynamic_cast<OpenMMCGML::CGMLIntegrator*>(integrator);
        if (result == NULL)
            throw OpenMM::OpenMMException("this integrator is not a CGMLIntegrator");
        return result;
    }
}

%nodefaultctor CGMLForce;
class CGMLForce : public OpenMM::Force {
public:
    CGMLForce(const std::string& modelBytes);
    %newobject fromFile;
    static CGMLForce* fromFile(const std::string& path);
    const std::string& getModelBytes() const;
    const std::string& getPrecision() const;
    int getNumParticles() const;
    void setUsesPeriodicBoundaryConditions(bool periodic);
    virtual bool usesPeriodicBoundaryConditions() const;
};

%extend CGMLForce {
    static OpenMMCGML::CGMLForce* _cast(OpenMM::Force* force) {
        OpenMMCGML::CGMLForce* result = dynamic_cast<OpenMMCGML::CGMLForce*>(force);
        if (result == NULL)
            throw OpenMM::OpenMMException("this force is not a CGMLForce");
        return result;
    }
}

void registerCGMLSerializationProxies();

} // namespace OpenMMCGML

%init %{
    OpenMMCGML::registerCGMLSerializationProxies();
%}
