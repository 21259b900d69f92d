"""Input checks shared by every statistics module: one check per concept.

``alpha`` is checked by :func:`analysis._common.check_alpha`; this module holds the checks that
only statistics need, so that the same parameter is refused with the same message everywhere.
"""

from __future__ import annotations

__all__ = ["ALTERNATIVES", "check_alternative"]

#: The sidedness of a test, with scipy's spelling (``alternative`` means this everywhere).
ALTERNATIVES = ("two-sided", "less", "greater")


def check_alternative(alternative: str) -> str:
    """``alternative`` when it is one of :data:`ALTERNATIVES`, else a ``ValueError`` naming it.

    Parameters
    ----------
    alternative
        ``"two-sided"``, ``"less"`` or ``"greater"`` (scipy's meaning).

    Returns
    -------
    str
        The value, unchanged.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"`alternative` must be one of {ALTERNATIVES}, got {alternative!r}")
    return alternative
