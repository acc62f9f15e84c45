#ifndef OPENMM_CGML_SERIALIZATION_H_
#define OPENMM_CGML_SERIALIZATION_H_

#include <string>

namespace OpenMMCGML {

/** Register the XmlSerializer proxies for CGMLIntegrator and CGMLForce (idempotent). */
void registerCGMLSerializationProxies();

/** Base64 helpers used to embed the TorchScript bytes in XML. */
std::string base64Encode(const std::string& data);
std::string base64Decode(const std::string& text);

} // namespace OpenMMCGML

#endif
