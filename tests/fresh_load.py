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
    x = tf.constant(np.load(sys.argv[2]))
    out = {}
    for name in sorted(loaded.signatures):
        result = loaded.signatures[name](inputs=x)
        out[name] = {k: np.asarray(v).tolist() for k, v in result.items()}
    out["keras_ssl_imported"] = "keras_ssl" in sys.modules
    print(json.dumps(out))
    """
)


def run_signatures(path, x, work_dir):
    """Every signature of the SavedModel at `path` applied to `x`.

    Returns a dict `{signature: {output: list}}` plus
    `keras_ssl_imported` (always expected False).
    """
    work_dir = str(work_dir)
    inputs = os.path.join(work_dir, "fresh_inputs.npy")
    np.save(inputs, np.asarray(x, dtype="float32"))
    script = os.path.join(work_dir, "fresh_load.py")
    with open(script, "w") as f:
        f.write(FRESH)
    result = subprocess.run(
        [sys.executable, script, path, inputs],
        capture_output=True,
        text=True,
        cwd=work_dir,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
