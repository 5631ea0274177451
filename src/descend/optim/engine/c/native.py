"""A remembered step's checks in one native call: a small CPython extension built against torch's headers.

Verifying what a kernel walks costs Python a few hundred nanoseconds per tensor and attribute (type, dtype,
layout, device, shape, contiguity, address): for a hundred parameters, more than the kernel takes over a
million elements, and more than torch's whole multi-tensor step over small tensors. The same checks in C++
read the tensors' own fields and take a few microseconds for the whole group.

The extension is built once per machine, in a background thread (a C++ compiler takes some seconds on
torch's headers), into the same private, verified cache as the kernels (:mod:`.build`); until it is ready, or
where it cannot be built (no C++ compiler, no headers), the plan checks in Python. Its cache key covers the
source, the compiler, torch's version and include paths, and Python's, so another torch builds another one.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import shutil
import sys
import sysconfig
import threading
from pathlib import Path
from types import ModuleType

import torch

from descend.optim.engine.backend import CompileError
from descend.optim.engine.c import build

SOURCE = r"""
#include <Python.h>
#include <torch/csrc/autograd/python_variable.h>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// One record per tensor the kernel walks: address, number of elements, dtype, hash of the shape.
struct Record { int64_t ptr, numel, dtype, shape; };

int64_t shape_hash(const at::Tensor& t) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)t.dim();
  for (int64_t s : t.sizes()) h = (h ^ (uint64_t)s) * 1099511628211ull;
  return (int64_t)h;
}

// A tensor whose memory may be walked: dense, contiguous, on the CPU, not a wrapper subclass (DTensor).
bool walkable(const at::Tensor& t) {
  return t.defined() && t.layout() == c10::kStrided && t.is_cpu() && t.is_contiguous() &&
         !t.unsafeGetTensorImpl()->key_set().has(c10::DispatchKey::Python);
}

const at::Tensor* tensor(PyObject* obj) {
  return THPVariable_Check(obj) ? &THPVariable_Unpack(obj) : nullptr;
}

// The loads the checks make, issued for all tensors of a list at once, one link of the chain at a time
// (object, its TensorImpl, then what that points to: storage, autograd metadata, gradient). Right after a
// kernel or a backward pass has streamed the parameters through the caches none of it is cached, and
// checking tensor after tensor would wait for memory at every link; this way the waits overlap.
template <class T>
void fetch(const T* p) {
  for (size_t at = 0; at < sizeof(T); at += 64) __builtin_prefetch((const char*)p + at);
}

void warm(PyObject* list, bool grads) try {
  if (!PyList_Check(list)) return;
  const Py_ssize_t n = PyList_GET_SIZE(list);
  for (Py_ssize_t i = 0; i < n; ++i) __builtin_prefetch(PyList_GET_ITEM(list, i));
  std::vector<c10::TensorImpl*> impls;
  impls.reserve(n);
  for (Py_ssize_t i = 0; i < n; ++i)
    if (const at::Tensor* t = tensor(PyList_GET_ITEM(list, i))) impls.push_back(t->unsafeGetTensorImpl());
  for (c10::TensorImpl* impl : impls) fetch(impl);
  for (c10::TensorImpl* impl : impls) {
    __builtin_prefetch(impl->unsafe_storage().unsafeGetStorageImpl());
    if (grads && impl->autograd_meta()) fetch(impl->autograd_meta());
  }
  if (!grads) return;
  std::vector<c10::TensorImpl*> grad_impls;
  for (c10::TensorImpl* impl : impls)
    if (impl->autograd_meta() && impl->grad().defined())
      grad_impls.push_back(impl->grad().unsafeGetTensorImpl());
  for (c10::TensorImpl* g : grad_impls) fetch(g);
  for (c10::TensorImpl* g : grad_impls) __builtin_prefetch(g->unsafe_storage().unsafeGetStorageImpl());
} catch (...) {  // only a hint: the checks that follow read everything properly
}

