"""Build script for openmm-cgml.

The compiled OpenMM plugin in ``plugin_src/`` is built against the torch and openmm that are
already installed in the environment, so install with build isolation switched off::

    pip install torch openmm "swig>=4.4" numpy
    pip install --no-build-isolation .          # or: pip install --no-build-isolation -e .

What the build does (``BuildPluginExt``):

1. finds libtorch (``torch.utils.cpp_extension`` include/library paths) and the OpenMM SDK that
   ships in the openmm wheel (``openmm.version.openmm_library_path`` -> ``OpenMM.libs/lib`` and
   ``OpenMM.libs/include`` with ``include/swig/OpenMMSwigHeaders.i``);
2. runs SWIG >= 4.4 (the ``swig`` package from PyPI) on ``plugin_src/cgml.i`` against OpenMM's own
   SWIG interface, so the objects are ordinary ``openmm.Integrator``/``openmm.Force`` instances;
3. compiles the C++ sources (two at a time, -O2) and links ``openmm_cgml/plugin/_cgmlswig*.so`` with
   RPATHs to libOpenMM and libtorch (no LD_LIBRARY_PATH needed);
4. writes ``openmm_cgml/plugin/_build_info.json`` (torch/openmm versions) that the package checks
   at import time.

With a CUDA build of torch and the CUDA runtime headers (``$CUDA_HOME``, ``/usr/local/cuda`` or the
``nvidia-*`` wheels), the integrator is compiled with CUDA-graph support (``-DCGML_CUDA_GRAPHS``):
graph-safe step modules are captured once and replayed every step. Without them it builds and runs
as before, with ordinary calls.

``build_py`` runs ``build_ext`` first: otherwise the SWIG-generated ``cgmlswig.py`` would not exist
yet when setuptools copies the Python modules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py
from setuptools.errors import CompileError

ROOT = os.path.dirname(os.path.abspath(__file__))
PLUGIN_SRC = os.path.join(ROOT, "plugin_src")
PLUGIN_PKG_DIR = os.path.join(ROOT, "openmm_cgml", "plugin")
EXT_NAME = "openmm_cgml.plugin._cgmlswig"
CXX_SOURCES = ["TorchSupport.cpp", "CGMLIntegrator.cpp", "CGMLForce.cpp", "CGMLSerialization.cpp"]
MIN_SWIG = (4, 4)

REBUILD_HINT = "pip install --no-build-isolation --force-reinstall --no-deps ."


class BuildError(RuntimeError):
    pass


def _read_version() -> str:
    with open(os.path.join(ROOT, "openmm_cgml", "__init__.py"), encoding="utf-8") as handle:
        match = re.search(r'^__version__\s*=\s*"([^"]+)"', handle.read(), re.M)
    if match is None:
        raise BuildError("cannot find __version__ in openmm_cgml/__init__.py")
    return match.group(1)


def _cuda_include_dirs(torch_lib: str) -> list[str]:
    """CUDA runtime header folders for a CUDA torch build ([] without CUDA or headers)."""
    if not os.path.exists(os.path.join(torch_lib, "libtorch_cuda.so")):
        return []
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    try:
        from torch.utils.cpp_extension import CUDA_HOME

        roots.append(CUDA_HOME)
    except ImportError:  # pragma: no cover
        pass
    for root in roots:
        if root and os.path.isfile(os.path.join(root, "include", "cuda_runtime_api.h")):
            return [os.path.join(root, "include")]
    # pip's nvidia-* wheels: site-packages/nvidia/<component>/include (or nvidia/cu13/include)
    nvidia = os.path.join(os.path.dirname(os.path.dirname(torch_lib)), "nvidia")
    found = []
    for dirpath, _dirs, files in os.walk(nvidia) if os.path.isdir(nvidia) else ():
        if os.path.basename(dirpath) == "include" and any(f.endswith(".h") for f in files):
            found.append(dirpath)
    if any(os.path.isfile(os.path.join(d, "cuda_runtime_api.h")) for d in found):
        return sorted(found)
    return []


def _find_dependencies() -> dict:
    """Locate the installed torch and openmm (headers, libraries, SWIG interface)."""
    missing = []
    try:
        import torch
        import torch.utils.cpp_extension as cpp_extension
    except ImportError:
        missing.append("torch")
    try:
        import openmm
        import openmm.version
    except ImportError:
        missing.append("openmm")
    try:
        import swig
    except ImportError:
        missing.append('"swig>=4.4"')
    if missing:
        raise BuildError(
            "openmm-cgml compiles its OpenMM plugin against the installed packages, but "
            f"{', '.join(missing)} is not installed. Run first:\n"
            '    pip install torch openmm "swig>=4.4" numpy\n'
            "then:\n    pip install --no-build-isolation ."
        )
    swig_version = tuple(int(x) for x in re.findall(r"\d+", swig.__version__)[:2])
    if swig_version < MIN_SWIG:
        raise BuildError(
            f"SWIG {swig.__version__} is too old: OpenMM's Python module needs objects made by "
            'SWIG >= 4.4. Run: pip install "swig>=4.4"'
        )
    omm_lib = os.path.realpath(openmm.version.openmm_library_path)
    omm_include = os.path.join(os.path.dirname(omm_lib), "include")
    needed = [
        os.path.join(omm_include, "openmm", "internal", "ContextImpl.h"),
        os.path.join(omm_include, "openmm", "internal", "CustomCPPForceImpl.h"),
        os.path.join(omm_include, "swig", "OpenMMSwigHeaders.i"),
        os.path.join(omm_include, "swig", "typemaps.i"),
    ]
    for path in needed:
        if not os.path.exists(path):
            raise BuildError(
                f"the installed openmm ({openmm.__version__}) has no C++ SDK: {path} is missing. "
                "Install openmm from PyPI (pip install openmm) or conda-forge, which ship the "
                "headers and the SWIG interface files."
            )
    torch_libs = cpp_extension.library_paths()
    torch_lib = torch_libs[0]
    libraries = ["OpenMM", "c10", "torch", "torch_cpu"]
    for name in ("torch_cuda", "c10_cuda"):
        if os.path.exists(os.path.join(torch_lib, f"lib{name}.so")):
            libraries.append(name)
    return {
        "torch_version": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cxx11_abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
        "openmm_version": openmm.__version__,
        "swig_version": swig.__version__,
        "swig_module": swig,
        "openmm_lib": omm_lib,
        "openmm_include": omm_include,
        "torch_include": cpp_extension.include_paths(),
        "torch_lib": torch_libs,
        "libraries": libraries,
        "cuda_include": _cuda_include_dirs(torch_lib),
    }


def _run_swig(deps: dict, interface: str, wrapper: str, outdir: str) -> None:
    swig = deps["swig_module"]
    cmd = [
        os.path.join(swig.BIN_DIR, "swig"),
        "-python",
        "-c++",
        "-threads",
        "-doxygen",
        f"-I{deps['openmm_include']}",
        f"-I{PLUGIN_SRC}",
        "-outdir",
        outdir,
        "-o",
        wrapper,
        interface,
    ]
    env = dict(os.environ)
    env["SWIG_LIB"] = swig.SWIG_LIB_ENV["SWIG_LIB"]
    print("running " + " ".join(cmd), flush=True)
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError("SWIG failed:\n" + result.stdout + result.stderr)


def _newer(target: str, sources: list[str]) -> bool:
    """True if target is missing or older than any of the sources."""
    if not os.path.exists(target):
        return True
    mtime = os.path.getmtime(target)
    return any(os.path.getmtime(s) > mtime for s in sources if os.path.exists(s))


class BuildPluginExt(build_ext):
    """Build the SWIG/libtorch plugin; other extensions (none today) build normally."""

    def build_extension(self, ext: Extension) -> None:
        if ext.name != EXT_NAME:
            super().build_extension(ext)
            return
        try:
            self._build_plugin(ext)
        except BuildError as exc:
            sys.stderr.write(f"\nerror: openmm-cgml plugin build failed: {exc}\n\n")
            raise SystemExit(1) from None

    def _build_plugin(self, ext: Extension) -> None:
        deps = _find_dependencies()
        print(
            f"openmm-cgml: building the plugin against torch {deps['torch_version']}"
            f" (cuda {deps['torch_cuda']}), openmm {deps['openmm_version']},"
            f" swig {deps['swig_version']}",
            flush=True,
        )
        build_temp = os.path.abspath(os.path.join(self.build_temp, "cgml"))
        os.makedirs(build_temp, exist_ok=True)
        ext_path = os.path.abspath(self.get_ext_fullpath(ext.name))
        ext_dir = os.path.dirname(ext_path)
        os.makedirs(ext_dir, exist_ok=True)
        os.makedirs(PLUGIN_PKG_DIR, exist_ok=True)

        # 1. SWIG: the proxy module goes to the source package (picked up by build_py and by
        #    editable installs) and next to the extension.
        interface = os.path.join(PLUGIN_SRC, "cgml.i")
        wrapper = os.path.join(build_temp, "cgml_wrap.cpp")
        headers = [os.path.join(PLUGIN_SRC, h) for h in os.listdir(PLUGIN_SRC) if h.endswith(".h")]
        proxy_py = os.path.join(PLUGIN_PKG_DIR, "cgmlswig.py")
        if _newer(wrapper, [interface, *headers]) or not os.path.exists(proxy_py):
            _run_swig(deps, interface, wrapper, PLUGIN_PKG_DIR)

        # 2. Compile (two sources at a time) and link.
        include_dirs = [PLUGIN_SRC, deps["openmm_include"], *deps["torch_include"],
                        *deps["cuda_include"]]
        abi = "1" if deps["cxx11_abi"] else "0"
        cflags = ["-std=c++17", "-O2", "-g0", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
                  "-Wno-unused-function", "-Wno-deprecated-declarations", "-Wno-reorder"]
        if deps["cuda_include"]:
            cflags.append("-DCGML_CUDA_GRAPHS")
            print("openmm-cgml: CUDA graphs enabled (CUDA headers in "
                  f"{deps['cuda_include'][0]})", flush=True)
        elif deps["torch_cuda"]:
            print("openmm-cgml: CUDA torch but no CUDA runtime headers found (set CUDA_HOME): "
                  "building without CUDA-graph support", flush=True)
        compiler = self.compiler
        for attr in ("compiler_so", "compiler_so_cxx", "compiler", "compiler_cxx"):
            flags = getattr(compiler, attr, None)
            if flags:
                drop = ("-Wstrict-prototypes", "-g")
                setattr(compiler, attr, [f for f in flags if f not in drop])
        sources = [os.path.join(PLUGIN_SRC, s) for s in CXX_SOURCES] + [wrapper]

        graph_support = {"on": bool(deps["cuda_include"])}

        def compile_one(source: str) -> str:
            obj = os.path.join(build_temp, os.path.basename(source) + ".o")
            if self.force or _newer(obj, [source, *headers]):
                print(f"compiling {os.path.basename(source)}", flush=True)
                cc_args = [f"-I{d}" for d in include_dirs + list(self.include_dirs or [])]
                try:
                    compiler._compile(obj, source, os.path.splitext(source)[1],
                                      [*cc_args, "-c"], cflags, [])
                except CompileError:
                    if "-DCGML_CUDA_GRAPHS" not in cflags:
                        raise
                    # the CUDA-graph path is an optimisation: never let it break the install
                    print(f"openmm-cgml: {os.path.basename(source)} did not compile with CUDA "
                          "graphs; building it without them", flush=True)
                    graph_support["on"] = False
                    compiler._compile(obj, source, os.path.splitext(source)[1],
                                      [*cc_args, "-c"],
                                      [f for f in cflags if f != "-DCGML_CUDA_GRAPHS"], [])
            return obj

        jobs = int(os.environ.get("CGML_BUILD_JOBS", "2"))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            objects = list(pool.map(compile_one, sources))

        lib_dirs = [os.path.dirname(deps["openmm_lib"]) if deps["openmm_lib"].endswith(".so")
                    else deps["openmm_lib"], *deps["torch_lib"]]
        # $ORIGIN-relative paths first (survive moving the environment), absolute as fallback.
        # A wheel build lands in the same site-packages as torch/openmm: openmm_cgml/plugin/.
        rpaths = []
        for d in lib_dirs:
            if self.inplace:
                rpaths.append("$ORIGIN/" + os.path.relpath(d, ext_dir))
            else:
                site = d
                while site != os.path.dirname(site) and os.path.basename(site) not in (
                    "site-packages", "dist-packages"
                ):
                    site = os.path.dirname(site)
                if os.path.basename(site) in ("site-packages", "dist-packages"):
                    rpaths.append("$ORIGIN/../../" + os.path.relpath(d, site))
            rpaths.append(d)
        link_args = ["-Wl,--disable-new-dtags", "-Wl,--no-as-needed"]
        link_args += [f"-Wl,-rpath,{r}" for r in rpaths]
        link_args += [f"-L{d}" for d in lib_dirs] + [f"-l{lib}" for lib in deps["libraries"]]
        print(f"linking {os.path.basename(ext_path)}", flush=True)
        compiler.link_shared_object(objects, ext_path, extra_postargs=link_args,
                                    target_lang="c++")

        # 3. Record what the plugin was built against.
        info = {
            "torch_version": deps["torch_version"],
            "torch_cuda": deps["torch_cuda"],
            "openmm_version": deps["openmm_version"],
            "swig_version": deps["swig_version"],
            "python": sysconfig.get_python_version(),
            "openmm_lib": lib_dirs[0],
            "torch_lib": deps["torch_lib"][0],
            "cuda_graphs": graph_support["on"],
        }
        info_path = os.path.join(PLUGIN_PKG_DIR, "_build_info.json")
        with open(info_path + ".tmp", "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2)
        os.replace(info_path + ".tmp", info_path)
        if os.path.realpath(ext_dir) != os.path.realpath(PLUGIN_PKG_DIR):
            for name in ("cgmlswig.py", "_build_info.json"):
                shutil.copy2(os.path.join(PLUGIN_PKG_DIR, name), os.path.join(ext_dir, name))


class BuildPyWithExt(build_py):
    """Run build_ext before build_py so that the SWIG-generated cgmlswig.py is installed."""

    def run(self) -> None:
        self.run_command("build_ext")
        super().run()


setup(
    name="openmm-cgml",
    version=_read_version(),
    description="Learned coarse-grained molecular dynamics at nanosecond time steps inside OpenMM",
    long_description=open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(ROOT, "README.md"))
    else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["openmm_cgml", "openmm_cgml.*"]),
    package_data={
        "openmm_cgml.plugin": ["_build_info.json"],
        "openmm_cgml.pretrained": [
            "*.json", "*.safetensors", "*.pt", "*.yaml", "*.txt", "*.md",
            "**/*.json", "**/*.safetensors", "**/*.pt", "**/*.yaml", "**/*.txt", "**/*.md",
        ],
    },
    include_package_data=False,
    ext_modules=[Extension(EXT_NAME, sources=[])],
    cmdclass={"build_ext": BuildPluginExt, "build_py": BuildPyWithExt},
    install_requires=[
        "numpy",
        "torch",
        "openmm",
        "pdbfixer",
        "mdtraj",
        "h5py",
        "safetensors",
        "pyyaml",
        "tqdm",
        "matplotlib",
        "scipy",
        "pymetis",
        "deeptime",
    ],
    extras_require={"test": ["pytest", "ruff"]},
    entry_points={"console_scripts": ["cgml=openmm_cgml.cli:main"]},
    zip_safe=False,
)
