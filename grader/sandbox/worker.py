"""The student side: load the submission's code, then answer the grader's requests.

Runs confined (grader.sandbox.confine). It imports nothing of the grader's but this package's
transport, and it holds no reference code: the grader passes values and callbacks.
"""
from __future__ import annotations

import importlib.util
import io
import sys

from .endpoint import Endpoint

OUTPUT_LIMIT = 100_000          # characters of text output kept per cell


class ParamHolder:
    """A stand-in layer with only `params`: lets a check exercise get/set_weights on arrays that
    live in the student process, so in-place writes are seen."""

    def __init__(self, params):
        self.params = params
        self.training = True


class Worker(Endpoint):
    def __init__(self, sock, workdir):
        super().__init__(sock, "w", guarded=False, namespace={"__name__": "__main__"})
        self.workdir = workdir
        self.shell = None
        if workdir not in sys.path:
            sys.path.insert(0, workdir)

    # --- loading the submission -------------------------------------------------------------
    def op_import(self, message):
        """Import a submitted module (layers.py) as itself, so the notebook's imports find it."""
        name = message["name"]
        spec = importlib.util.spec_from_file_location(name, f"{self.workdir}/{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)     # never leave a half-run module to import from
            raise
        return sorted(k for k in vars(module) if not k.startswith("_"))

    def _shell(self):
        if self.shell is None:
            from IPython.core.interactiveshell import InteractiveShell
            from traitlets.config import Config

            class Shell(InteractiveShell):
                def enable_gui(self, gui=None):
                    """No event loop here: figures are captured (inline), not shown."""

            config = Config()
            config.HistoryManager.enabled = False
            self.shell = Shell.instance(config=config, user_ns=self.namespace)
            self.shell.run_line_magic("matplotlib", "inline")
        return self.shell

    def op_run_cell(self, message):
        """Execute one notebook cell like a kernel would; returns nbformat outputs and error."""
        from IPython.utils.capture import capture_output
        shell = self._shell()
        with capture_output() as captured:
            result = shell.run_cell(message["source"], store_history=False, silent=False)
        outputs = []
        for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                outputs.append({"output_type": "stream", "name": name,
                                "text": text[:OUTPUT_LIMIT]})
        for display in captured.outputs:
            data = {k: v for k, v in display.data.items() if k in ("text/plain", "image/png")}
            if data:
                outputs.append({"output_type": "display_data", "data": data, "metadata": {}})
        error = result.error_in_exec or result.error_before_exec
        if error is not None:
            outputs.append({"output_type": "error", "ename": type(error).__name__,
                            "evalue": str(error)[:2000], "traceback": []})
        return {"outputs": outputs, "error": None if error is None else type(error).__name__}

    def op_exec(self, message):
        """Execute code without a shell (definitions only); raises what it raises."""
        code = compile(message["source"], message.get("filename", "<cell>"), "exec")
        exec(code, self.namespace)

    # --- answering checks -------------------------------------------------------------------
    def op_names(self, message):
        return sorted(k for k in self.namespace if not k.startswith("_"))

    def op_get(self, message):
        return self.namespace[message["name"]]

    def op_set_params(self, message):
        for param, value in zip(message["target"].params, message["values"]):
            param[...] = value

    def op_param_ids(self, message):
        return [id(param) for param in message["target"].params]

    def op_holders(self, message):
        return [ParamHolder([a.copy() for a in arrays]) for arrays in message["arrays"]]


def serve(sock, workdir):
    sys.stdout = io.StringIO()      # stray prints must not reach the grader's terminal
    Worker(sock, workdir).serve_forever()
