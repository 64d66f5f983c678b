"""Loads a SavedModel in a fresh Python process that never imports
keras_ssl, the way TF Serving sees an export."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

FRESH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    loaded = tf.saved_model.load(sys.argv[1])
    with open(sys.argv[2]) as f:
        plan = json.load(f)
    out = {"signatures": {}}
    for name, signature in loaded.signatures.items():
        _, specs = signature.structured_input_signature
        out["signatures"][name] = {
            k: [list(s.shape), s.dtype.name] for k, s in specs.items()
        }
    for name in sorted(loaded.signatures):
        if name in plan["explicit"]:
            paths = plan["explicit"][name]
        elif set(out["signatures"][name]) == {"inputs"} and plan["default"]:
            paths = {"inputs": plan["default"]}
        else:
            continue
        arguments = {k: tf.constant(np.load(p)) for k, p in paths.items()}
        result = loaded.signatures[name](**arguments)
        out[name] = {k: np.asarray(v).tolist() for k, v in result.items()}
    out["keras_ssl_imported"] = "keras_ssl" in sys.modules
    print(json.dumps(out))
    """
)


def run_signatures(path, inputs, work_dir):
    """Every signature of the SavedModel at `path`, run in a fresh process.

    Args:
        path: the SavedModel directory (`<base>/<name>/<version>`).
        inputs: an array, given as `inputs=` to every signature whose only
            input is `inputs`; or a dict `{signature: {input: array}}` for
            signatures with other inputs (the array form still applies to
            a key `"inputs"` of the dict, if present, for the rest).
        work_dir: a directory for the inputs and the loader script.

    Returns:
        A dict `{signature: {output: list}}` for every signature that was
        run, `signatures` (each signature's input names with their shape
        and dtype), and `keras_ssl_imported` (always expected False).
    """
    work_dir = str(work_dir)
    if isinstance(inputs, dict):
        explicit = dict(inputs)
        default = explicit.pop("inputs", None)
    else:
        explicit, default = {}, inputs
    arrays = {}
    if default is not None:
        arrays["__default__"] = np.asarray(default)
    for signature, named in explicit.items():
        for key, value in named.items():
            arrays[f"{signature}.{key}"] = np.asarray(value)
    paths = {}
    for key, value in arrays.items():
        paths[key] = os.path.join(work_dir, f"fresh_{key}.npy")
        np.save(paths[key], value)
    script = os.path.join(work_dir, "fresh_load.py")
    with open(script, "w") as f:
        f.write(FRESH)
    plan = {
        "default": paths.get("__default__"),
        "explicit": {
            name: {k: paths[f"{name}.{k}"] for k in named}
            for name, named in explicit.items()
        },
    }
    plan_path = os.path.join(work_dir, "fresh_plan.json")
    with open(plan_path, "w") as f:
        json.dump(plan, f)
    result = subprocess.run(
        [sys.executable, script, path, plan_path],
        capture_output=True,
        text=True,
        cwd=work_dir,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    if result.returncode != 0:
        raise AssertionError(
            "loading the SavedModel in a fresh process failed:\n"
            + result.stderr[-3000:]
        )
    return json.loads(result.stdout.strip().splitlines()[-1])
