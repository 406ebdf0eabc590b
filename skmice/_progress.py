"""Progress reporting for long runs: a tqdm bar when tqdm is installed, else a counter."""

from __future__ import annotations

import sys

__all__ = ["Progress"]


class Progress:
    """A tqdm bar when tqdm is installed, else one line per step on stderr."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.done = total, desc, 0
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - depends on the environment
            self._bar = None
        else:
            self._bar = tqdm(total=total, desc=desc, file=sys.stderr, leave=True)

    def update(self, steps: int = 1):
        if steps == 0:
            return
        self.done += steps
        if self._bar is not None:
            self._bar.update(steps)
        else:
            print(f"[skmice] {self.desc}: {self.done}/{self.total}", file=sys.stderr)

    def close(self):
        if self._bar is not None:
            self._bar.close()
