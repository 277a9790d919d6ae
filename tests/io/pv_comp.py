"""Run by ParaView's pvpython: loads an .xmf with ParaView's XDMF reader and prints one JSON object
per cell array: its name, components, tuples, and every value (tuple by tuple, components
fastest: the HDF5 dataset's C order).

Usage: pvpython pv_comp.py FILE.xmf
"""
import json
import sys

from paraview import servermanager
from paraview.simple import XDMFReader


def main():
    reader = XDMFReader(FileNames=[sys.argv[1]])
    reader.UpdatePipeline()
    data = servermanager.Fetch(reader)
    cells = data.GetCellData()
    for k in range(cells.GetNumberOfArrays()):
        arr = cells.GetArray(k)
        nc, nt = arr.GetNumberOfComponents(), arr.GetNumberOfTuples()
        values = [arr.GetComponent(i, c) for i in range(nt) for c in range(nc)]
        print(json.dumps({"name": arr.GetName(), "ncomp": nc, "tuples": nt,
                          "cells": [max(d - 1, 0) for d in data.GetDimensions()],
                          "values": values}), flush=True)


if __name__ == "__main__":
    main()
