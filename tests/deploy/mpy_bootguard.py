# bootguard's slot logic under the real MicroPython interpreter, in a scratch flash directory:
# commit, counting starts, the revert, confirming, and finishing a swap a power cut interrupted.
# Run by test_bootguard.py: micropython mpy_bootguard.py FLASH_DIR; prints "ok <name>" lines.
import os
import sys

os.chdir(sys.argv[1])
import bootguard as bg  # noqa: E402  # pyright: ignore[reportMissingImports]


def make(slot, tag):
    os.mkdir(slot)
    with open(slot + "/tag", "w") as f:
        f.write(tag)


def tag(slot):
    with open(slot + "/tag") as f:
        return f.read()


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def check(name, cond):
    print(("ok " if cond else "FAIL ") + name)


# First deploy: nothing active yet.
make("fw_new", "v1")
bg.commit()
check("first_commit_activates", tag("fw") == "v1" and not exists("fw_new"))
check("first_commit_on_trial", bg.status()["trial_starts"] == 0)
check("count_start", bg._count_start() == 1 and bg.status()["trial_starts"] == 1)
bg.confirm()
check("confirm_ends_trial", bg._count_start() is None and not exists("boot_trial"))

# Second deploy: the confirmed version is kept as the previous one.
make("fw_new", "v2")
bg.commit()
check("commit_keeps_previous", tag("fw") == "v2" and tag("fw_prev") == "v1")

# v2 fails: three counted starts, the fourth reverts.
starts = [bg._count_start() for _ in range(3)]
check("three_starts_counted", starts == [1, 2, 3])
check("fourth_start_reverts", bg._count_start() is None)
check("revert_restores_previous", tag("fw") == "v1" and tag("fw_bad") == "v2")
check("revert_ends_trial", not exists("boot_trial") and not exists("fw_prev"))
check("revert_says_why", "failed 3 starts" in bg.status()["reverted"])

# A deploy while the running version is still on trial keeps the last good one as fallback.
make("fw_new", "v3")
bg.commit()
check("commit_clears_revert_note", bg.status()["reverted"] == "")
make("fw_new", "v4")
bg.commit()
check("unproven_version_not_kept", tag("fw") == "v4" and tag("fw_prev") == "v1")
check("unproven_version_rejected", tag("fw_bad") == "v3")

# A power cut between commit's two renames: boot finishes the swap.
bg.confirm()
make("fw_new", "v5")
bg._write(bg.TRIAL, "0")
bg._rmtree("fw_prev")
os.rename("fw", "fw_prev")
bg.activate()
check("activate_finishes_swap", tag("fw") == "v5" and tag("fw_prev") == "v4")
check("activate_puts_slot_on_path", sys.path[0] == "fw")

# A power cut in the middle of a revert: boot restores the previous version.
os.rename("fw", "fw_bad2")
bg.activate()
check("activate_finishes_revert", tag("fw") == "v4" and not exists("boot_trial"))

# No previous version: stop counting, leave the failure at the REPL.
bg._rmtree("fw_prev")
bg._write(bg.TRIAL, "3")
check("no_previous_gives_up", bg._count_start() is None and tag("fw") == "v4")
check("no_previous_says_why", "no previous version" in bg.status()["reverted"])
