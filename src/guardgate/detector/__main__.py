"""`python -m guardgate.detector FD`: the detector process, started by `DetectorProcess`."""

from guardgate.detector._worker import main

if __name__ == "__main__":
    main()
