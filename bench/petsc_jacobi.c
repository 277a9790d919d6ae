/* PETSc's way of the same problem, for comparison: a DMDA Jacobi of tessera-heat's 2D update
 * (5-point, hotspot, Dirichlet 0), with DMGlobalToLocal and DMDAVecGetArray every step, as the
 * PETSc tutorials do. Built only when PETSc is installed (the bench build); tessera never links
 * it.
 *
 *   mpirun -np 2 build/bench/petsc_jacobi --grid 4096x4096 --steps 100
 *
 * Prints "MLUP/s <x>" and "checksum <hex>" (DESIGN.md convention) so the benchmark can check it
 * computed exactly what tessera-heat does. */
#include <petscdmda.h>
#include <stdint.h>
#include <string.h>

#include "plain.h"

int main(int argc, char **argv) {
    PetscInt nx = 4096, ny = 4096, steps = 100;
    char grid[64] = "";
    PetscBool has_grid = PETSC_FALSE;
    PetscCall(PetscInitialize(&argc, &argv, NULL, "DMDA Jacobi benchmark"));
    PetscCall(PetscOptionsGetString(NULL, NULL, "--grid", grid, sizeof grid, &has_grid));
    PetscCall(PetscOptionsGetInt(NULL, NULL, "--steps", &steps, NULL));
    if (has_grid) {
        long long a = 0, b = 0;
        PetscCheck(sscanf(grid, "%lldx%lld", &a, &b) == 2 && a > 0 && b > 0, PETSC_COMM_WORLD,
                   PETSC_ERR_ARG_WRONG, "--grid NXxNY, got '%s'", grid);
        nx = (PetscInt)a;
        ny = (PetscInt)b;
    }
    DM da;
    PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_GHOSTED, DM_BOUNDARY_GHOSTED,
                           DMDA_STENCIL_STAR, nx, ny, PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL,
                           &da));
    PetscCall(DMSetUp(da));
    Vec u, v, ul;
    PetscCall(DMCreateGlobalVector(da, &u));
    PetscCall(VecDuplicate(u, &v));
    PetscCall(DMCreateLocalVector(da, &ul));
    PetscCall(VecSet(ul, 0.0)); /* ghosts outside the grid stay 0: Dirichlet */
    PetscInt xs, ys, xm, ym;
    PetscCall(DMDAGetCorners(da, &xs, &ys, NULL, &xm, &ym, NULL));
    PetscScalar **a;
    PetscCall(DMDAVecGetArray(da, u, &a));
    for (PetscInt y = ys; y < ys + ym; y++)
        for (PetscInt x = xs; x < xs + xm; x++) {
            double tx = ((double)x + 0.5) / (double)nx - 0.5;
            double ty = ((double)y + 0.5) / (double)ny - 0.5;
            double r2 = 0.0;
            r2 += tx * tx;
            r2 += ty * ty;
            a[y][x] = r2 < 0.04 ? 1.0 : 0.0;
        }
    PetscCall(DMDAVecRestoreArray(da, u, &a));
    const double alpha = 0.4 / 2, k = 4.0;
    PetscCall(MPI_Barrier(PETSC_COMM_WORLD));
    double t0 = MPI_Wtime();
    for (PetscInt s = 0; s < steps; s++) {
        PetscCall(DMGlobalToLocalBegin(da, u, INSERT_VALUES, ul));
        PetscCall(DMGlobalToLocalEnd(da, u, INSERT_VALUES, ul));
        const PetscScalar **c;
        PetscScalar **o;
        PetscCall(DMDAVecGetArrayRead(da, ul, &c));
        PetscCall(DMDAVecGetArray(da, v, &o));
        for (PetscInt y = ys; y < ys + ym; y++)
            for (PetscInt x = xs; x < xs + xm; x++) {
                double sum = (c[y][x - 1] + c[y][x + 1]) + (c[y - 1][x] + c[y + 1][x]);
                o[y][x] = c[y][x] + alpha * (sum - k * c[y][x]);
            }
        PetscCall(DMDAVecRestoreArrayRead(da, ul, &c));
        PetscCall(DMDAVecRestoreArray(da, v, &o));
        Vec t = u;
        u = v;
        v = t;
    }
    PetscCall(MPI_Barrier(PETSC_COMM_WORLD));
    double dt = MPI_Wtime() - t0;
    uint64_t sum = 0, total = 0;
    PetscCall(DMDAVecGetArray(da, u, &a));
    for (PetscInt y = ys; y < ys + ym; y++)
        for (PetscInt x = xs; x < xs + xm; x++) {
            uint64_t bits;
            memcpy(&bits, &a[y][x], sizeof bits);
            sum += splitmix64(splitmix64((uint64_t)x + (uint64_t)nx * (uint64_t)y) ^ bits);
        }
    PetscCall(DMDAVecRestoreArray(da, u, &a));
    PetscCall(MPI_Reduce(&sum, &total, 1, MPI_UINT64_T, MPI_SUM, 0, PETSC_COMM_WORLD));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "grid %dx%d, %d steps, %.3f s\n", (int)nx, (int)ny,
                          (int)steps, dt));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "MLUP/s %.1f\n",
                          dt > 0 ? (double)nx * (double)ny * (double)steps / dt / 1e6 : 0.0));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "checksum %016llx\n", (unsigned long long)total));
    PetscCall(VecDestroy(&u));
    PetscCall(VecDestroy(&v));
    PetscCall(VecDestroy(&ul));
    PetscCall(DMDestroy(&da));
    PetscCall(PetscFinalize());
    return 0;
}
