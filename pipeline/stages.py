"""The stages of the pipeline: one experiment per question, in report order.

Each stage names its experiment module with an ordinary import, so that reading
this file (or a static tool) shows every module the report depends on.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from experiments import q1_attention, q2_cnn, q3_asr
from pipeline.findings import q1 as q1_findings, q2 as q2_findings, q3 as q3_findings


@dataclass(frozen=True)
class Stage:
    """One experiment: its module, make target, section title and template."""

    name: str  # module name under experiments/, and the results folder
    target: str  # make target (`make q2`)
    title: str  # section title in the report
    module: ModuleType
    findings: Callable[[Any], Any]  # results -> the claims the section makes (pipeline/findings/)
    times_itself: bool = False  # measures wall-clock time: under JOBS=N it runs alone, after the others
    # the --set overrides that choose its real data set (DATA=real), None when it reads no data set,
    # and whether that data set is on this machine (given the experiment's settings)
    real_data: dict[str, Any] | None = None
    real_data_found: Callable[[Any], bool] | None = None

    @property
    def template(self) -> str:
        return f"sections/{self.name}.qmd.j2"

    @property
    def command(self) -> str:
        return f"make {self.target}"


def octmnist_found(settings: Any) -> bool:
    """Whether the real octmnist.npz is where Q2 looks for it."""
    from hw2.errors import DataError
    from hw2.q2.octmnist import find_octmnist

    try:
        return find_octmnist(settings.data_path) is not None
    except DataError:
        return False


def ljspeech_found(settings: Any) -> bool:
    """Whether LJ Speech 1.1 is where Q3 looks for it."""
    from hw2.errors import DataError
    from hw2.q3.ljspeech import find_ljspeech

    try:
        return find_ljspeech(settings.ljspeech_dir) is not None
    except DataError:
        return False


STAGES: tuple[Stage, ...] = (
    Stage("q1_attention", "q1", "Self-attention and the McLaurin feature map", q1_attention,
          q1_findings.findings, times_itself=True),
    Stage("q2_cnn", "q2", "Image classification with a CNN", q2_cnn, q2_findings.findings,
          real_data={"data": "real"}, real_data_found=octmnist_found),
    Stage("q3_asr", "q3", "Speech recognition with an encoder and two decoders", q3_asr, q3_findings.findings,
          real_data={"data": "ljspeech"}, real_data_found=ljspeech_found),
)


def stage(name: str) -> Stage:
    """Return the stage called ``name`` (an experiment module name or a make target like q2)."""
    for s in STAGES:
        if name in (s.name, s.target):
            return s
    from hw2.errors import Hw2Error

    raise Hw2Error(f"unknown experiment {name!r}: choose one of "
                   + ", ".join(f"{s.target} ({s.name})" for s in STAGES))


def names() -> list[str]:
    """Return the experiment names in report order."""
    return [s.name for s in STAGES]