// record(tensors) -> bytes: the records of walkable tensors, or None if one is not walkable.
PyObject* record(PyObject*, PyObject* arg) {
  if (!PyList_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "record takes a list of tensors");
    return nullptr;
  }
  Py_ssize_t n = PyList_GET_SIZE(arg);
  PyObject* out = PyBytes_FromStringAndSize(nullptr, n * (Py_ssize_t)sizeof(Record));
  if (!out) return nullptr;
  Record* r = (Record*)PyBytes_AS_STRING(out);
  for (Py_ssize_t i = 0; i < n; ++i) {
    const at::Tensor* t = tensor(PyList_GET_ITEM(arg, i));
    if (!t || !walkable(*t)) { Py_DECREF(out); Py_RETURN_NONE; }
    r[i] = {(int64_t)t->data_ptr(), t->numel(), (int64_t)t->scalar_type(), shape_hash(*t)};
  }
  return out;
}

// verify(group_params, params, state, states, keys, values, walked, records, grads_out) -> bool
//   group_params: the group's parameter list; params: those that had a gradient when the plan was made
//   (exactly those must have one now, each a walkable tensor of its parameter's dtype and shape);
//   state: the optimizer's state dict, states[i]: params[i]'s state dict (None: no entry), keys[i] and
//   values[i]: its keys and values then; walked and records: every tensor the kernel walks, unchanged.
//   On success the gradients' addresses are written to grads_out.
PyObject* verify(PyObject*, PyObject* args) {
  PyObject *group_params, *params, *state, *states, *keys, *values, *walked;
  Py_buffer records, grads_out;
  if (!PyArg_ParseTuple(args, "O!O!OO!O!O!O!y*w*", &PyList_Type, &group_params, &PyList_Type, &params, &state,
                        &PyList_Type, &states, &PyList_Type, &keys, &PyList_Type, &values, &PyList_Type,
                        &walked, &records, &grads_out))
    return nullptr;
  warm(group_params, true);
  warm(walked, false);
  bool ok = true;
  Py_ssize_t n = PyList_GET_SIZE(params), k = 0;
  int64_t* out = (int64_t*)grads_out.buf;
  const Record* rec = (const Record*)records.buf;
  if (grads_out.len < n * (Py_ssize_t)sizeof(int64_t) ||
      records.len != PyList_GET_SIZE(walked) * (Py_ssize_t)sizeof(Record))
    ok = false;
  for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(group_params); ++i) {
    PyObject* obj = PyList_GET_ITEM(group_params, i);
    const at::Tensor* p = tensor(obj);
    if (!p) { ok = false; break; }
    const at::Tensor& g = p->grad();
    if (!g.defined()) continue;
    if (k >= n || obj != PyList_GET_ITEM(params, k) || !walkable(g) || g.scalar_type() != p->scalar_type() ||
        !g.sizes().equals(p->sizes())) { ok = false; break; }
    out[k++] = (int64_t)g.data_ptr();
  }
  ok = ok && k == n;
  for (Py_ssize_t i = 0; ok && state != Py_None && i < n; ++i) {
    PyObject* expected = PyList_GET_ITEM(states, i);
    PyObject* found = PyDict_GetItemWithError(state, PyList_GET_ITEM(params, i));
    if (PyErr_Occurred()) { ok = false; break; }
    if (expected == Py_None) { ok = found == nullptr; continue; }
    PyObject *names = PyList_GET_ITEM(keys, i), *vals = PyList_GET_ITEM(values, i);
    if (found != expected || !PyDict_Check(found) || PyDict_GET_SIZE(found) != PyTuple_GET_SIZE(vals)) {
      ok = false; break;
    }
    Py_ssize_t pos = 0, j = 0;
    PyObject *key, *value;
    while (ok && PyDict_Next(found, &pos, &key, &value)) {
      ok = value == PyTuple_GET_ITEM(vals, j) && key == PyTuple_GET_ITEM(names, j);
      ++j;
    }
  }
  for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(walked); ++i) {
    const at::Tensor* t = tensor(PyList_GET_ITEM(walked, i));
    ok = t && walkable(*t) && (int64_t)t->data_ptr() == rec[i].ptr && t->numel() == rec[i].numel &&
         (int64_t)t->scalar_type() == rec[i].dtype && shape_hash(*t) == rec[i].shape;
  }
  PyBuffer_Release(&records);
  PyBuffer_Release(&grads_out);
  if (PyErr_Occurred()) PyErr_Clear();
  return PyBool_FromLong(ok);
}

