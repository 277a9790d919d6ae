import sys
from paraview.simple import *
r = XDMFReader(FileNames=[sys.argv[1]])
r.UpdatePipeline()
d = servermanager.Fetch(r)
print(type(d).__name__)
b = d.GetBlock(0) if hasattr(d, "GetBlock") else d
print(type(b).__name__, "cells", b.GetNumberOfCells(), "bounds", b.GetBounds(), "dims", b.GetDimensions() if hasattr(b,"GetDimensions") else None)
print("timesteps", r.TimestepValues)
