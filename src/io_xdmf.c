/* XDMF series of field files, for ParaView and VisIt. */
#include <stdio.h>
#include <string.h>

#include "field_impl.h"
#include "h5_impl.h"
#include "tessera/file.h"
#include "tessera/io.h"

/* Writes s with the five XML special characters escaped. */
static void xml_text(FILE *out, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* Components per cell of each named field, as the newest file of the series holds them (a
 * dataset with one dimension more than the grid has its components last); a field that cannot be
 * looked up there is taken as `like` is when it has like's name, as a scalar otherwise. */
static void xdmf_ncomp(tsr_field like, const char *xmf, const char *file, int nfields,
                       const char *const *names, int *ncomp) {
    int nd = like->map->decomp->lay.ndim;
    tsr__h5_quiet();
    for (int k = 0; k < nfields; k++)
        ncomp[k] = strcmp(names[k], like->name) == 0 ? like->ncomp : 1;
    char path[2 * TSR_PATH_MAX + 8];
    const char *slash = strrchr(xmf, '/');
    if (file[0] == '/' || !slash)
        snprintf(path, sizeof path, "%s", file);
    else
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - xmf), xmf, file);
    hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : H5I_INVALID_HID;
    for (int k = 0; k < nfields && f >= 0; k++) {
        char ds[128];
        snprintf(ds, sizeof ds, "/fields/%s", names[k]);
        hid_t d = H5Lexists(f, "fields", H5P_DEFAULT) > 0 && H5Lexists(f, ds, H5P_DEFAULT) > 0
                      ? H5Dopen2(f, ds, H5P_DEFAULT)
                      : H5I_INVALID_HID;
        if (d < 0)
            continue;
        hid_t sp = H5Dget_space(d);
        hsize_t dims[H5S_MAX_RANK];
        int r = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
        ncomp[k] = r == nd + 1 ? (int)dims[nd] : 1;
        if (sp >= 0)
            H5Sclose(sp);
        H5Dclose(d);
    }
    if (f >= 0)
        H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
}

/* Every grid is written as a 3D image: 2D and 1D grids get one cell along the missing axes, so
 * that ParaView puts x along its x axis and y along y (a 2DCoRectMesh lands in the YZ plane, and
 * 1D topologies load with no cells). XDMF lists dimensions, origin and spacing slowest first:
 * z, y, x. */
static int xdmf_root(tsr_field like, const char *xmf, int n, const char *const *files,
                     const int64_t *steps, const double *times, int nfields,
                     const char *const *names, const tsr_io_meta *meta) {
    tsr_ctx ctx = like->ctx;
    const tsr__layout *lay = &like->map->decomp->lay;
    /* The series is rewritten at every output: this run's own file is replaced each time (the
     * run checked at start that an existing one was its own, or was allowed to go). */
    TSR_CHECK(ctx, nfields >= 1 && nfields <= 64, TSR_ERR_ARG,
              "%d fields in one XDMF series: 1 to 64 allowed", nfields);
    tsr_file_out fo;
    TSR_CALL(ctx, tsr_file_open(ctx, xmf, true, &fo));
    FILE *out = fo.fp;
    long long c[3];
    double o[3], h[3];
    for (int d = 0; d < 3; d++) {
        c[d] = d < lay->ndim ? (long long)lay->n[d] : 1;
        o[d] = meta ? meta->origin[d] : 0.0;
        h[d] = meta && meta->spacing[d] > 0 ? meta->spacing[d] : 1.0;
    }
    fprintf(out, "<?xml version=\"1.0\" ?>\n<!DOCTYPE Xdmf SYSTEM \"Xdmf.dtd\" []>\n"
                 "<Xdmf Version=\"3.0\">\n <Domain>\n");
    if (meta && meta->run_id && *meta->run_id) {
        fputs("  <Information Name=\"run_id\" Value=\"", out);
        xml_text(out, meta->run_id);
        fputs("\"/>\n", out);
    }
    int ncomp[64];
    if (n > 0)
        xdmf_ncomp(like, xmf, files[n - 1], nfields, names, ncomp);
    fprintf(out, "  <Grid Name=\"series\" GridType=\"Collection\" CollectionType=\"Temporal\">\n");
    for (int i = 0; i < n; i++) {
        fprintf(out, "   <Grid Name=\"step_%06lld\" GridType=\"Uniform\">\n", (long long)steps[i]);
        fprintf(out, "    <Time Value=\"%.17g\"/>\n", times[i]);
        fprintf(out,
                "    <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"%lld %lld %lld\"/>\n"
                "    <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n"
                "     <DataItem Dimensions=\"3\" Format=\"XML\">%.17g %.17g %.17g</DataItem>\n"
                "     <DataItem Dimensions=\"3\" Format=\"XML\">%.17g %.17g %.17g</DataItem>\n"
                "    </Geometry>\n",
                c[2] + 1, c[1] + 1, c[0] + 1, o[2], o[1], o[0], h[2], h[1], h[0]);
        for (int k = 0; k < nfields; k++) {
            /* Three components are a vector (ParaView shows magnitude, components and glyphs);
             * any other count a matrix: ParaView's array of exactly that many components (it
             * would pad a two-component "Vector" with a zero). */
            const char *type = ncomp[k] == 1 ? "Scalar" : ncomp[k] == 3 ? "Vector" : "Matrix";
            char last[24] = "";
            if (ncomp[k] > 1)
                snprintf(last, sizeof last, " %d", ncomp[k]);
            fputs("    <Attribute Name=\"", out);
            xml_text(out, names[k]);
            fprintf(out,
                    "\" AttributeType=\"%s\" Center=\"Cell\">\n"
                    "     <DataItem Dimensions=\"%lld %lld %lld%s\" NumberType=\"Float\" "
                    "Precision=\"8\" Format=\"HDF\">",
                    type, c[2], c[1], c[0], last);
            xml_text(out, files[i]);
            fputs(":/fields/", out);
            xml_text(out, names[k]);
            fputs("</DataItem>\n    </Attribute>\n", out);
        }
        fprintf(out, "   </Grid>\n");
    }
    fprintf(out, "  </Grid>\n </Domain>\n</Xdmf>\n");
    TSR_CALL(ctx, tsr_file_commit(ctx, &fo));
    return TSR_SUCCESS;
}

int tsr_io_write_xdmf(tsr_field like, const char *xmf_path, int n, const char *const *files,
                      const int64_t *steps, const double *times, int nfields,
                      const char *const *names, const tsr_io_meta *meta) {
    tsr_ctx ctx = like->ctx;
    int err = ctx->rank == 0
                  ? xdmf_root(like, xmf_path, n, files, steps, times, nfields, names, meta)
                  : TSR_SUCCESS;
    TSR_CALL(ctx, tsr_ctx_agree(ctx, err));
    return TSR_SUCCESS;
}