// bump(tensors): add one to each tensor's version counter, as an in-place operation would.
PyObject* bump(PyObject*, PyObject* arg) {
  if (!PyList_Check(arg)) {
    PyErr_SetString(PyExc_TypeError, "bump takes a list of tensors");
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < PyList_GET_SIZE(arg); ++i) {
    const at::Tensor* t = tensor(PyList_GET_ITEM(arg, i));
    if (!t) {
      PyErr_SetString(PyExc_TypeError, "bump takes a list of tensors");
      return nullptr;
    }
    t->unsafeGetTensorImpl()->bump_version();
  }
  Py_RETURN_NONE;
}

PyMethodDef methods[] = {
    {"record", record, METH_O, "the records of a list of walkable tensors, or None"},
    {"bump", bump, METH_O, "add one to each tensor's version counter"},
    {"verify", verify, METH_VARARGS, "whether a remembered step still holds; fills the gradients' addresses"},
    {nullptr, nullptr, 0, nullptr}};
PyModuleDef module = {PyModuleDef_HEAD_INIT, "descend_native", nullptr, -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit_descend_native(void) { return PyModule_Create(&module); }
"""


def _command(source: str, output: str) -> list[str]:
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None:
        raise CompileError("no C++ compiler was found")
    from torch.utils.cpp_extension import include_paths

    lib = Path(torch.__file__).parent / "lib"
    abi = int(torch.compiled_with_cxx11_abi())
    return [
        cxx, "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        *(f"-I{p}" for p in include_paths()), f"-I{sysconfig.get_paths()['include']}", source, "-o", output,
        f"-L{lib}", "-lc10", "-ltorch_cpu", "-ltorch_python", f"-Wl,-rpath,{lib}",
        f"-DDESCEND_TORCH={torch.__version__}", f"-DDESCEND_PYTHON={sys.hexversion}",
    ]  # fmt: skip


_LOCK = threading.Lock()
_STATE: dict[str, object] = {"module": None, "thread": None, "error": None}


def _build() -> None:
    try:
        path = build.library(SOURCE, "native", _command, ".cpp")
        loader = importlib.machinery.ExtensionFileLoader("descend_native", str(path))
        spec = importlib.util.spec_from_file_location("descend_native", path, loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        _STATE["module"] = module
    except (CompileError, OSError, ImportError) as e:  # quiet: the plan checks in Python instead
        _STATE["error"] = str(e)


def module(wait: bool = False) -> ModuleType | None:
    """The native checks if they are built, else None (starting the build in the background, once).

    With ``wait``, build first if needed (tests, benchmarks).
    """
    found = _STATE["module"]
    if found is not None or _STATE["error"] is not None:
        return found  # type: ignore[return-value]
    with _LOCK:
        thread = _STATE["thread"]
        if thread is None:
            thread = threading.Thread(target=_build, name="descend-native-build", daemon=True)
            _STATE["thread"] = thread
            thread.start()
    if wait:
        thread.join()  # type: ignore[union-attr]
    return _STATE["module"]  # type: ignore[return-value]


def error() -> str | None:
    """Why the native checks could not be built, or None."""
    return _STATE["error"]  # type: ignore[return-value]
