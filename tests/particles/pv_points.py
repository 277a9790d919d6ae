"""Run by ParaView's pvpython: loads a particle .xmf with ParaView's XDMF reader and prints one
JSON object: the data set's type, its number of points and cells, the point coordinates and the
point arrays' names and tuples.

Usage: pvpython pv_points.py FILE.xmf
"""
import json
import sys

from paraview import servermanager
from paraview.simple import XDMFReader


def main():
    reader = XDMFReader(FileNames=[sys.argv[1]])
    reader.UpdatePipeline()
    data = servermanager.Fetch(reader)
    pts = data.GetPoints()
    n = data.GetNumberOfPoints()
    arrays = {}
    pd = data.GetPointData()
    for a in range(pd.GetNumberOfArrays()):
        arr = pd.GetArray(a)
        arrays[arr.GetName()] = [list(arr.GetTuple(i)) for i in range(arr.GetNumberOfTuples())]
    print(json.dumps({"type": data.GetClassName(), "points": n, "cells": data.GetNumberOfCells(),
                      "xyz": [list(pts.GetPoint(i)) for i in range(n)] if pts else [],
                      "arrays": arrays}))


if __name__ == "__main__":
    main()
