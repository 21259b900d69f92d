"""``python -m analysis.scenarios``: write the sample data (see :func:`analysis.scenarios.write.main`)."""

from analysis.scenarios.write import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
