#!/usr/bin/env python3
"""Fails when a folder of mfjit includes a header of a folder above it.

The folders are layers (DESIGN.md §2; docs/architecture.md, "Layers"), and each may include
only from itself and the folders below it: the table LAYERS says which, and the check closes
it transitively. Every #include of every source file of a layer is resolved as the compiler
would find it in this source tree: next to the including file, else under any include/ or
src/ folder of a layer, or a layer's own folder (templates/ is on the include path). A header
found in a layer that is neither the includer's nor below it is a violation; a header found
nowhere in the tree (the standard library, SQLite, LLVM, CUDA, HIP, a header generated into
the build tree) is not ours and is skipped.

tests/ is not a layer: tests may reach anything. Usage: check_include_directions.py [ROOT]
(the repository root; by default the one this file lies in). Prints each violation and exits
1 if there is one.
"""
import os
import re
import sys

# Each layer and the layers it may include from directly; below them is allowed too.
LAYERS = {
    "ir": [],
    "templates": [],
    "tuning_db": [],
    "compiler": ["ir", "templates"],
    "compiler/mlir": ["compiler"],
    "runtime/reference": ["ir"],
    "runtime": ["compiler", "compiler/mlir", "runtime/reference", "tuning_db"],
    "runtime/bridge": ["runtime"],
    "tuner": ["runtime", "runtime/bridge", "tuning_db"],
    "tools": ["tuner"],
    "python/xla_ffi": ["runtime"],
    "examples": ["runtime"],
}

SOURCE_SUFFIXES = (".h", ".hpp", ".c", ".cc", ".cpp", ".cu", ".cuh", ".inc")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.MULTILINE)


def below(layer, seen=None):
    """The layers `layer` may include from: itself and everything below it."""
    seen = set() if seen is None else seen
    if layer not in seen:
        seen.add(layer)
        for lower in LAYERS[layer]:
            below(lower, seen)
    return seen


def layer_of(path):
    """The innermost layer holding `path` (relative to the root, '/'-separated), or None."""
    best = None
    for layer in LAYERS:
        if (path == layer or path.startswith(layer + "/")) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def source_files(root, folder):
    """The source files under `folder`, as paths relative to `root`."""
    for where, subfolders, files in os.walk(os.path.join(root, folder)):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith(".") and s != "__pycache__")
        for name in sorted(files):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.relpath(os.path.join(where, name), root).replace(os.sep, "/")


def include_names(every_file):
    """Each #include name and the layers of the files it may name: a file is named by its path
    from its layer's folder and from any include/ or src/ folder above it."""
    named = {}
    for path in every_file:
        layer = layer_of(path)
        names = {path[len(layer) + 1:]}
        for part in ("/include/", "/src/"):
            if part in path:
                names.add(path.split(part, 1)[1])
                names.add(path.rsplit(part, 1)[1])
        for name in names:
            named.setdefault(name, set()).add(layer)
    return named


def violations_in(path, text, every_file, named):
    """The includes of `path` (whose text is `text`) that name a header above its layer."""
    layer = layer_of(path)
    allowed = below(layer)
    for match in INCLUDE.finditer(text):
        included = match.group(1)
        beside = os.path.normpath(os.path.join(os.path.dirname(path), included)).replace(os.sep, "/")
        found = {layer_of(beside)} if beside in every_file else named.get(included, set())
        if found and not found & allowed:
            line = text.count("\n", 0, match.start()) + 1
            yield (f"{path}:{line}: {layer}/ includes \"{included}\" of "
                   f"{' or '.join(sorted(f + '/' for f in found))}, which is not below it")


def main(root):
    every_file = {path for layer in LAYERS for path in source_files(root, layer)}
    if not every_file:
        print(f"no source files under {root}: is it the repository root?")
        return 1
    named = include_names(every_file)
    violations = []
    for path in sorted(every_file):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as source:
            violations.extend(violations_in(path, source.read(), every_file, named))
    for violation in violations:
        print(violation)
    print(f"{len(every_file)} files of {len(LAYERS)} layers checked, {len(violations)} includes against the direction")
    return 1 if violations else 0


if __name__ == "__main__":
    default_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default_root))
