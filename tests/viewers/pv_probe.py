"""Run by ParaView's pvpython: loads an .xmf with ParaView's own XDMF reader and prints, for every
timestep, the cells along each axis, the bounds and the checksum of the cell values (in VTK's
order, x fastest: the HDF5 dataset's natural order), one JSON object per line.

Usage: pvpython pv_probe.py FILE.xmf FIELD
"""
import json
import struct
import sys

from paraview import servermanager
from paraview.simple import XDMFReader

MASK = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def checksum(values):
    total = 0
    for i, v in enumerate(values):
        bits = struct.unpack("<Q", struct.pack("<d", v))[0]
        total = (total + splitmix64(splitmix64(i) ^ bits)) & MASK
    return "%016x" % total


def main():
    path, field = sys.argv[1], sys.argv[2]
    reader = XDMFReader(FileNames=[path])
    reader.UpdatePipelineInformation()
    times = list(reader.TimestepValues) or [0.0]
    for t in times:
        reader.UpdatePipeline(t)
        data = servermanager.Fetch(reader)
        dims = data.GetDimensions()
        arr = data.GetCellData().GetArray(field)
        values = [arr.GetValue(i) for i in range(arr.GetNumberOfTuples())] if arr else []
        print(json.dumps({"time": t, "type": data.GetClassName(),
                          "cells": [max(d - 1, 0) for d in dims],
                          "ncells": data.GetNumberOfCells(), "bounds": list(data.GetBounds()),
                          "values": len(values), "checksum": checksum(values)}), flush=True)


if __name__ == "__main__":
    main()
