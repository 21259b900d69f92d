"""AI incident forensics kit.

Data flows one way: load -> validate -> aggregate -> test and detect -> attribute -> report.
"""

__version__ = "0.1.0"
