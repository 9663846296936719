"""Speech as the domain knows it: what to say, and the text rules for saying a prospect's name.

The values every voice module passes around (:class:`Speech`, mono audio; :class:`Utterance`,
what to say) and the pure-Python rules the use cases apply before any engine runs:
:mod:`~chalicelib.domain.speech.names` (a name a voice can say),
:mod:`~chalicelib.domain.speech.pronounce` (IPA and respelling overrides) and
:mod:`~chalicelib.domain.speech.script` (the campaign script's ``{slots}``).

May import: the standard library and the rest of the domain. The numpy engine that aligns,
matches and splices (:mod:`chalicelib.voice`) imports these, never the other way round; numpy is
named below only for the type checker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:  # numpy is only in the voice function; the API imports these types too
    import numpy as np
    import numpy.typing as npt

    Samples: TypeAlias = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Speech:
    """Mono audio as float32 in [-1, 1] at ``sample_rate``."""

    samples: Samples
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class Utterance:
    """What an engine is asked to say.

    ``text`` is always the sanitized written form ("Siobhan"). At most one of ``ipa`` (IPA
    without slashes, stress marked with ˈ) and ``respelling`` ("shi-VAWN": hyphenated syllables,
    the stressed one in capitals) says how, when the written form alone would be mispronounced.
    """

    text: str
    ipa: str | None = None
    respelling: str | None = None
