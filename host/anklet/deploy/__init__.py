"""Deploy firmware/ to a board: compiled for it, copied beside the running version, swapped in
on trial, the board reset and the new version checked.

    result = deploy(Target.serial("/dev/ttyUSB0"), progress=lambda stage, done, total: ...)
    print(result.revision)          # what GET_INFO's fw_git now says, e.g. "1a2b3c4d"
    # the board: fw/ (new, on trial), fw_prev/ (the previous version), config.json untouched

One job per module: `build.py` (mpy-cross, the revision stamp), `repl.py` (bringing the board to
its REPL), `board_fs.py` (its file system, through mpremote's transport), `install.py` (what goes
where, keep.py's restore, the reset), `startup.py` (watching the new version start).
"""

from .board_fs import BoardSession
from .build import (
    FIRMWARE_DIR,
    BoardInfo,
    Bundle,
    compile_firmware,
    default_config,
    git_revision,
    mpy_cross_args,
    render_version,
)
from .errors import CompileError, DeployError, IncompatibleBoard, NoRepl, NotStarted
from .install import DeployResult, Target, deploy
from .repl import exit_to_repl_frame, open_port, reach_repl
from .startup import BootReport, wait_for_info

__all__ = [
    "FIRMWARE_DIR",
    "BoardInfo",
    "BoardSession",
    "BootReport",
    "Bundle",
    "CompileError",
    "DeployError",
    "DeployResult",
    "IncompatibleBoard",
    "NoRepl",
    "NotStarted",
    "Target",
    "compile_firmware",
    "default_config",
    "deploy",
    "exit_to_repl_frame",
    "git_revision",
    "mpy_cross_args",
    "open_port",
    "reach_repl",
    "render_version",
    "wait_for_info",
]
