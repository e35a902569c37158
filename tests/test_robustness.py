"""Implementations that hang, crash or misbehave: the run survives them and names what they did.

Toy implementations are written to ``tmp_path`` and judged by the gate in a subprocess, as a user runs it;
the misbehaviour checks of the TF runner are also exercised in-process.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conformance.contracts import REGISTRY
from conformance.isolation import DEFAULT_TIMEOUT, GATE_EXAMPLES, MAX_SCALE, result_from_nodeid
from conformance.runners.tf import ContractViolation, Runner, prepare

ROOT = Path(__file__).resolve().parents[1]
NN = "sigmoid and not cross and not focal or softmax and not cross"  # -k for the names sigmoid and softmax
_RUN = itertools.count()


def run_gate(impl: Path, *args: str, cwd: Path = ROOT, timeout: int = 900) -> tuple[subprocess.CompletedProcess, dict]:
    """``pytest conformance --impl=IMPL ARGS --report-json``: the process and its JSON report."""
    report = impl.parent / f"{impl.stem}-{next(_RUN)}.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(impl.parent))
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_TIMEOUT", None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "conformance", f"--impl={impl}",
                        f"--report-json={report}", *args], cwd=cwd, capture_output=True, text=True, env=env,
                       timeout=timeout)
    return r, json.loads(report.read_text()) if report.exists() else {}


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source))
    return path


def results_by_name(doc: dict) -> dict[str, dict]:
    return {(r["name"], r["category"]): r for r in doc["results"]}


# --- hangs ---------------------------------------------------------------------------------------------------------

def test_hanging_call_times_out_and_the_run_goes_on(tmp_path):
    impl = write(tmp_path, "hanging_sigmoid", """
        import time
        import tensorflow as tf

        def sigmoid(x):
            while True:  # a Python loop that never ends
                time.sleep(0.05)

        softmax = tf.nn.softmax
    """)
    html = tmp_path / "report.html"
    r, doc = run_gate(impl, "-k", NN, "-m", "value", "--timeout=15", f"--report={html}")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    assert doc["summary"] == {"sigmoid": {"value": "timeout"}, "softmax": {"value": "passed"}}, out[-3000:]
    res = results_by_name(doc)[("sigmoid", "value")]
    assert (res["dtype"], res["mode"], res["family"]) == ("float32", "eager", "nn")
    assert res["message"].startswith("Timeout (>15s)")
    assert "ImplementationTimeout" in out and "time.sleep" in out  # where it hung, in the traceback
    assert any(line.split()[:2] == ["sigmoid", "TIMEOUT"] for line in r.stdout.splitlines())
    assert ">TIMEOUT<" in html.read_text()


def test_crash_and_hang_in_compiled_code_under_xdist(tmp_path):
    """os._exit kills the worker; a blocking TensorFlow op ignores the alarm: both get verdicts, the others too."""
    impl = write(tmp_path, "crashing", """
        import os
        import tensorflow as tf

        def sigmoid(x):
            os._exit(3)

        def softmax(logits, axis=-1):
            tf.queue.FIFOQueue(1, tf.float32).dequeue()  # blocks inside TensorFlow: no Python signal handler runs
            return tf.nn.softmax(logits, axis=axis)

        smooth_l1 = __import__("conformance.targets.reference", fromlist=["smooth_l1"]).smooth_l1
    """)
    r, doc = run_gate(impl, "-k", f"{NN} or smooth_l1", "-m", "value", "--timeout=30", "-n", "2")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    assert doc["summary"] == {"sigmoid": {"value": "crashed"}, "softmax": {"value": "timeout"},
                              "smooth_l1": {"value": "passed"}}, out[-3000:]
    res = results_by_name(doc)
    assert "crashed while running" in res[("sigmoid", "value")]["message"]
    assert "did not return to Python" in res[("softmax", "value")]["message"]
    rows = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines() if line.split()[:1] in
            (["sigmoid"], ["softmax"], ["smooth_l1"]) and len(line.split()) > 1}
    assert rows == {"sigmoid": "CRASHED", "softmax": "TIMEOUT", "smooth_l1": "pass"}


def test_default_timeout_unless_the_user_sets_one(tmp_path):
    probe = write(tmp_path, "timeout_probe", """
        def pytest_collection_finish(session):
            for item in session.items:
                m = item.get_closest_marker("timeout")
                print("TIMEOUT-MARKER", item.nodeid, m.args[0] if m else None)
    """)
    impl = write(tmp_path, "one_name", "from conformance.targets.reference import smooth_l1\n")

    def markers(*args: str) -> set:
        r, _ = run_gate(impl, "-p", probe.stem, "-k", "smooth_l1", "-m", "value", "--collect-only", "-q", *args)
        found = {line.split()[2] for line in r.stdout.splitlines() if line.startswith("TIMEOUT-MARKER")}
        assert found, r.stdout[-2000:] + r.stderr[-2000:]
        return found

    assert markers() == {str(DEFAULT_TIMEOUT)}
    # a profile drawing more examples per check waits longer (the thorough profile: 500, capped at MAX_SCALE times)
    assert markers("--hypothesis-profile=conformance-thorough") == {str(DEFAULT_TIMEOUT * MAX_SCALE)}
    assert markers("--timeout=7", "-o", "timeout=9") == {"None"}  # pytest-timeout's own settings apply


@pytest.mark.parametrize(("examples", "seconds"), [(25, DEFAULT_TIMEOUT), (60, DEFAULT_TIMEOUT * 60 / GATE_EXAMPLES),
                                                    (500, DEFAULT_TIMEOUT * MAX_SCALE), (10, DEFAULT_TIMEOUT)])
def test_default_timeout_scales_with_the_profiles_examples(examples, seconds):
    """The dev profile's 60 examples wait 60/25 times the gate's; more than MAX_SCALE times never; fewer never less."""
    from hypothesis import settings

    from conformance.isolation import default_timeout

    before = settings.get_current_profile_name()
    settings.register_profile("timeout-scale", max_examples=examples)
    settings.load_profile("timeout-scale")  # the profile in force while the suite adds its markers
    try:
        assert default_timeout() == pytest.approx(seconds)
    finally:
        settings.load_profile(before)


def test_crash_report_node_ids_name_the_check():
    r = result_from_nodeid("conformance/suite/test_gradient.py::test_gradient[bbox_giou-float16-xla]", "crashed", "m")
    assert (r.name, r.family, r.category, r.dtype, r.mode, r.status) == ("bbox_giou", "yolov3", "gradient", "float16",
                                                                         "xla", "crashed")
    r = result_from_nodeid("x/test_timing.py::test_timing[focal_loss-production-fwd-float32-eager]", "crashed", "m")
    assert (r.name, r.category, r.dtype, r.mode) == ("focal_loss", "timing", "float32", "eager")
    # the longest name that fits: "loss" is also a contract name
    assert result_from_nodeid("a.py::test_value[giou_loss-float32-eager]", "crashed", "m").name == "giou_loss"
    assert result_from_nodeid("tests/test_x.py::test_other[1-2]", "crashed", "m") is None


# --- misbehaviour ----------------------------------------------------------------------------------------------------

def test_misbehaving_implementations_fail_with_clear_messages(tmp_path):
    impl = write(tmp_path, "misbehaving", """
        import keras
        import numpy as np
        import tensorflow as tf
        from conformance.targets import reference

        def sigmoid(x):  # a NumPy array, not a tensor
            return 1 / (1 + np.exp(-x.numpy()))

        def softmax(logits, axis=-1):  # float64 from a float32 call
            return tf.nn.softmax(tf.cast(logits, tf.float64), axis=axis)

        def smooth_l1(x):  # sets the Keras global policy
            keras.mixed_precision.set_global_policy("mixed_float16")
            return reference.smooth_l1(x)

        def decode(conv_output, anchors, stride, num_class):  # right values, but scales the caller's anchors
            out = reference.decode(conv_output, anchors, stride, num_class)
            anchors *= 2
            return out

        bbox_iou = reference.bbox_iou  # conforms, and is judged after the others changed things
    """)
    r, doc = run_gate(impl, "-k", f"{NN} or smooth_l1 or decode or bbox_iou", "-m", "value")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out[-3000:]
    assert doc["summary"] == {"sigmoid": {"value": "failed"}, "softmax": {"value": "failed"},
                              "smooth_l1": {"value": "failed"}, "decode": {"value": "failed"},
                              "bbox_iou": {"value": "passed"}}, out[-3000:]
    msg = {name: res["message"] for (name, _), res in results_by_name(doc).items()}
    assert "sigmoid returned a NumPy array (ndarray) as its output instead of a tf.Tensor" in msg["sigmoid"]
    assert "softmax returned float64 as its output for float32 inputs" in msg["softmax"]
    assert "changed the keras global dtype policy" in msg["smooth_l1"]
    assert "'float32' -> 'mixed_float16' (restored" in msg["smooth_l1"]
    assert "decode modified its argument 'anchors' in place" in msg["decode"]


def _runner(name: str, fn, mode: str) -> Runner:
    return Runner(REGISTRY[name], fn, mode, types.SimpleNamespace(**{name: fn}))


def _violation(name: str, fn, ex: dict, mode: str = "eager", dtype: str = "float32") -> str:
    _, args = prepare(REGISTRY[name], ex, dtype)
    with pytest.raises(ContractViolation) as info:
        _runner(name, fn, mode).value(args)
    return str(info.value)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_runner_names_non_tensor_and_wrong_dtype_outputs(mode):
    x = {"x": np.array([0.5, -1.0])}
    msg = _violation("sigmoid", lambda x: np.asarray(1 / (1 + np.exp(-x.numpy()))), x, mode)
    assert "returned a NumPy array (ndarray)" in msg
    assert "returned float64 as its output for float16 inputs" in _violation(
        "sigmoid", lambda x: tf.sigmoid(tf.cast(x, tf.float64)), x, mode, "float16")
    _, args = prepare(REGISTRY["sigmoid"], x, "bfloat16")  # the same call in the right dtype conforms
    assert _runner("sigmoid", tf.sigmoid, mode).value(args).shape == (2,)


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_runner_restores_global_state_and_fails(mode):
    def sets_globals(x):
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        keras.backend.set_epsilon(1e-3)
        np.seterr(all="raise")
        np.set_printoptions(precision=3)
        return tf.sigmoid(x)

    err, eps, prec = np.geterr(), keras.backend.epsilon(), np.get_printoptions()["precision"]
    msg = _violation("sigmoid", sets_globals, {"x": np.array([0.5])}, mode)
    assert "the keras global dtype policy (mixed_precision.set_global_policy): 'float32' -> 'mixed_bfloat16'" in msg
    assert "keras.backend.epsilon()" in msg and "np.seterr" in msg and "np.set_printoptions" in msg
    assert keras.mixed_precision.global_policy().name == "float32" and keras.backend.epsilon() == eps
    assert np.geterr() == err and np.get_printoptions()["precision"] == prec


def test_run_functions_eagerly_is_restored():
    def eager_everywhere(x):
        tf.config.run_functions_eagerly(True)
        return tf.sigmoid(x)

    assert "tf.config.run_functions_eagerly: False -> True" in _violation("sigmoid", eager_everywhere,
                                                                         {"x": np.array([1.0])})
    assert not tf.config.functions_run_eagerly()


@pytest.mark.parametrize("mode", ["eager", "function"])
def test_runner_detects_in_place_changes_to_config_arrays_and_lists(mode):
    from conformance.targets import reference

    def decode(conv_output, anchors, stride, num_class):
        out = reference.decode(conv_output, anchors, stride, num_class)
        anchors[0, 0] += 1.0
        return out

    ex = {"conv_output": np.zeros((1, 2, 2, 3 * 6)), "anchors": np.ones((3, 2)), "stride": 8, "num_class": 1}
    assert "decode modified its argument 'anchors' in place" in _violation("decode", decode, ex, mode)

    def compute_loss(convs, labels, bboxes, anchors, strides, num_class, iou_loss_thresh):
        convs.pop()  # the caller's list of tensors
        return (tf.constant(0.0),) * 3

    args = {"convs": [tf.zeros((1, 2, 2, 18))], "labels": [tf.zeros((1, 2, 2, 3, 6))], "bboxes": [tf.zeros((1, 4, 4))],
            "anchors": np.ones((1, 3, 2)), "strides": np.array([8]), "num_class": 1, "iou_loss_thresh": 0.5}
    with pytest.raises(ContractViolation, match="compute_loss modified its argument 'convs' in place"):
        _runner("compute_loss", compute_loss, "eager").value(args)  # tf.function passes its own copy of a list


def test_nan_and_zero_dimensional_inputs_are_not_mistaken_for_changes():
    from conformance.targets import reference

    _, args = prepare(REGISTRY["sparse_softmax_cross_entropy_with_logits"],
                      {"labels": np.array(1), "logits": np.array([0.0, np.nan])}, "bfloat16")
    out = _runner("sparse_softmax_cross_entropy_with_logits", reference.sparse_softmax_cross_entropy_with_logits,
                  "eager").value(args)
    assert np.isnan(out)


# --- determinism ----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_same_profile_and_seed_give_the_same_verdicts(tmp_path):
    """The gate (all categories, a few names) three times serially and under -n 2: identical JSON verdicts.

    Four TensorFlow start-ups: about 3 min on a loaded 2-core machine, hence ``slow``.
    """
    impl = write(tmp_path, "some_names", """
        import tensorflow as tf
        from conformance.targets.reference import sigmoid
        from conformance.targets.documents_adapter import reg_l1_loss

        @tf.custom_gradient
        def smooth_l1(x):  # the wrong sign of the gradient where |x| > 1: fails, and Hypothesis shrinks it
            inner = tf.abs(x) <= 1
            return tf.where(inner, 0.5 * x * x, tf.abs(x) - 0.5), lambda g: g * tf.where(inner, x, -tf.sign(x))
    """)
    select = ["-k", "sigmoid and not cross and not focal or smooth_l1 or reg_l1_loss"]
    runs = []
    for extra in ([], [], [], ["-n", "2"]):
        r, doc = run_gate(impl, *select, *extra)
        assert r.returncode in (0, 1) and doc, (r.stdout + r.stderr)[-3000:]
        runs.append(doc["verdicts"])
    assert set(runs[0]) == {"sigmoid", "smooth_l1", "reg_l1_loss"}
    assert {c for v in runs[0].values() for c in v} == {"value", "gradient", "stability", "badinput", "regression"}
    assert runs[0]["smooth_l1"]["gradient"]["status"] == "failed"
    for i, v in enumerate(runs[1:], 1):
        assert v == runs[0], f"run {i} ({'-n 2' if i == 3 else 'serial'}) differs from run 0"


def test_badinput_does_not_count_a_contract_violation_as_raising():
    """A guard's ContractViolation (here: anchors mutated in place) is a failure, not a conforming raise."""
    from conformance.checks.badinput import run_badinput
    from conformance.reporting.results import CheckResult
    from conformance.targets import reference

    def decode(conv_output, anchors, stride, num_class):
        anchors[0, 0] += 1.0  # the caller's NumPy array, before anything can raise
        return reference.decode(conv_output, anchors, stride, num_class)

    contract = REGISTRY["decode"]
    assert contract.bad_inputs
    runner = Runner(contract, decode, "eager", types.SimpleNamespace(decode=decode))
    with pytest.raises(ContractViolation, match="decode modified its argument 'anchors' in place"):
        run_badinput(contract, runner, CheckResult("decode", "yolov3", "badinput", "float32", "eager"), "float32",
                     "toy")


def test_gate_doc_lists_every_status_in_order():
    from conformance.reporting.results import ORDER, STATUSES

    doc = (Path(__file__).resolve().parents[1] / "docs" / "gate.md").read_text()
    listed = [ln.split("|")[1].strip().strip("`") for ln in doc.splitlines()
              if ln.startswith("| `") and ln.rstrip(" |").endswith(("yes", "no"))]
    assert listed == sorted(STATUSES, key=lambda s: -ORDER[s])
