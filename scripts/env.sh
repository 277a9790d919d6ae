# Sourced by the scripts: what mpirun needs on these machines.
# As root, Open MPI refuses to start unless told it is fine; containers and CI run as root.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# More ranks than cores is normal here (2 cores, tests at up to 4 ranks).
export OMPI_MCA_rmaps_base_oversubscribe=1
