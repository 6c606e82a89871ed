"""Detection in a process of its own (`GUARDGATE_DETECTION=process`).

The server's request path hands each request's signals to a detector process through a queue and
looks up the latest verdict on the sender; the detector runs the same `Observer` and `Engine` as
inline detection and sends back the verdicts that changed. Python runs one thread at a time, so
this is what lets detection use a second core instead of the server's own.
"""

from guardgate.detector._detection import ProcessDetection
from guardgate.detector._process import DetectorError, DetectorProcess

__all__ = ["DetectorError", "DetectorProcess", "ProcessDetection"]
